"""Autograding with nbgrader: place submissions, grade them, read the scores back.

nbgrader does the grading; this module only puts files where nbgrader expects
them and reads its gradebook, so tests, benchmarks and the instructor tools
share one way of doing both.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from nbformat import NotebookNode
from nbgrader.preprocessors import OverwriteCells

from mlops_course.course import notebooks
from mlops_course.course.config import load_config
from mlops_course.grading.nbgrader_api import open_api, require_success
from mlops_course.errors import GradingError, ReleaseError


@dataclass(frozen=True)
class CellScore:
    """The score of one graded cell of one student's submission."""

    grade_id: str
    score: float
    max_score: float
    needs_manual_grade: bool
    autograded: bool


def generate_assignment(course_root: Path, lab: str) -> None:
    """Record the lab in the gradebook and release it (nbgrader generate_assignment)."""
    result = open_api(course_root).generate_assignment(lab, force=True, create=True)
    require_success(result, f"nbgrader generate_assignment for '{lab}'", ReleaseError)


def submission_dir(course_root: Path, lab: str, student: str) -> Path:
    coursedir = load_config(course_root).CourseDirectory
    return Path(course_root) / coursedir.submitted_directory / student / lab


def submit(course_root: Path, lab: str, student: str, notebooks_by_name: dict[str, NotebookNode], when: dt.datetime | None = None) -> Path:
    """Write a student's notebooks where nbgrader's collect would have put them."""
    folder = submission_dir(course_root, lab, student)
    folder.mkdir(parents=True, exist_ok=True)
    for name, nb in notebooks_by_name.items():
        notebooks.write(nb, folder / f"{name}.ipynb")
    stamp = (when or dt.datetime.now(dt.timezone.utc)).strftime("%Y-%m-%d %H:%M:%S.%f %Z")
    (folder / "timestamp.txt").write_text(stamp.strip() + "\n")
    return folder


def autograde_one(course_root: Path, lab: str, student: str) -> str:
    """Grade one submission in this process with nbgrader's API; returns nbgrader's log."""
    result = open_api(course_root).autograde(lab, student, force=True, create=True)
    return require_success(result, f"nbgrader autograde of '{lab}' for '{student}'", GradingError)


def cell_scores(course_root: Path, lab: str, student: str, db_url: str | None = None) -> dict[str, CellScore]:
    """Every graded cell's score for one student, read from the gradebook (or the one at `db_url`)."""
    from nbgrader.api import Gradebook

    cd = load_config(course_root, db_url).CourseDirectory
    with Gradebook(cd.db_url, cd.course_id) as gb:
        submission = gb.find_submission(lab, student)
        scores = {}
        for nb in submission.notebooks:
            for grade in nb.grades:
                scores[grade.name] = CellScore(
                    grade_id=grade.name,
                    score=float(grade.score),
                    max_score=float(grade.max_score),
                    needs_manual_grade=bool(grade.needs_manual_grade),
                    autograded=grade.cell.cell_type == "code" and not _is_solution(grade.cell),
                )
        return scores


def _is_solution(cell) -> bool:
    # A grade cell that is also a solution cell is answered by the student and graded by hand.
    return any(sc.name == cell.name for sc in cell.notebook.solution_cells)


class OverwriteCellsQuietly(OverwriteCells):
    """nbgrader's OverwriteCells, which warns only about read-only cells a student changed.

    nbgrader keeps a test cell's hidden tests in the gradebook and releases the cell
    without them, so every such cell fails its checksum check when it is graded: the log
    said "Attribute 'checksum' for cell ... has changed!" for each of them, on an untouched
    lab too, and real tampering drowned in it. A cell exactly as released is restored (hidden
    tests back in) as before, without the warning; any other change still warns.
    """

    def preprocess_cell(self, cell, resources, cell_index):
        self._as_released = self._released_unchanged(cell)
        return super().preprocess_cell(cell, resources, cell_index)

    def report_change(self, name: str, attr: str, old, new) -> None:
        if attr == "checksum" and self._as_released:
            return
        super().report_change(name, attr, old, new)

    def _released_unchanged(self, cell) -> bool:
        """Is this cell's source the released form (hidden tests removed) of the lab's cell?"""
        import copy

        from nbgrader.api import MissingEntry
        from nbgrader.preprocessors import ClearHiddenTests

        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if not grade_id:
            return False
        try:
            source_cell = self.gradebook.find_source_cell(grade_id, self.notebook_id, self.assignment_id)
        except MissingEntry:
            return False
        released = copy.deepcopy(cell)
        released.source = source_cell.source
        try:
            ClearHiddenTests(parent=self)._remove_hidden_test_region(released)
        except RuntimeError:  # unbalanced markers in the lab itself: let nbgrader report as usual
            return False
        return released.source == cell.source
