"""Autograde a class: every submission of one lab (or all) in parallel, each in its own sandbox.

nbgrader grades one submission after another and has no parallel mode
(nbgrader issue #174); SQLite also cannot take several writers at once. So
each submission is graded by nbgrader's own `autograde` in a process of its
own, against a private scratch copy of the submission and a private SQLite
gradebook made from the lab's source; the batch then copies the scores into
the course's gradebook one submission at a time (SQLite or PostgreSQL alike)
and the autograded notebook into autograder/autograded/. Nothing a
submission does can touch another one's files, grades or gradebook rows.

Grading processes are forked from this one, which has already imported
nbgrader (two seconds saved per submission), and are killed as a group if
they run past the notebook time limit.
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import multiprocessing.connection
import os
import resource
import shutil
import signal
import sys
import tempfile
import time
import traceback
import warnings
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable

from mlops_course.course import notebooks
from mlops_course.course.config import GRADING_DIR, load_config
from mlops_course.grading.nbgrader_api import open_api, require_success
from mlops_course.course.layout import assignment_notebooks, resolve_labs, source_dir
from mlops_course.errors import GradingError
from mlops_course.grading.gradebook import error_line, require_gradebook, shown_url
from mlops_course.grading.sandbox import UIDS_PER_BATCH, Limits, Sandbox, reserved_uids, warm_matplotlib_cache

WORK_DIR = f"{GRADING_DIR}/work"
LOG_DIR = f"{GRADING_DIR}/logs"
# A grading process gets this long past the notebook's own time limit before it is killed.
HARD_LIMIT_MARGIN = 120


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


@dataclass(frozen=True)
class Job:
    lab: str
    student: str
    submitted: Path
    scratch: Path
    template_db: Path
    expected: tuple[str, ...]  # notebook names nbgrader will look for
    matplotlib_cache: str = ""  # built once per batch (sandbox.warm_matplotlib_cache)


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def submitted_students(root: Path, lab: str) -> list[str]:
    """Students with a folder for `lab` under autograder/submitted/."""
    base = Path(root) / load_config(root).CourseDirectory.submitted_directory
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if (p / lab).is_dir())


# --- the gradebook side: runs in the batch process ---------------------------------------------


def ensure_assignment(root: Path, lab: str, db_url: str | None = None) -> None:
    """Record the lab in the course gradebook if it is not there yet (without touching labs/)."""
    from nbgrader.api import Gradebook, MissingEntry

    cd = load_config(root, db_url).CourseDirectory
    with Gradebook(cd.db_url, cd.course_id) as gb:
        try:
            if gb.find_assignment(lab).notebooks:
                return
        except MissingEntry:
            pass
    with tempfile.TemporaryDirectory(prefix="mlops-course-release-") as scratch:
        api = open_api(root, db_url=db_url, **{"CourseDirectory.release_directory": scratch})
        require_success(api.generate_assignment(lab, force=True, create=True),
                        f"recording '{lab}' in the gradebook", GradingError)


def make_template(root: Path, lab: str, db_url: str | None, dest: Path) -> Path:
    """A private SQLite gradebook holding only the lab (cells, checksums, due date) for grading processes."""
    from nbgrader.api import Gradebook

    with tempfile.TemporaryDirectory(prefix="mlops-course-release-") as scratch:
        api = open_api(root, db_url=f"sqlite:///{dest}", **{"CourseDirectory.release_directory": scratch})
        require_success(api.generate_assignment(lab, force=True, create=True),
                        f"nbgrader generate_assignment for '{lab}'", GradingError)
    cd = load_config(root, db_url).CourseDirectory
    with Gradebook(cd.db_url, cd.course_id) as main:
        duedate = main.find_assignment(lab).duedate
    with Gradebook(f"sqlite:///{dest}", cd.course_id) as gb:
        gb.update_or_create_assignment(lab, duedate=duedate)
    return dest


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


# --- the grading process: runs forked, one per submission --------------------------------------


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


def grade_submission(root: Path, job: Job, limits: Limits, uid: int | None, missing_tools: tuple[str, ...]) -> dict:
    """Grade one submission with nbgrader in `job.scratch`; returns a GradeResult as a dict."""
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.api import Gradebook
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
    from mlops_course.grading.nbgrader_runs import OverwriteCellsQuietly, cell_scores

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
    overrides = {
        "CourseDirectory.root": str(job.scratch),
        "CourseDirectory.source_directory": str(source_dir(Path(root).resolve())),
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
        "GuardedExecute.score_stderr": scores_stderr(root),
        "SandboxedKernelManager.runtime_dir": str(runtime),
        "SandboxedKernelManager.run_as_uid": -1 if uid is None else uid,
        "SandboxedKernelManager.memory_bytes": limits.memory_bytes,
        "SandboxedKernelManager.max_processes": limits.max_processes,
        "SandboxedKernelManager.max_file_bytes": limits.max_file_bytes,
        "SandboxedKernelManager.missing_tools": list(missing_tools),
        "SandboxedKernelManager.matplotlib_cache": job.matplotlib_cache,
        "SandboxedKernelManager.threads": limits.threads,
    }
    try:
        if any((work / f"{name}.ipynb").exists() for name in job.expected):
            outcome = open_api(root, db_url=db_url, **overrides).autograde(job.lab, job.student, force=True, create=True)
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
    scores = cell_scores(root, job.lab, job.student, db_url=db_url) if _has_submission(db_url, job) else {}
    result.score = sum(s.score for s in scores.values())
    result.max_score = sum(s.max_score for s in scores.values())
    if result.status == "graded" and result.reasons:
        result.status = "problems"
    result.seconds = time.monotonic() - start
    return asdict(result)


def scores_stderr(root: Path) -> bool:
    """Does the course keep nbgrader's rule that stderr costs a test cell its points?

    This course does not (`course.cell_passes`); another nbgrader course does unless its config
    runs `StderrIsNotAnError` as we do, so its scores stay those of `nbgrader autograde`.
    """
    settings = load_config(root).Autograde
    steps = settings.autograde_preprocessors if "autograde_preprocessors" in settings else []
    return not any("StderrIsNotAnError" in str(step) for step in steps)


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


def _has_submission(db_url: str, job: Job) -> bool:
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url) as gb:
        try:
            gb.find_submission(job.lab, job.student)
            return True
        except MissingEntry:
            return False


def _child(root: Path, job: Job, limits: Limits, uid: int | None, missing_tools: tuple[str, ...]) -> None:
    """Entry point of a forked grading process: its own session, its own log, a result file."""
    os.setsid()
    with open(job.scratch / "grading.log", "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    # The grader holds whatever the kernel prints; bound it so a flood cannot take the machine down.
    cap = limits.memory_bytes * 2 + 2 * 2**30
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    try:
        result = grade_submission(root, job, limits, uid, missing_tools)
    except BaseException as exc:  # noqa: BLE001 (anything at all: report it for this student and let the batch go on)
        traceback.print_exc()
        kind = "ran out of memory while grading (huge output?)" if isinstance(exc, MemoryError) else f"grading failed: {exc!r}"[:300]
        result = asdict(GradeResult(job.lab, job.student, status="not graded", reasons=[kind]))
    (job.scratch / "result.json").write_text(json.dumps(result))
    sys.stdout.flush()
    os._exit(0)


# --- the batch ---------------------------------------------------------------------------------


def autograde(
    root: Path,
    lab: str | None = None,
    students: list[str] | None = None,
    jobs: int | None = None,
    limits: Limits = Limits(),  # noqa: B008 (a frozen dataclass: one shared default cannot change)
    db_url: str | None = None,
    progress: bool = True,
    missing_tools: tuple[str, ...] = (),
    warn: Callable[[str], None] = lambda message: print(f"warning: {message}", file=sys.stderr),
) -> list[GradeResult]:
    """Grade every submission of `lab` (or of every lab) with `jobs` in parallel; see the module doc."""
    root = Path(root).resolve()
    cd = load_config(root, db_url).CourseDirectory
    # Only a course that has graded nothing yet may get a new gradebook: otherwise the grades are elsewhere.
    graded_before = any((root / cd.autograded_directory).glob("*/*"))
    created = require_gradebook(str(cd.db_url), create=not graded_before)
    if created:
        warn(f"there was no gradebook yet: created a new one at {created}")
    sandbox = Sandbox.detect(missing_tools)
    for message in sandbox.warnings():
        warn(message)
    jobs = min(max(1, jobs or default_jobs()), UIDS_PER_BATCH)  # one sandbox user id per job
    if not limits.threads:
        limits = replace(limits, threads=max(1, default_jobs() // jobs))
    work = root / WORK_DIR
    work.mkdir(parents=True, exist_ok=True)
    batch = Path(tempfile.mkdtemp(prefix=dt.datetime.now().strftime("%Y%m%d-%H%M%S-"), dir=work))
    try:
        queue = _plan(root, lab, students, db_url, batch)
        # Kernels that run as the grader (not root) have no user ids to share.
        with reserved_uids() if sandbox.separate_user else nullcontext(None) as first_uid:
            return _run(root, queue, jobs, limits, db_url, sandbox, progress, missing_tools, first_uid)
    finally:
        shutil.rmtree(batch, ignore_errors=True)


def _plan(root: Path, lab: str | None, students: list[str] | None, db_url: str | None, batch: Path) -> list[Job]:
    queue = []
    fonts = None
    submitted_dir = root / load_config(root).CourseDirectory.submitted_directory
    for name in resolve_labs(root, lab):
        who = [s for s in submitted_students(root, name) if not students or s in students]
        if not who:
            continue
        ensure_assignment(root, name, db_url)
        template = make_template(root, name, db_url, batch / f"{name}.db")
        expected = tuple(p.stem for p in assignment_notebooks(root, name))
        fonts = fonts or warm_matplotlib_cache(batch / "matplotlib")
        for student in who:
            scratch = batch / name / student
            scratch.mkdir(parents=True)
            queue.append(Job(name, student, submitted_dir / student / name, scratch, template, expected,
                             str(fonts or "")))
    return queue


def _run(root, queue: list[Job], jobs: int, limits: Limits, db_url, sandbox: Sandbox, progress: bool, missing_tools,
         first_uid: int | None) -> list[GradeResult]:
    from tqdm import tqdm

    tqdm.monitor_interval = 0  # no monitor thread: this process forks
    _import_what_grading_needs()
    ctx = multiprocessing.get_context("fork")
    results: list[GradeResult] = []
    running: dict[int, tuple] = {}
    free_slots = list(range(jobs))
    pending = list(queue)
    hard_limit = limits.notebook_timeout + HARD_LIMIT_MARGIN
    bar = tqdm(total=len(queue), disable=not progress or not queue, unit="submission", file=sys.stderr,
               desc=f"autograde ({jobs} job{'s' if jobs > 1 else ''})")
    gradebook = None

    def start_jobs() -> None:
        while pending and free_slots:
            job, slot = pending.pop(0), free_slots.pop(0)
            uid = None if first_uid is None else first_uid + slot
            proc = ctx.Process(target=_child, args=(root, job, limits, uid, tuple(missing_tools)), daemon=False)
            proc.start()
            running[proc.sentinel] = (proc, job, slot, time.monotonic())

    try:
        while pending or running:
            start_jobs()
            ready = multiprocessing.connection.wait(list(running), timeout=1.0)
            now = time.monotonic()
            finished = []
            for sentinel in list(running):
                proc, job, slot, started = running[sentinel]
                overdue = now - started > hard_limit
                if sentinel not in ready and not overdue:
                    continue
                if overdue:
                    _kill(proc, job)
                proc.join()
                del running[sentinel]
                free_slots.append(slot)
                finished.append((job, proc.exitcode, overdue))
            # The freed slots get their next submission before this process records grades,
            # so the cores never wait for the gradebook.
            start_jobs()
            for job, exitcode, overdue in finished:
                gradebook = gradebook or _open_gradebook(root, db_url)
                result = _finish(root, gradebook, job, exitcode, overdue, hard_limit)
                results.append(result)
                bar.set_postfix_str(f"{job.student}: {result.score:g}/{result.max_score:g}", refresh=False)
                bar.update(1)
    finally:
        for proc, job, _, _ in running.values():
            _kill(proc, job)
        bar.close()
        if gradebook is not None:
            gradebook.close()
    return sorted(results, key=lambda r: (r.lab, r.student))


def _open_gradebook(root: Path, db_url: str | None):
    from nbgrader.api import Gradebook

    cd = load_config(root, db_url).CourseDirectory
    try:
        return Gradebook(cd.db_url, cd.course_id)
    except Exception as exc:  # a gradebook we cannot open is the instructor's problem, not the student's
        raise GradingError(f"could not open the gradebook {shown_url(str(cd.db_url))}: {error_line(exc)}") from exc


def _import_what_grading_needs() -> None:
    """Import once here what every forked grading process would otherwise import again (~0.2 s each):
    the guarded executor, and IPython, which jupyter_client imports to find kernel specs."""
    import IPython.paths  # noqa: F401

    from mlops_course.grading import execute_guard  # noqa: F401


def _kill(proc, job: Job) -> None:
    pgid_file = job.scratch / "runtime" / "kernel.pgid"
    groups = [proc.pid]
    if pgid_file.exists() and pgid_file.read_text().strip().isdigit():
        groups.append(int(pgid_file.read_text()))
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _finish(root: Path, gradebook, job: Job, exitcode, overdue: bool, hard_limit: int) -> GradeResult:
    result_file = job.scratch / "result.json"
    if result_file.exists() and not overdue:
        result = GradeResult(**json.loads(result_file.read_text()))
    else:
        why = f"grading did not finish within {hard_limit} s and was stopped" if overdue else f"the grading process crashed (exit code {exitcode})"
        result = GradeResult(job.lab, job.student, status="not graded", reasons=[why])
    cd = load_config(root).CourseDirectory
    changed = changed_answers(root / cd.autograded_directory / job.student / job.lab, job.submitted, job.expected)
    try:
        merged = merge_into_gradebook(gradebook, job, changed)
    except Exception as exc:  # a gradebook we cannot write to is the instructor's problem, not the student's
        raise GradingError(f"could not record the grades of '{job.student}' for '{job.lab}' in the gradebook: "
                           f"{error_line(exc)}") from exc
    result.seconds_late, result.score, result.pending, result.regrade = (merged.seconds_late, merged.score,
                                                                         merged.pending, list(merged.regrade))
    _keep_outputs(root, job)
    return result


def _keep_outputs(root: Path, job: Job) -> None:
    cd = load_config(root).CourseDirectory
    graded = job.scratch / "autograded" / job.student / job.lab
    dest = root / cd.autograded_directory / job.student / job.lab
    if dest.exists():
        shutil.rmtree(dest)
    if graded.is_dir():
        shutil.copytree(graded, dest, symlinks=True)
    log = job.scratch / "grading.log"
    if log.exists():
        logs = root / LOG_DIR / job.lab
        logs.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(log, logs / f"{job.student}.log")


def summary_table(results: list[GradeResult]) -> str:
    """The table printed at the end of a batch: one line per submission, problems spelled out."""
    if not results:
        return "No submissions to grade."
    width, lab_width = max(len("student"), *(len(r.student) for r in results)), max(16, *(len(r.lab) for r in results))
    lines = [f"{'lab':<{lab_width}} {'student':<{width}} {'score':^11}  {'status':<11} notes"]
    for r in results:
        notes = "; ".join(r.reasons)
        if r.seconds_late > 0:
            notes = "; ".join(filter(None, [f"late by {_duration(r.seconds_late)}", notes]))
        if r.regrade:
            notes = "; ".join(filter(None, [notes, f"changed since graded by hand, old score kept as old: {', '.join(r.regrade)}"]))
        if r.pending:
            notes = "; ".join(filter(None, [notes, f"{r.pending:g} point(s) wait for manual grading"]))
        lines.append(f"{r.lab:<{lab_width}} {r.student:<{width}} {r.score:>5g}/{r.max_score:<5g}  {r.status:<11} {notes}")
    graded = sum(r.status != "not graded" for r in results)
    problems = sum(not r.ok for r in results)
    lines.append(f"{len(results)} submission(s): {graded} graded, {problems} with problems (see notes).")
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"
