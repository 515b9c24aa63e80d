"""Tests of mlops_course.book: the build, its launch links, the pages in a browser."""
