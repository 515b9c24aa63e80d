"""The grading process: one submission graded by nbgrader in a sandbox, in a process forked for it.

Everything here runs in the forked process (`run_child`), against the job's private scratch copy of
the submission and a private SQLite gradebook made from the lab's source, so nothing a submission
does can touch another one's files, grades or gradebook rows. The process writes what the
submission got to `result.json` in its scratch folder; the batch (`grading.autograde`) reads it
and merges the scores into the course's gradebook (`grading.merge`).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

from mlops_course.course import notebooks
from mlops_course.grading.nbgrader_api import open_api
from mlops_course.grading.plan import CourseSettings, Job
from mlops_course.grading.limits import Limits


@dataclass
class GradeResult:
    """What one submission got, and why, for the summary table and the tests."""

    lab: str
    student: str
    score: float = 0.0
    max_score: float = 0.0
    status: str = "graded"  # graded | problems | not graded
    reasons: list[str] = field(default_factory=list)
    seconds: float = 0.0
    seconds_late: float = 0.0
    pending: float = 0.0  # points that wait for a person: answers in words not graded yet
    regrade: list[str] = field(default_factory=list)  # answers changed since they were graded by hand

    @property
    def ok(self) -> bool:
        return self.status == "graded"


def copy_submission(src: Path, dest: Path) -> list[str]:
    """Copy a submission without following links; returns what was left out and why."""
    dropped = []
    dest.mkdir(parents=True, exist_ok=True)
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if path.is_symlink():
            dropped.append(f"left out {rel}: a symbolic link (could point at files outside the submission)")
        elif path.is_dir():
            (dest / rel).mkdir(parents=True, exist_ok=True)
        elif path.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest / rel)
    return dropped


def check_notebooks(folder: Path, expected: Iterable[str], known_cells: set[str] = frozenset()) -> list[str]:
    """Problems nbgrader would turn into a crash or a silent zero, named for the instructor.

    Unreadable notebooks are renamed to `<name>.ipynb.invalid`, so nbgrader
    treats them as missing (zero for their cells) and still grades the rest.
    """
    problems = []
    for name in expected:
        path = folder / f"{name}.ipynb"
        if not path.exists():
            others = sorted(p.name for p in folder.glob("*.ipynb"))
            found = f" (found: {', '.join(others)})" if others else " (no notebook at all)"
            problems.append(f"no {name}.ipynb in the submission: wrong file name?{found}")
            continue
        reason = None
        if path.stat().st_size == 0:
            reason = f"{name}.ipynb is empty (0 bytes)"
        else:
            try:
                json.loads(path.read_text(encoding="utf-8", errors="strict"))
            except (UnicodeDecodeError, ValueError) as exc:
                reason = f"{name}.ipynb is not valid JSON ({str(exc).splitlines()[0][:80]})"
            else:
                try:
                    nb = notebooks.read(path)
                except Exception as exc:  # noqa: BLE001 (nbformat raises many types for broken structure)
                    reason = f"{name}.ipynb is not a valid notebook ({str(exc).splitlines()[0][:80]})"
                else:
                    if not nb.cells:
                        problems.append(f"{name}.ipynb has no cells")
                    problems += strip_broken_metadata(nb, path, known_cells)
        if reason:
            problems.append(reason)
            path.rename(path.with_name(path.name + ".invalid"))
    return problems


def strip_broken_metadata(nb, path: Path, known_cells: set[str]) -> list[str]:
    """Cells whose nbgrader metadata is corrupt or names a cell the lab does not have, made plain.

    nbgrader refuses the whole notebook in both cases (for an unknown grade_id it
    drops the id and then fails its own validation), so one edited cell would
    otherwise cost the student every point.
    """
    from nbgrader.nbgraderformat import MetadataValidator

    validator, broken = MetadataValidator(), []
    for index, cell in enumerate(nb.cells):
        meta = notebooks.nbgrader_meta(cell)
        if not meta:
            continue
        try:
            validator.validate_cell(cell)
            valid = not known_cells or not meta.get("grade_id") or meta["grade_id"] in known_cells
        except Exception:  # noqa: BLE001 (nbgrader raises ValidationError or SchemaMismatch)
            valid = False
        if not valid:
            del cell.metadata["nbgrader"]
            broken.append(str(index + 1))
    if not broken:
        return []
    notebooks.write(nb, path)
    return [f"broken nbgrader metadata in cell(s) {', '.join(broken)} of {path.name} (graded as plain cells)"]


def record_zero(db_url: str, job: Job) -> None:
    """What nbgrader does for a missing notebook, for a submission with no notebook it could open."""
    from nbgrader.api import Gradebook

    timestamp_file = job.submitted / "timestamp.txt"
    timestamp = timestamp_file.read_text().strip() if timestamp_file.exists() else None
    with Gradebook(db_url) as gb:
        gb.update_or_create_student(job.student)
        submission = gb.update_or_create_submission(job.lab, job.student, timestamp=timestamp)
        for nb in submission.notebooks:
            for grade in nb.grades:
                grade.auto_score = 0
                grade.needs_manual_grade = False
        gb.db.commit()


def missing_test_cells(graded_notebook: Path, expected_cells: set[str]) -> list[str]:
    """Graded cells of the notebook (`expected_cells`) its graded copy no longer has (a notebook with no cells is reported as such)."""
    nb = notebooks.read(graded_notebook) if graded_notebook.exists() else None
    if nb is None or not nb.cells:
        return []
    return sorted(expected_cells - {c.grade_id for c in notebooks.graded_cells(nb)})


def grade_submission(course: CourseSettings, job: Job, limits: Limits, uid: int | None, missing_tools: tuple[str, ...]) -> dict:
    """Grade one submission with nbgrader in `job.scratch`; returns a GradeResult as a dict."""
    from nbgrader.api import Gradebook

    start = time.monotonic()
    result = GradeResult(job.lab, job.student)
    work = job.scratch / "submitted" / job.student / job.lab
    result.reasons += copy_submission(job.submitted, work)
    with Gradebook(f"sqlite:///{job.template_db}") as gb:
        cells = {c.name for nb in gb.find_assignment(job.lab).notebooks for c in nb.source_cells}
        graded_cells = {nb.name: {c.name for c in nb.grade_cells} for nb in gb.find_assignment(job.lab).notebooks}
    result.reasons += check_notebooks(work, job.expected, cells)
    # Unix socket paths are limited to about 100 characters: the kernel's sockets live in a short
    # folder under /tmp, linked from the scratch folder (where the batch looks for the kernel's pgid).
    runtime = Path(tempfile.mkdtemp(prefix="mlops-kernel-"))
    (job.scratch / "runtime").symlink_to(runtime)
    db_url = f"sqlite:///{job.scratch / 'gradebook.db'}"
    shutil.copyfile(job.template_db, job.scratch / "gradebook.db")
    overrides = _nbgrader_settings(course, job, limits, uid, missing_tools, runtime)
    try:
        if any((work / f"{name}.ipynb").exists() for name in job.expected):
            api = open_api(course.root, db_url=db_url, read=course.config, **overrides)
            outcome = api.autograde(job.lab, job.student, force=True, create=True)
            print(outcome.get("log") or "", flush=True)  # into the submission's grading log
        else:
            record_zero(db_url, job)
            outcome = {"success": True}
    finally:
        shutil.rmtree(runtime, ignore_errors=True)
    incidents = json.loads((job.scratch / "incidents.json").read_text()) if (job.scratch / "incidents.json").exists() else []
    result.reasons += summarize_incidents(incidents)
    for name in job.expected:
        gone = missing_test_cells(job.scratch / "autograded" / job.student / job.lab / f"{name}.ipynb",
                                  graded_cells.get(name, set()))
        if gone:
            result.reasons.append(f"graded cells deleted or renamed in {name}.ipynb: {', '.join(gone)} (they score zero)")
    if not outcome.get("success"):
        last = [line for line in (outcome.get("log") or outcome.get("error") or "").splitlines() if line.strip()]
        result.status = "not graded"
        result.reasons.append("nbgrader could not grade it: " + (last[-1][:200] if last else "no log"))
    result.score, result.max_score = _totals(db_url, course.course_id, job)
    if result.status == "graded" and result.reasons:
        result.status = "problems"
    result.seconds = time.monotonic() - start
    return asdict(result)


def _nbgrader_settings(course: CourseSettings, job: Job, limits: Limits, uid: int | None, missing_tools: tuple[str, ...],
                       runtime: Path) -> dict:
    """nbgrader's settings for grading in the scratch folder: the course's steps, the guarded executor
    in place of nbgrader's, and the sandbox's limits."""
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import (
        AssignLatePenalties,
        CheckCellMetadata,
        ClearOutput,
        DeduplicateIds,
        IgnorePattern,
        LimitOutput,
        OverwriteKernelspec,
        SaveAutoGrades,
    )

    from mlops_course.grading.execute_guard import GuardedExecute
    from mlops_course.grading.nbgrader_runs import OverwriteCellsQuietly

    return {
        "CourseDirectory.root": str(job.scratch),
        "CourseDirectory.source_directory": str(course.source_dir),
        "CourseDirectory.submitted_directory": "submitted",
        "CourseDirectory.autograded_directory": "autograded",
        "Autograde.sanitize_preprocessors": [ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCellsQuietly,
                                             CheckCellMetadata],
        "Autograde.autograde_preprocessors": [GuardedExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
                                              SaveAutoGrades, AssignLatePenalties, CheckCellMetadata],
        "Execute.timeout": limits.cell_timeout,
        "GuardedExecute.notebook_timeout": limits.notebook_timeout,
        "GuardedExecute.max_output_bytes": limits.max_output_bytes,
        "GuardedExecute.incident_log": str(job.scratch / "incidents.json"),
        "GuardedExecute.score_stderr": course.scores_stderr,
        "SandboxedKernelManager.runtime_dir": str(runtime),
        "SandboxedKernelManager.run_as_uid": -1 if uid is None else uid,
        "SandboxedKernelManager.memory_bytes": limits.memory_bytes,
        "SandboxedKernelManager.max_processes": limits.max_processes,
        "SandboxedKernelManager.max_file_bytes": limits.max_file_bytes,
        "SandboxedKernelManager.missing_tools": list(missing_tools),
        "SandboxedKernelManager.matplotlib_cache": job.matplotlib_cache,
        "SandboxedKernelManager.threads": limits.threads,
    }


def summarize_incidents(incidents: list[dict]) -> list[str]:
    """One line per kind of incident: the first, and how many cells more."""
    by_kind: dict[str, list[str]] = {}
    for incident in incidents:
        by_kind.setdefault(incident["kind"], []).append(incident["message"])
    lines = []
    for messages in by_kind.values():
        more = len(messages) - 1
        lines.append(messages[0] + (f" (and {more} more cell{'s' if more > 1 else ''})" if more else ""))
    return lines


def _totals(db_url: str, course_id: str, job: Job) -> tuple[float, float]:
    """The submission's score and its maximum in the private gradebook; (0, 0) when nbgrader recorded none."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url, course_id) as gb:
        try:
            submission = gb.find_submission(job.lab, job.student)
        except MissingEntry:
            return 0.0, 0.0
        grades = [grade for nb in submission.notebooks for grade in nb.grades]
        return sum(float(g.score) for g in grades), sum(float(g.max_score) for g in grades)


def run_child(course: CourseSettings, job: Job, limits: Limits, uid: int | None, missing_tools: tuple[str, ...]) -> None:
    """Entry point of a forked grading process: its own session, its own log, a result file."""
    os.setsid()
    with open(job.scratch / "grading.log", "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    # The grader holds whatever the kernel prints; bound it so a flood cannot take the machine down.
    cap = limits.memory_bytes * 2 + 2 * 2**30
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    try:
        result = grade_submission(course, job, limits, uid, missing_tools)
    except BaseException as exc:  # noqa: BLE001 (anything at all: report it for this student and let the batch go on)
        traceback.print_exc()
        kind = "ran out of memory while grading (huge output?)" if isinstance(exc, MemoryError) else f"grading failed: {exc!r}"[:300]
        result = asdict(GradeResult(job.lab, job.student, status="not graded", reasons=[kind]))
    (job.scratch / "result.json").write_text(json.dumps(result))
    sys.stdout.flush()
    os._exit(0)

