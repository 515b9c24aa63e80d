"""Export grades: nbgrader's CSV, and one row per student for a learning platform's gradebook import.

nbgrader's CSV (its `export` command's format) has one row per student and
lab. Learning platforms import a wide table instead: one row per student, one
column per lab. Labs a student did not hand in count as zero there, because an
empty cell usually means "not graded yet" to the platform.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .course import load_config
from .gradebook import require_gradebook


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
    lms_table(pd.read_csv(nbgrader_csv, dtype={"student_id": str})).to_csv(lms_csv, index=False)
    return nbgrader_csv, lms_csv


def lms_table(grades: pd.DataFrame) -> pd.DataFrame:
    """nbgrader's long table as one row per student, one `<lab> (out of N)` column per lab, and a total."""
    if grades.empty:
        return pd.DataFrame(columns=["student_id", "last_name", "first_name", "email", "total"])
    out_of = grades.groupby("assignment")["max_score"].max()
    wide = grades.pivot_table(index="student_id", columns="assignment", values="score", aggfunc="sum", fill_value=0.0)
    wide.columns = [f"{lab} (out of {out_of[lab]:g})" for lab in wide.columns]
    people = grades.groupby("student_id")[["last_name", "first_name", "email"]].first()
    table = people.join(wide).reset_index()
    table["total"] = wide.sum(axis=1).to_numpy()
    return table
