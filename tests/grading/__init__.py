"""Tests of mlops_course.grading: release, collect, the sandboxed batch, the gradebook, feedback, export."""
