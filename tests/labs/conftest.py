"""Fixtures of the lab tests, each paid once per lab:

- `executed_lab`: the learner's finished lab (the solution's answers, no hidden tests) run under
  papermill with the CI parameters; its last cell is the learner's self-check (PAPERMILL_LABS: Lab 01);
- `graded`: real nbgrader, through the course's sandboxed `autograde`, grades a small class: the
  solution, the blank lab and the wrong answers of `mistakes.graded_for_real`;
- `proven`: every wrong answer proven on the shared prefix (`mlops_course.proof.shared_prefix`). These
  runs start in the background with the first test (tests/conftest.py), nice, and take the CPU time
  the other tests leave; the tests that need them run last (see `pytest_collection_modifyitems`);
- `built_project`: the lab's folder after the shared prefix's whole run of the solution: the
  project a learner's finished lab leaves (Lab 06's CI script runs there).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
import traceback
from pathlib import Path

import pytest

from mlops_course.grading import nbgrader_runs as grading
from mlops_course.course import notebooks
from mlops_course.proof import shared_prefix
from mlops_course.grading.autograde import autograde
from mlops_course.course.config import GRADING_DIR, IGNORED_FILES
from mlops_course.course.layout import release_notebook, source_notebook
from mlops_course.course.questions import without_hidden_tests

from ..conftest import ARTIFACTS, KERNEL, NICE_STARTS, PROOFS_DONE, ROOT, copy_course, import_before_threads
from . import mistakes

EXECUTION_TIMEOUT = 300
# The first lab runs under papermill as a learner's finished notebook, to prove that route and the self-check
# cell in a real kernel. Every other lab's solution runs in real grading and on the shared prefix, which prove
# the same things of it (Lab 06's CI-script tests work in the project the shared prefix's whole run built).
PAPERMILL_LABS = mistakes.LABS[:1]
GRADING_JOBS = 2
PROOF_TIMEOUT = 2400


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


def grade_class(course: Path, lab: str) -> GradedClass:
    """Release the lab, submit the solution, the blank lab and the sampled wrong answers, grade them all.

    Grading goes through the course's sandboxed parallel autograde (two jobs), as an instructor's would.
    """
    grading.generate_assignment(course, lab)
    solution = notebooks.read(source_notebook(course, lab))
    blank = notebooks.read(release_notebook(course, lab))
    submissions = {"solution": mistakes.ci_submission(solution), "blank": mistakes.ci_submission(blank)}
    for wrong in mistakes.graded_for_real(lab, solution):
        submissions[wrong.student] = wrong.submission(solution)
    for student, nb in submissions.items():
        grading.submit(course, lab, student, {lab: nb})
    results = autograde(course, lab, jobs=GRADING_JOBS, progress=False)
    not_graded = {r.student: r.reasons for r in results if r.status == "not graded"}
    assert not not_graded, f"{lab}: the autograder could not grade {not_graded}"
    reasons = {r.student: r.reasons for r in results if r.reasons}
    return GradedClass(course, lab, {student: grading.cell_scores(course, lab, student) for student in submissions}, reasons)


@pytest.fixture(scope="session")
def graded(tmp_path_factory):
    """Grades per lab and student, computed once per lab on first use."""
    cache: dict[str, GradedClass] = {}

    def get(lab: str) -> GradedClass:
        if lab not in cache:
            course = copy_course(tmp_path_factory.mktemp(f"course-{lab}"), [lab])
            cache[lab] = grade_class(course, lab)
        return cache[lab]

    return get


def prove_lab(lab: str, work: Path, root: Path = ROOT, students: list[str] | None = None,
              whole: bool = True, background: bool = False) -> shared_prefix.Proof:
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
    return shared_prefix.prove(mistakes.ci_submission(solution), folder, variants, whole=whole, timeout=PROOF_TIMEOUT,
                               background=background)


class ProofPool:
    """Proves the labs' wrong answers in the background, two labs at a time, the costliest first.

    The runs are nice (`background=True`): the tests in front keep the cores they use, and the proofs
    take what they leave, two at a time so that both cores fill when the tests in front use one.
    """

    WORKERS = 2

    def __init__(self, labs: list[str], base: Path):
        self.labs, self.base = labs, base
        self.stopped = False
        self.timings: dict[str, dict] = {}
        self.done = {lab: threading.Event() for lab in labs}
        self.results: dict[str, shared_prefix.Proof | str] = {}
        self.queue = sorted(labs, reverse=True)  # the later labs run the longer pipelines (Lab 06 the longest)
        self.lock = threading.Lock()
        import_before_threads()
        self.threads = [threading.Thread(target=self._work, name=f"shared-prefix-proofs-{i}", daemon=True)
                        for i in range(min(self.WORKERS, len(labs)))]
        for thread in self.threads:
            thread.start()
        if not self.threads:
            PROOFS_DONE.set()

    def _next(self) -> str | None:
        with self.lock:
            return None if self.stopped or not self.queue else self.queue.pop(0)

    def _work(self) -> None:
        while (lab := self._next()) is not None:
            started = time.time()
            try:
                self.results[lab] = prove_lab(lab, self.base / lab, background=True)
            except Exception:  # noqa: BLE001 (the tests of that lab report it; the other labs go on)
                self.results[lab] = traceback.format_exc()
            with self.lock:
                self._record(lab, started)
            self.done[lab].set()
        if all(event.is_set() for event in self.done.values()) or self.stopped:
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
        for thread in self.threads:
            thread.join(timeout=30)

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
POOL: list[ProofPool] = []  # the one pool of the session, once started


def start_proofs() -> ProofPool:
    """The background proofs of the labs some selected test reads, started on first call."""
    if not POOL:
        POOL.append(ProofPool(list(PROVEN_LABS), Path(tempfile.mkdtemp(prefix="mlops-course-proofs-"))))
    return POOL[0]


@pytest.hookimpl(trylast=True)  # after -k, -m and --lab have deselected what will not run
def pytest_collection_modifyitems(session, config, items):
    """Tests that read the shared-prefix proofs or a blank lab's check run last, so that those compute in the
    background while the rest runs; the proofs (nice) start with the first test."""
    needing = [item for item in items if {"proven", "blank_check"} & set(getattr(item, "fixturenames", ()))]
    labs = []
    for item in (item for item in needing if "proven" in item.fixturenames):
        params = getattr(getattr(item, "callspec", None), "params", {})
        lab = params.get("lab") or getattr(params.get("wrong"), "lab", None)
        if lab and lab not in labs:
            labs.append(lab)
    PROVEN_LABS[:] = labs
    if labs:
        NICE_STARTS.append(start_proofs)
    others = [item for item in items if item not in needing]
    items[:] = others + needing


def pytest_sessionfinish(session, exitstatus):
    """No further lab, the running one ended with all it started, and its folders removed."""
    if POOL:
        POOL[0].stop()
        shutil.rmtree(POOL[0].base, ignore_errors=True)


@pytest.fixture(scope="session")
def proof_pool():
    """The background proofs (running since the first test)."""
    return start_proofs()


@pytest.fixture(scope="session")
def proven(proof_pool):
    """The shared-prefix proof of a lab's wrong answers (computed in the background)."""
    return proof_pool.get


@pytest.fixture(scope="session")
def built_project(proof_pool, proven):
    """The folder the shared prefix's whole run of a lab's solution worked in, as it left it."""
    return proof_pool.folder
