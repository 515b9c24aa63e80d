"""The learner's own tools: the self-check in a notebook, the pre-submit validate, progress, scratch copies.

`selfcheck.check()` runs a lab's visible tests in the learner's kernel; `validate` is the check
before handing in; `progress` is the study group's table of questions done; `scratch` runs a lab in
a throwaway copy. All four give the verdict the grader gives (one verdict per question).
Notebooks import the self-check as `mlops_course.selfcheck`, a name kept for them.

May import: `mlops_course.course`, the lab helpers and `mlops_course.errors`.
"""
