"""Merging a graded submission into the course's gradebook; runs in the batch process, one submission at a time.

SQLite cannot take several writers at once, so the grading processes each write a private
gradebook (`grading.worker`) and the batch copies their scores into the course's gradebook
(SQLite or PostgreSQL alike) here, with the autograded notebook into autograder/autograded/ and
the grading log into autograder/logs/.
"""

from __future__ import annotations

import json
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from mlops_course.course import notebooks
from mlops_course.course.config import GRADING_DIR
from mlops_course.errors import GradingError
from mlops_course.grading.gradebook import error_line, shown_url
from mlops_course.grading.plan import CourseSettings, Job
from mlops_course.grading.worker import GradeResult

LOG_DIR = f"{GRADING_DIR}/logs"


def open_gradebook(course: CourseSettings):
    """The course's nbgrader Gradebook, opened once per batch (see merge_into_gradebook)."""
    from nbgrader.api import Gradebook

    try:
        return Gradebook(course.gradebook_url, course.course_id)
    except Exception as exc:  # a gradebook we cannot open is the instructor's problem, not the student's
        raise GradingError(f"could not open the gradebook {shown_url(course.gradebook_url)}: {error_line(exc)}") from exc


def record_result(course: CourseSettings, gradebook, job: Job, exitcode: int | None, overdue: bool,
                  hard_limit: int) -> GradeResult:
    """What a finished grading process got: its result file merged into the gradebook, its outputs kept.

    A process that left no result (it crashed, or was stopped at `hard_limit`) still counts:
    the submission is "not graded", with the reason, and what nbgrader did not record scores zero.
    """
    result_file = job.scratch / "result.json"
    if result_file.exists() and not overdue:
        result = GradeResult(**json.loads(result_file.read_text()))
    else:
        why = f"grading did not finish within {hard_limit} s and was stopped" if overdue else f"the grading process crashed (exit code {exitcode})"
        result = GradeResult(job.lab, job.student, status="not graded", reasons=[why])
    changed = changed_answers(course.autograded_dir / job.student / job.lab, job.submitted, job.expected)
    try:
        merged = merge_into_gradebook(gradebook, job, changed)
    except Exception as exc:  # a gradebook we cannot write to is the instructor's problem, not the student's
        raise GradingError(f"could not record the grades of '{job.student}' for '{job.lab}' in the gradebook: "
                           f"{error_line(exc)}") from exc
    result.seconds_late, result.score, result.pending, result.regrade = (merged.seconds_late, merged.score,
                                                                         merged.pending, list(merged.regrade))
    _keep_outputs(course, job)
    return result


def _keep_outputs(course: CourseSettings, job: Job) -> None:
    """Keep what the scratch folder holds of lasting use (the batch deletes it): the autograded notebook, the log."""
    graded = job.scratch / "autograded" / job.student / job.lab
    dest = course.autograded_dir / job.student / job.lab
    if dest.exists():
        shutil.rmtree(dest)
    if graded.is_dir():
        shutil.copytree(graded, dest, symlinks=True)
    log = job.scratch / "grading.log"
    if log.exists():
        logs = course.root / LOG_DIR / job.lab
        logs.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(log, logs / f"{job.student}.log")


@dataclass(frozen=True)
class Merged:
    """A submission as the course gradebook has it after a merge."""

    seconds_late: float
    score: float  # automatic points, plus the manual ones that still hold
    pending: float  # points of answers that wait for manual grading
    regrade: tuple[str, ...]  # answers graded by hand before, changed since: their old score no longer counts


def merge_into_gradebook(dst, job: Job, changed: set[str] | None = None) -> Merged:
    """Copy one graded submission's scores from its private gradebook into `dst`.

    `changed` names the cells whose answer differs from the last graded copy (None: no
    copy to compare with, so every answer counts as changed). A manual score of an
    unchanged answer stays, and so does its "graded" state; a manual score of a changed
    answer was given to another answer, so it is moved into the cell's comment as the
    old score and the answer waits for manual grading again.

    `dst` is the course's nbgrader Gradebook, opened once per batch: SQLAlchemy keeps its compiled
    queries per engine, so reusing it makes each merge about a quarter cheaper. It is closed (its
    connection returned, its session emptied) after every merge, so no grading process is forked
    while a database connection is open and every merge reads fresh rows.
    """
    from nbgrader.api import Gradebook

    try:
        return _copy_scores(Gradebook(f"sqlite:///{job.scratch / 'gradebook.db'}", dst.course_id), dst, job, changed)
    finally:
        dst.close()


def _copy_scores(src, dst, job: Job, changed: set[str] | None = None) -> Merged:
    from nbgrader.api import MissingEntry

    with warnings.catch_warnings(), src:
        warnings.simplefilter("ignore")  # nbgrader's queries trip SQLAlchemy 2's autoflush warnings
        dst.update_or_create_student(job.student)
        try:
            graded = src.find_submission(job.lab, job.student)
            timestamp = graded.timestamp
        except MissingEntry:
            graded, timestamp = None, None
        submission = dst.update_or_create_submission(job.lab, job.student, timestamp=timestamp)
        total, pending, regrade = 0.0, 0.0, []
        for nb in submission.notebooks:
            for grade in nb.grades:
                score = _source_score(src, graded, grade.name, nb.name, job) if graded is not None else 0.0
                grade.auto_score = score
                if grade.manual_score is not None and (changed is None or grade.name in changed):
                    _keep_as_old_score(nb, grade)
                    regrade.append(grade.name)
                # A person should look at an answer with neither an automatic nor a manual score.
                grade.needs_manual_grade = grade.manual_score is None and score is None
                total += grade.manual_score if grade.manual_score is not None else (score or 0.0)
                pending += float(grade.max_score or 0) if grade.needs_manual_grade else 0.0
            for comment in nb.comments:
                if graded is not None:
                    try:
                        comment.auto_comment = src.find_comment(comment.name, nb.name, job.lab, job.student).auto_comment
                    except MissingEntry:
                        pass
        dst.db.commit()
        return Merged(float(submission.total_seconds_late or 0), total, pending, tuple(regrade))


def _keep_as_old_score(nb, grade) -> None:
    """Clear a manual score given to an earlier answer, and write it into the cell's comment as the old score."""
    note = (f"Old score {grade.manual_score:g} / {grade.max_score:g} was for the earlier answer; "
            f"this resubmitted answer is not graded yet.")
    comment = next((c for c in nb.comments if c.name == grade.name), None)
    if comment is not None:
        earlier = f"Old comment: {comment.manual_comment}" if comment.manual_comment else ""
        comment.manual_comment = "\n\n".join(filter(None, [note, earlier]))
    grade.manual_score = None


def changed_answers(before: Path, after: Path, names: Iterable[str]) -> set[str] | None:
    """Cells whose answer differs between the last graded copy (`before`) and a new submission (`after`).

    A test cell counts as changed when any answer of its notebook changed. None when there
    is no earlier graded copy, or either copy cannot be read: nothing proves an answer unchanged.
    """
    changed: set[str] = set()
    for name in names:
        try:
            old, new = notebooks.read(before / f"{name}.ipynb"), notebooks.read(after / f"{name}.ipynb")
        except Exception:  # noqa: BLE001 (missing or unreadable: nothing to compare)
            return None
        old_cells, new_cells = _answers_and_tests(old), _answers_and_tests(new)
        answers = {gid for gid, (source, is_answer) in old_cells.items() | new_cells.items() if is_answer}
        differ = {gid for gid in answers if old_cells.get(gid, ("", True))[0] != new_cells.get(gid, ("", True))[0]}
        tests = {gid for gid, (_, is_answer) in old_cells.items() if not is_answer}
        changed |= differ | (tests if differ else set())
    return changed


def _answers_and_tests(nb) -> dict[str, tuple[str, bool]]:
    """grade_id -> (source, is an answer) for the answer (solution) and test cells of a notebook."""
    cells = {}
    for cell in nb.cells:
        meta = notebooks.nbgrader_meta(cell)
        if meta.get("grade_id") and (meta.get("solution") or meta.get("grade")):
            cells[meta["grade_id"]] = (cell.source, bool(meta.get("solution")))
    return cells


def _source_score(src, graded, cell: str, notebook: str, job: Job) -> float | None:
    from nbgrader.api import MissingEntry

    try:
        return src.find_grade(cell, notebook, job.lab, job.student).auto_score
    except MissingEntry:
        return 0.0
