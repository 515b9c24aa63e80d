"""Tests of mlops_course.course: configuration, notebooks, kernel, schedule."""
