"""nbgrader configuration of the course.

The settings live in mlops_course/course/config.py so that the `nbgrader` command run
here, the formgrader and the `mlops-course` tool all see the same folders:
solutions/ (source), labs/ (release), autograder/ (submissions, grades,
feedback) and the gradebook (SQLite in autograder/ unless
$MLOPS_COURSE_DB_URL names another database, e.g. PostgreSQL).
"""

from pathlib import Path

from mlops_course.course.config import configure

configure(get_config(), root=Path(__file__).resolve().parent)  # noqa: F821 (nbgrader provides get_config)
