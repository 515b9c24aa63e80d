"""Tests of mlops_course.proof: the shared prefix, the mutation report, the canary."""
