"""Release: turn the instructor notebooks in solutions/ into the student labs in labs/.

nbgrader's `generate_assignment` does the work (it strips solutions and hidden
tests, locks test cells and records checksums). Before it runs we check every
notebook's nbgrader metadata ourselves, because nbgrader's own error for a
broken cell ("the nbgrader metadata may be corrupted") names neither the
notebook nor the cell.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from mlops_course.course import notebooks
from mlops_course.grading.nbgrader_api import open_api, require_success
from mlops_course.course.layout import assignment_notebooks, resolve_labs
from mlops_course.errors import NotebookMetadataError, ReleaseError
from mlops_course.quiz.model import is_quiz


def _where(path: Path, index: int, cell) -> str:
    meta = notebooks.nbgrader_meta(cell)
    first_line = (cell.source.strip().splitlines() or ["(empty)"])[0][:60]
    grade_id = f" (grade_id '{meta['grade_id']}')" if meta.get("grade_id") else ""
    return f"{path}, cell {index + 1}{grade_id} starting '{first_line}'"


def check_metadata(path: Path) -> None:
    """Raise NotebookMetadataError naming the notebook and cell if nbgrader would choke or leak.

    Beyond nbgrader's own schema: test cells must be locked, and solution or
    hidden-test markers may only appear in the cells nbgrader strips them from
    (anywhere else they would be released to students verbatim). Labs need a
    `parameters` cell; lesson quizzes (quiz-<chapter>) run in seconds and have none.
    """
    from nbgrader.nbgraderformat import MetadataValidator

    try:
        nb = notebooks.read(path)
    except Exception as exc:  # nbformat raises several types for unreadable files
        raise NotebookMetadataError(f"{path} is not a readable notebook: {exc}") from exc
    validator = MetadataValidator()
    seen: dict[str, int] = {}
    for index, cell in enumerate(nb.cells):
        meta = notebooks.nbgrader_meta(cell)
        where = _where(path, index, cell)
        if meta:
            try:
                validator.validate_cell(cell)
            except Exception as exc:
                message = getattr(exc, "message", None) or str(exc).splitlines()[0]
                raise NotebookMetadataError(f"{where}: broken nbgrader metadata: {message}") from exc
            grade_id = meta.get("grade_id")
            if grade_id and (meta.get("grade") or meta.get("solution") or meta.get("locked")):
                if grade_id in seen:
                    raise NotebookMetadataError(
                        f"{where}: grade_id '{grade_id}' is also used by cell {seen[grade_id] + 1}"
                    )
                seen[grade_id] = index
            if meta.get("grade") and not meta.get("solution") and not meta.get("locked"):
                raise NotebookMetadataError(f"{where}: a test cell must be read-only (locked)")
        if any(m in cell.source for m in notebooks.SOLUTION_MARKERS) and not meta.get("solution"):
            raise NotebookMetadataError(
                f"{where}: has solution markers but is not a solution cell, so the solution would be released"
            )
        if any(m in cell.source for m in notebooks.HIDDEN_TEST_MARKERS) and not (meta.get("grade") and not meta.get("solution")):
            raise NotebookMetadataError(
                f"{where}: has hidden-test markers but is not a test cell, so the hidden tests would be released"
            )
    if notebooks.parameters_cell(nb) is None and not is_quiz(path.parent.name):
        raise NotebookMetadataError(
            f"{path}: no cell is tagged 'parameters'; every lab needs one defining "
            f"{notebooks.QUICK_PARAMETER} so that CI can run it quickly"
        )


def release(root: Path, lab: str | None = None, release_dir: Path | None = None) -> list[Path]:
    """Generate the student version of one lab (or all) with nbgrader; returns the released notebooks.

    `release_dir` sends the output somewhere other than labs/ (the sync test uses it).
    """
    names = resolve_labs(root, lab)
    for name in names:
        for path in assignment_notebooks(root, name):
            check_metadata(path)
    overrides = {}
    if release_dir is not None:
        overrides["CourseDirectory.release_directory"] = str(Path(release_dir).resolve())
    released = []
    # nbgrader records the cells in a gradebook while it releases; a scratch one keeps the
    # course's gradebook (and any submissions in it) out of a release.
    with tempfile.TemporaryDirectory(prefix="mlops-course-release-") as scratch:
        api = open_api(root, db_url=f"sqlite:///{scratch}/release.db", **overrides)
        for name in names:
            result = api.generate_assignment(name, force=True, create=True)
            require_success(result, f"nbgrader generate_assignment for '{name}'", ReleaseError)
            out = Path(api.coursedir.format_path(api.coursedir.release_directory, ".", name))
            released.extend(sorted(out.glob("*.ipynb")))
    return released
