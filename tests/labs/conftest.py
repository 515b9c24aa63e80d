"""Fixtures of the lab tests, each paid once per lab:

- `executed_lab`: the learner's finished lab (the solution's answers, no hidden tests) run under
  papermill with the CI parameters; its last cell is the learner's self-check (PAPERMILL_LABS: Lab 01);
- `graded`: real nbgrader, through the course's sandboxed `autograde`, grades a small class: the
  solution, the blank lab and the wrong answers of `mistakes.graded_for_real` (`grade_class.py`, in a
  process of its own). Like the proofs below, this runs in the background, and the tests that read
  it run last;
- `proven`: every wrong answer proven on the shared prefix (`mlops_course.proof.shared_prefix`). These
  runs start in the background with the first test that does not run `alone` (tests/conftest.py) and
  go on while the other tests use the cores; the tests that need them run last (see
  `pytest_collection_modifyitems`);
- `built_project`: the lab's folder after the shared prefix's whole run of the solution: the
  project a learner's finished lab leaves (Lab 06's CI script runs there).
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

import pytest

from mlops_course.grading import nbgrader_runs as grading
from mlops_course.course import notebooks
from mlops_course.proof import shared_prefix
from mlops_course.course.config import GRADING_DIR, IGNORED_FILES
from mlops_course.course.layout import source_notebook
from mlops_course.course.questions import without_hidden_tests

from ..conftest import (ARTIFACTS, BACKGROUND_STARTS, KERNEL, PROOFS_DONE, ROOT, SESSION_ENV, copy_course,
                        import_before_threads)
from . import mistakes

EXECUTION_TIMEOUT = 300
# The first lab runs under papermill as a learner's finished notebook, to prove that route and the self-check
# cell in a real kernel. Every other lab's solution runs in real grading and on the shared prefix, which prove
# the same things of it (Lab 06's CI-script tests work in the project the shared prefix's whole run built).
PAPERMILL_LABS = mistakes.LABS[:1]
PROOF_TIMEOUT = 2400
GRADING_TIMEOUT = 1800


def lab_folder_copy(lab: str, dest: Path, root: Path = ROOT) -> Path:
    """The lab's folder as a learner has it, without the notebook and anything a run wrote."""
    shutil.copytree(root / "solutions" / lab, dest, ignore=shutil.ignore_patterns(*IGNORED_FILES, f"{lab}.ipynb"))
    return dest


def learners_finished_lab(lab: str):
    """The solution as a learner's notebook holds it: every answer written, no hidden tests, CI parameters."""
    return mistakes.ci_submission(without_hidden_tests(notebooks.read(source_notebook(ROOT, lab))))


@pytest.fixture(scope="session")
def executed_lab(tmp_path_factory, artifacts):
    """The working folder of a lab whose finished notebook ran under papermill with the CI parameters (once per lab).

    The executed notebook goes to the test artifacts (`executed/<lab>.ipynb`), for tests and for a person to read.
    """
    import papermill as pm

    done = {}

    def execute(lab: str) -> Path:
        if lab not in done:
            work = lab_folder_copy(lab, tmp_path_factory.mktemp(f"executed-{lab}") / lab)
            notebooks.write(learners_finished_lab(lab), work / f"{lab}.ipynb")
            out = artifacts / "executed" / f"{lab}.ipynb"
            out.parent.mkdir(parents=True, exist_ok=True)
            pm.execute_notebook(str(work / f"{lab}.ipynb"), str(out), kernel_name=KERNEL, cwd=str(work),
                                execution_timeout=EXECUTION_TIMEOUT, progress_bar=False)
            done[lab] = work
        return done[lab]

    return execute


class GradedClass(dict):
    """Cell scores per student, plus where the graded notebooks are and why any submission lost points."""

    def __init__(self, course: Path, lab: str, scores: dict[str, dict[str, grading.CellScore]], reasons: dict[str, list[str]]):
        super().__init__(scores)
        self.course, self.lab, self.reasons = course, lab, reasons

    def notebook(self, student: str):
        """The student's notebook as the grader executed it, outputs and all."""
        return notebooks.read(self.course / GRADING_DIR / "autograded" / student / self.lab / f"{self.lab}.ipynb")

    def errors(self, student: str, grade_ids) -> dict[str, str]:
        """The end of the error each named cell printed in the student's graded notebook: what a failure report needs."""
        nb = self.notebook(student)
        found = {}
        for grade_id in grade_ids:
            outputs = notebooks.find_cell(nb, grade_id).get("outputs", [])
            # nbgrader fails a test cell on an error or on anything written to stderr.
            errors = [f"{o.ename}: {o.evalue}" for o in outputs if o.output_type == "error"]
            errors += [f"stderr: {o.text!r}" for o in outputs if o.output_type == "stream" and o.name == "stderr"]
            found[grade_id] = "; ".join(errors)[-1500:] or "no error output"
        return found


class GradingPool:
    """Grades the labs' small classes one lab at a time in a background thread, in the order asked, each in a
    process of its own (`tests/labs/grade_class.py` says why); a lab not asked for is graded when a test wants it."""

    def __init__(self, labs: list[str], base: Path):
        self.labs, self.base = labs, base
        self.stopped = False
        self.process: subprocess.Popen | None = None
        self.done = {lab: threading.Event() for lab in labs}
        self.results: dict[str, GradedClass | str] = {}
        self.timings: dict[str, dict] = {}
        import_before_threads()  # the thread reads the gradebooks with nbgrader's API
        self.thread = threading.Thread(target=self._work, name="real-grading", daemon=True)
        self.thread.start()

    def _work(self) -> None:
        for lab in self.labs:
            if self.stopped:
                break
            self._grade(lab)
            self.done[lab].set()

    def _grade(self, lab: str) -> None:
        started = time.time()
        course = copy_course(self.base / lab, [lab])
        self.process = subprocess.Popen([sys.executable, "-m", "tests.labs.grade_class", lab, str(course)], cwd=ROOT,
                                        env=SESSION_ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        start_new_session=True)
        out, err = self.process.communicate()
        try:
            said = json.loads(out.strip().splitlines()[-1])
        except (IndexError, ValueError):
            self.results[lab] = f"the grading process exited {self.process.returncode}:\n{err[-3000:]}"
            return
        self.timings[lab] = {"start": started, "end": time.time(), "cpu_seconds": said["cpu_seconds"]}
        ARTIFACTS.mkdir(exist_ok=True)  # for `make bench`, as the proofs' shared-prefix.json
        (ARTIFACTS / "real-grading.json").write_text(json.dumps(self.timings, indent=1))
        if said["not_graded"]:
            self.results[lab] = f"the autograder could not grade {said['not_graded']}"
            return
        scores = {student: grading.cell_scores(course, lab, student) for student in said["students"]}
        self.results[lab] = GradedClass(course, lab, scores, said["reasons"])

    def stop(self) -> None:
        """At the end of the session: no further lab, and a grading still running interrupted (its jobs stopped)."""
        self.stopped = True
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # autograde stops its jobs on the way out
        self.thread.join(timeout=60)

    def get(self, lab: str) -> GradedClass:
        if lab in self.done:
            self.done[lab].wait(GRADING_TIMEOUT)
        elif lab not in self.results:
            self._grade(lab)
        result = self.results.get(lab, f"the grading of {lab} did not finish")
        assert not isinstance(result, str), f"{lab}: {result}"
        return result


def prove_lab(lab: str, work: Path, root: Path = ROOT, students: list[str] | None = None,
              whole: bool = True) -> shared_prefix.Proof:
    """The lab's wrong answers (or the `students` named) on the shared prefix of its graded notebook.

    The graded notebook is the solution with its hidden tests, in CI mode, as nbgrader grades it.
    """
    from mlops_course.course.questions import find_question, questions

    solution = notebooks.read(source_notebook(root, lab))
    found = questions(solution)
    variants = [shared_prefix.Variant(w.student, {w.answer_cell: w.code}, w.loses,
                                      check=find_question(found, w.answer_cell).id)
                for w in mistakes.wrong_answers(lab) if students is None or w.student in students]
    folder = lab_folder_copy(lab, work / lab, root)
    return shared_prefix.prove(mistakes.ci_submission(solution), folder, variants, whole=whole, timeout=PROOF_TIMEOUT)


class ProofPool:
    """Proves the labs' wrong answers one lab at a time in a background thread, in the order asked."""

    def __init__(self, labs: list[str], base: Path):
        self.labs, self.base = labs, base
        self.stopped = False
        self.timings: dict[str, dict] = {}
        self.done = {lab: threading.Event() for lab in labs}
        self.results: dict[str, shared_prefix.Proof | str] = {}
        import_before_threads()
        self.thread = threading.Thread(target=self._work, name="shared-prefix-proofs", daemon=True)
        self.thread.start()

    def _work(self) -> None:
        for lab in self.labs:
            if self.stopped:
                break
            started = time.time()
            try:
                self.results[lab] = prove_lab(lab, self.base / lab)
            except Exception:  # noqa: BLE001 (the tests of that lab report it; the other labs go on)
                self.results[lab] = traceback.format_exc()
            self._record(lab, started)
            self.done[lab].set()
        PROOFS_DONE.set()  # the blank labs' checks take the background next

    def _record(self, lab: str, started: float) -> None:
        """When each lab's proof ran and what it cost, for `make bench` (test-artifacts/shared-prefix.json)."""
        result = self.results[lab]
        self.timings[lab] = {"start": started, "end": time.time(),
                             "cpu_seconds": 0.0 if isinstance(result, str) else result.cpu_seconds}
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "shared-prefix.json").write_text(json.dumps(self.timings, indent=1))

    def stop(self) -> None:
        """At the end of the session: no further lab, and the running one ended with all it started."""
        self.stopped = True
        shared_prefix.stop_all()
        self.thread.join(timeout=30)

    def folder(self, lab: str) -> Path:
        """The lab's folder as the whole run of its solution left it (each fork's changes undone)."""
        self.get(lab)
        return self.base / lab / lab

    def get(self, lab: str) -> shared_prefix.Proof:
        assert lab in self.done, f"{lab} was not scheduled for a shared-prefix proof"
        self.done[lab].wait(PROOF_TIMEOUT + 60)
        result = self.results.get(lab, f"the proof of {lab} did not finish")
        assert not isinstance(result, str), f"{lab}: the shared-prefix run failed:\n{result}"
        return result


PROVEN_LABS: list[str] = []
GRADED_LABS: list[str] = []
POOL: list[ProofPool] = []  # the one pool of the session, once started
GRADING: list[GradingPool] = []


def start_proofs() -> ProofPool:
    """The background proofs of the labs some selected test reads, started on first call."""
    if not POOL:
        POOL.append(ProofPool(list(PROVEN_LABS), Path(tempfile.mkdtemp(prefix="mlops-course-proofs-"))))
    return POOL[0]


def start_grading() -> GradingPool:
    """The background grading of the labs some selected test reads, started on first call."""
    if not GRADING:
        GRADING.append(GradingPool(list(GRADED_LABS), Path(tempfile.mkdtemp(prefix="mlops-course-graded-"))))
    return GRADING[0]


def labs_read(items, fixture: str) -> list[str]:
    """The labs whose `fixture` the items read, in the order they come."""
    labs = []
    for item in (item for item in items if fixture in item.fixturenames):
        params = getattr(getattr(item, "callspec", None), "params", {})
        lab = params.get("lab") or getattr(params.get("wrong"), "lab", None)
        if lab and lab not in labs:
            labs.append(lab)
    return labs


@pytest.hookimpl(trylast=True)  # after -k, -m and --lab have deselected what will not run
def pytest_collection_modifyitems(session, config, items):
    """Tests that read real grading, the shared-prefix proofs or a blank lab's check run last, so that those
    compute in the background while the rest runs; they start with the first test that does not run `alone`."""
    needing = [item for item in items if {"graded", "proven", "blank_check"} & set(getattr(item, "fixturenames", ()))]
    PROVEN_LABS[:] = labs_read(needing, "proven")
    GRADED_LABS[:] = labs_read(needing, "graded")
    if GRADED_LABS:
        BACKGROUND_STARTS.append(start_grading)
    if PROVEN_LABS:
        BACKGROUND_STARTS.append(start_proofs)
    others = [item for item in items if item not in needing]
    items[:] = others + needing


def pytest_sessionfinish(session, exitstatus):
    """No further lab, the running ones ended with all they started, and their folders removed."""
    for pool in POOL + GRADING:
        pool.stop()
        shutil.rmtree(pool.base, ignore_errors=True)


@pytest.fixture(scope="session")
def graded():
    """Real grading's cell scores per lab and student (computed in the background)."""
    return start_grading().get


@pytest.fixture(scope="session")
def proof_pool():
    """The background proofs (already running unless every test so far ran `alone`)."""
    return start_proofs()


@pytest.fixture(scope="session")
def proven(proof_pool):
    """The shared-prefix proof of a lab's wrong answers (computed in the background)."""
    return proof_pool.get


@pytest.fixture(scope="session")
def built_project(proof_pool, proven):
    """The folder the shared prefix's whole run of a lab's solution worked in, as it left it."""
    return proof_pool.folder
