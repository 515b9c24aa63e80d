"""Tests of mlops_course.classroom: the class server, its limits, grading on submit, the Kubernetes values."""
