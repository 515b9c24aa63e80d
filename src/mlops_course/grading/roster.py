"""The class roster: students' ids, names and e-mails, imported into the gradebook from a CSV file.

nbgrader's export has name and e-mail columns, which stay empty unless the
gradebook knows the students. A roster from the learning platform fills them,
and lets the cohort report list students who never submitted. The file is read
with or without a byte-order mark (spreadsheet programs write one).
"""

from __future__ import annotations

import csv
from pathlib import Path

from mlops_course.course.config import load_config
from mlops_course.errors import CourseError
from mlops_course.grading.gradebook import require_gradebook

ID_COLUMNS = ("student_id", "id")
NAME_COLUMNS = ("first_name", "last_name", "email")


def read_roster(path: Path) -> list[dict[str, str]]:
    """The roster's rows as {id, first_name, last_name, email}; raises CourseError naming what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise CourseError(f"roster file {path} not found (a CSV file with a student_id column)")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = [c.strip() for c in reader.fieldnames or []]
        id_column = next((c for c in ID_COLUMNS if c in columns), None)
        if id_column is None:
            raise CourseError(f"{path} has no student_id column (columns: {', '.join(columns) or 'none'}); "
                              f"expected student_id, and optionally {', '.join(NAME_COLUMNS)}")
        rows = []
        for number, row in enumerate(reader, start=2):
            row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
            if not row.get(id_column):
                raise CourseError(f"{path}, line {number}: no student id")
            rows.append({"id": row[id_column], **{c: row.get(c, "") for c in NAME_COLUMNS}})
    return rows


def import_roster(root: Path, path: Path, db_url: str | None = None) -> tuple[int, Path | None]:
    """Add or update every student of the roster in the gradebook; returns (students, gradebook it created or None).

    A course that has graded nothing yet gets a new gradebook (importing the roster is how a
    term often starts); otherwise a missing gradebook is an error, as for every command.
    """
    from nbgrader.api import Gradebook

    rows = read_roster(path)
    cd = load_config(root, db_url).CourseDirectory
    graded_before = any((Path(root) / cd.autograded_directory).glob("*/*"))
    created = require_gradebook(str(cd.db_url), create=not graded_before)
    with Gradebook(cd.db_url, cd.course_id) as gb:
        for row in rows:
            gb.update_or_create_student(row["id"], **{c: row[c] or None for c in NAME_COLUMNS})
    return len(rows), created
