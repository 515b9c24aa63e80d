"""Tests of mlops_course.learner: the self-check, validate, progress, and their one verdict with the grader."""
