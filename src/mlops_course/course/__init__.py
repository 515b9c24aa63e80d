"""The course itself: its folders, configuration, notebooks, questions, kernel and schedule.

What every tool agrees on: where labs and solutions live (`layout`), nbgrader's configuration for the
course (`config`), how a cell is scored (`scoring`), reading and writing notebooks (`notebooks`), the
graded questions of a lab (`questions`), the course's Jupyter kernel (`kernel`) and the study
group's weekly plan (`schedule`).

May import: the lab helpers at the package's top level and `mlops_course.errors`; nothing of grading,
the learner's tools, quizzes, the class server, the book or the proofs (checked by import-linter,
`[tool.importlinter]` in pyproject.toml).
"""
