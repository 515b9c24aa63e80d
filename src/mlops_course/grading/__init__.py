"""Grading with nbgrader: release, collect, the sandboxed batch, the gradebook, feedback, export, reports.

The batch (`autograde`) plans its jobs (`plan`), grades each submission in a forked process
(`worker`) in a sandbox (`sandbox`, under the `limits`) with nbgrader's executor guarded against
hostile notebooks (`execute_guard`, and `tamper_check`, which runs inside the student's kernel),
and merges the grades into the course's gradebook (`merge`); `nbgrader_api` opens nbgrader's API
on the course; `gradebook` checks and creates gradebooks; `release`, `collect`, `feedback`,
`export`, `cohort`, `roster`, `rubrics` and `formgrade` are the instructor's steps around it;
`nbgrader_runs` grades with plain nbgrader for tests and benchmarks.

May import: `mlops_course.learner`, `mlops_course.quiz`, `mlops_course.course`, the lab helpers and
`mlops_course.errors`. `tamper_check` imports nothing of the course: it runs in student code.
"""
