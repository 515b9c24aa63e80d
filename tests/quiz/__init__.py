"""Tests of mlops_course.quiz."""
