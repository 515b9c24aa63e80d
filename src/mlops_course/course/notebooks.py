"""Reading and rewriting lab notebooks: nbgrader cells, the parameters cell, answers.

Tests, benchmarks and the grading tools all need the same few operations on a
notebook; they live here so that none of them re-implements nbformat walking.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import nbformat
from nbformat import NotebookNode

from mlops_course.errors import UnknownCellError

# Every lab has this boolean in its `parameters` cell; True runs it on a small
# sample of the data. CI and the benchmarks run labs with it set.
QUICK_PARAMETER = "QUICK"
CI_PARAMETERS: dict[str, Any] = {QUICK_PARAMETER: True}
# nbgrader's markers: the code between a pair is stripped when a lab is released. The course
# writes them (the quizzes' notebooks), checks where they stand (release) and hides them (feedback).
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")
HIDDEN_TEST_MARKERS = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")


@dataclass(frozen=True)
class GradedCell:
    """One nbgrader cell: an answer (solution), a test (grade, locked) or a manual answer."""

    index: int
    grade_id: str
    cell_type: str
    points: float
    solution: bool
    grade: bool
    locked: bool
    task: bool

    @property
    def is_autograded_test(self) -> bool:
        return self.grade and not self.solution and self.cell_type == "code"

    @property
    def is_manual(self) -> bool:
        return (self.grade and self.solution) or self.task


def read(path: Path) -> NotebookNode:
    return nbformat.read(str(path), as_version=4)


def write(nb: NotebookNode, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))


def nbgrader_meta(cell: NotebookNode) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def graded_cells(nb: NotebookNode) -> list[GradedCell]:
    """All cells nbgrader tracks, in notebook order."""
    cells = []
    for index, cell in enumerate(nb.cells):
        meta = nbgrader_meta(cell)
        if not meta.get("grade_id"):
            continue
        cells.append(
            GradedCell(
                index=index,
                grade_id=meta["grade_id"],
                cell_type=cell.cell_type,
                points=float(meta.get("points", 0) or 0),
                solution=bool(meta.get("solution")),
                grade=bool(meta.get("grade")),
                locked=bool(meta.get("locked")),
                task=bool(meta.get("task")),
            )
        )
    return cells


def autograded_tests(nb: NotebookNode) -> list[GradedCell]:
    return [c for c in graded_cells(nb) if c.is_autograded_test]


def find_cell(nb: NotebookNode, grade_id: str) -> NotebookNode:
    for cell in nb.cells:
        if nbgrader_meta(cell).get("grade_id") == grade_id:
            return cell
    known = ", ".join(c.grade_id for c in graded_cells(nb))
    raise UnknownCellError(f"no cell with grade_id '{grade_id}'. Cells: {known}")


def parameters_cell(nb: NotebookNode) -> NotebookNode | None:
    for cell in nb.cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            return cell
    return None


def iter_code(nb: NotebookNode) -> Iterator[str]:
    for cell in nb.cells:
        if cell.cell_type == "code":
            yield cell.source


def with_parameters(nb: NotebookNode, parameters: dict[str, Any]) -> NotebookNode:
    """A copy of `nb` with papermill's `injected-parameters` cell, as a student would run it.

    papermill writes the cell; we only use it to prepare submissions for grading.
    """
    from papermill.parameterize import parameterize_notebook

    new = nbformat.from_dict(nb)
    new.metadata.setdefault("papermill", {})
    untagged = [cell for cell in new.cells if "tags" not in cell.metadata]
    for cell in untagged:  # papermill expects every cell to have a tags list
        cell.metadata["tags"] = []
    new = parameterize_notebook(new, parameters, report_mode=False)
    for cell in untagged:
        if not cell.metadata.get("tags"):
            del cell.metadata["tags"]
    return new


def with_answer(nb: NotebookNode, grade_id: str, source: str) -> NotebookNode:
    """A copy of `nb` whose cell `grade_id` holds `source`: how a student's answer is simulated."""
    new = nbformat.from_dict(nb)
    find_cell(new, grade_id).source = source
    return new


def skipping_after(nb: NotebookNode, grade_ids: list[str] | tuple[str, ...]) -> NotebookNode:
    """A copy of `nb` whose editable code cells after the last of `grade_ids` do nothing.

    Grading a simulated mistake only needs the cells up to the test that should
    catch it; nbgrader still runs every (read-only) test cell, but the
    student's later work is skipped, which keeps long labs quick to check.
    """
    new = nbformat.from_dict(nb)
    last = max(i for i, c in enumerate(new.cells) if nbgrader_meta(c).get("grade_id") in set(grade_ids))
    for cell in new.cells[last + 1 :]:
        if cell.cell_type == "code" and not nbgrader_meta(cell).get("locked"):
            cell.source = "# (skipped: not needed to check the answer above)"
            cell.outputs = []
    return new
