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

The batch's steps have modules of their own: planning the jobs (`grading.plan`), grading one
submission in its forked process (`grading.worker`) and merging it into the gradebook
(`grading.merge`). This module runs them: `autograde` and the summary it prints.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import sys
import tempfile
import time
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Callable

from mlops_course.course.config import GRADING_DIR
from mlops_course.grading.gradebook import require_gradebook
from mlops_course.grading.merge import open_gradebook, record_result
from mlops_course.grading.plan import CourseSettings, Job, default_jobs, plan_jobs
from mlops_course.grading.limits import Limits
from mlops_course.grading.sandbox import UIDS_PER_BATCH, Sandbox, reserved_uids
from mlops_course.grading.worker import GradeResult, run_child

WORK_DIR = f"{GRADING_DIR}/work"
# A grading process gets this long past the notebook's own time limit before it is killed.
HARD_LIMIT_MARGIN = 120


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
    course = CourseSettings.read(root, db_url)  # the one reading of the course's configuration in a batch
    # Only a course that has graded nothing yet may get a new gradebook: otherwise the grades are elsewhere.
    graded_before = any(course.autograded_dir.glob("*/*"))
    created = require_gradebook(course.gradebook_url, create=not graded_before)
    if created:
        warn(f"there was no gradebook yet: created a new one at {created}")
    sandbox = Sandbox.detect(missing_tools)
    for message in sandbox.warnings():
        warn(message)
    jobs = min(max(1, jobs or default_jobs()), UIDS_PER_BATCH)  # one sandbox user id per job
    if not limits.threads:
        limits = replace(limits, threads=max(1, default_jobs() // jobs))
    work = course.root / WORK_DIR
    work.mkdir(parents=True, exist_ok=True)
    batch = Path(tempfile.mkdtemp(prefix=dt.datetime.now().strftime("%Y%m%d-%H%M%S-"), dir=work))
    try:
        queue = plan_jobs(course, lab, students, batch)
        # Kernels that run as the grader (not root) have no user ids to share.
        with reserved_uids() if sandbox.separate_user else nullcontext(None) as first_uid:
            return _run(course, queue, jobs, limits, progress, missing_tools, first_uid)
    finally:
        shutil.rmtree(batch, ignore_errors=True)


def _run(course: CourseSettings, queue: list[Job], jobs: int, limits: Limits, progress: bool,
         missing_tools: tuple[str, ...], first_uid: int | None) -> list[GradeResult]:
    """Grade the queue, `jobs` forked processes at a time, each in sandbox user id `first_uid` + its slot;
    stop a process past the hard limit, and merge each result into the gradebook as it comes."""
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
            proc = ctx.Process(target=run_child, args=(course, job, limits, uid, tuple(missing_tools)), daemon=False)
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
                gradebook = gradebook or open_gradebook(course)
                result = record_result(course, gradebook, job, exitcode, overdue, hard_limit)
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
