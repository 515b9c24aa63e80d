"""Export grades: nbgrader's CSV, and one row per student for a learning platform's gradebook import.

nbgrader's CSV (its `export` command's format) has one row per student and
lab. Learning platforms import a wide table instead: one row per student, one
column per lab. Labs a student did not hand in count as zero there, because an
empty cell usually means "not graded yet" to the platform. Answers in words that
nobody has graded yet count as zero in both files, so they are named: a
`<lab> pending manual (points)` column, and `provisional()` for the command to warn.
The wide file starts with a byte-order mark, which spreadsheet programs need to
read UTF-8 names (accents) correctly.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mlops_course.course.config import load_config
from mlops_course.grading.gradebook import require_gradebook


def export_grades(root: Path, out_dir: Path, db_url: str | None = None) -> tuple[Path, Path]:
    """Write grades.csv (nbgrader's format) and grades-lms.csv into `out_dir`; returns both paths."""
    from nbgrader.api import Gradebook
    from nbgrader.plugins import CsvExportPlugin

    cd = load_config(root, db_url).CourseDirectory
    require_gradebook(str(cd.db_url))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    nbgrader_csv, lms_csv = out_dir / "grades.csv", out_dir / "grades-lms.csv"
    with Gradebook(cd.db_url, cd.course_id) as gb:
        CsvExportPlugin(to=str(nbgrader_csv)).export(gb)
    table = lms_table(pd.read_csv(nbgrader_csv, dtype={"student_id": str}), pending_manual(root, db_url))
    table.to_csv(lms_csv, index=False, encoding="utf-8-sig")
    return nbgrader_csv, lms_csv


def pending_manual(root: Path, db_url: str | None = None) -> pd.DataFrame:
    """Points per submission (lab, student, pending) that wait for manual grading; only submissions with some."""
    from nbgrader.api import Gradebook

    cd = load_config(root, db_url).CourseDirectory
    require_gradebook(str(cd.db_url))
    rows = []
    with Gradebook(cd.db_url, cd.course_id) as gb:
        for assignment in gb.assignments:
            for sub in assignment.submissions:
                points = sum(float(g.max_score or 0) for nb in sub.notebooks for g in nb.grades if g.needs_manual_grade)
                if points:
                    rows.append({"lab": assignment.name, "student": sub.student.id, "pending": points})
    return pd.DataFrame(rows, columns=["lab", "student", "pending"])


def provisional(pending: pd.DataFrame) -> list[str]:
    """One line per lab whose scores are provisional: who has answers nobody has graded by hand yet."""
    lines = []
    for lab, frame in pending.groupby("lab", sort=True):
        who = ", ".join(f"{row.student} ({row.pending:g} points)" for row in frame.sort_values("student").itertuples())
        lines.append(f"{lab}: scores are provisional, answers in words are not graded yet for {who}; "
                     f"grade them by hand (mlops-course formgrade), then run this again")
    return lines


def lms_table(grades: pd.DataFrame, pending: pd.DataFrame | None = None) -> pd.DataFrame:
    """nbgrader's long table as one row per student, one `<lab> (out of N)` column per lab, and a total.

    A lab with answers still waiting for manual grading gets a `<lab> pending manual (points)`
    column beside its score: those points are not in the score yet.
    """
    if grades.empty:
        return pd.DataFrame(columns=["student_id", "last_name", "first_name", "email", "total"])
    out_of = grades.groupby("assignment")["max_score"].max()
    wide = grades.pivot_table(index="student_id", columns="assignment", values="score", aggfunc="sum", fill_value=0.0)
    people = grades.groupby("student_id")[["last_name", "first_name", "email"]].first()
    table = people.copy()
    for lab in wide.columns:
        table[f"{lab} (out of {out_of[lab]:g})"] = wide[lab]
        waiting = pending[pending["lab"] == lab] if pending is not None else pd.DataFrame()
        if len(waiting):
            table[f"{lab} pending manual (points)"] = waiting.set_index("student")["pending"].reindex(table.index).fillna(0.0)
    table = table.reset_index()
    table["total"] = wide.sum(axis=1).to_numpy()
    return table
