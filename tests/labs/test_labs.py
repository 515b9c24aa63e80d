"""Does every lab run, and does its autograder grade it right both ways?

For every lab in solutions/ (found at collection time, so a new lab is tested
without touching this file):
- the solution notebook runs under papermill with the CI parameters;
- real nbgrader grades a small class: the solution gets every autograded
  point, the untouched released lab gets zero, and each plausible wrong answer
  in wrong_answers/<lab>.yml loses the points of the test cells it names;
- every autograded test cell has at least one such wrong answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from mlops_course import grading, notebooks
from mlops_course.autograde import autograde
from mlops_course.course import GRADING_DIR
from mlops_course.layout import lab_names, release_notebook, source_notebook
from mlops_course.quiz import is_quiz

from ..conftest import ROOT, copy_course

# Hands-on labs only: lesson quizzes (quiz-<chapter>) have no QUICK parameter or wrong-answer files;
# tests/test_quiz.py grades every one of their wrong options instead.
LABS = [lab for lab in lab_names(ROOT) if not is_quiz(lab)]
WRONG_ANSWERS = Path(__file__).parent / "wrong_answers"
GRADING_JOBS = 2


@dataclass(frozen=True)
class WrongAnswer:
    lab: str
    number: int
    mistake: str
    answer_cell: str
    loses: tuple[str, ...]
    code: str

    @property
    def student(self) -> str:
        return f"wrong-{self.number:02d}"


def wrong_answers(lab: str) -> list[WrongAnswer]:
    path = WRONG_ANSWERS / f"{lab}.yml"
    if not path.exists():
        return []
    entries = yaml.safe_load(path.read_text()) or []
    return [
        WrongAnswer(lab, i + 1, e["mistake"], e["answer_cell"], tuple(e["loses"]), e["code"])
        for i, e in enumerate(entries)
    ]


ALL_WRONG = [w for lab in LABS for w in wrong_answers(lab)]


def ci_submission(nb):
    return notebooks.with_parameters(nb, notebooks.CI_PARAMETERS)


class GradedClass(dict):
    """Cell scores per student, plus where the graded notebooks are and why any submission lost points."""

    def __init__(self, course: Path, lab: str, scores: dict[str, dict[str, grading.CellScore]], reasons: dict[str, list[str]]):
        super().__init__(scores)
        self.course, self.lab, self.reasons = course, lab, reasons

    def errors(self, student: str, grade_ids) -> dict[str, str]:
        """The end of the error each named cell printed in the student's graded notebook: what a failure report needs."""
        nb = notebooks.read(self.course / GRADING_DIR / "autograded" / student / self.lab / f"{self.lab}.ipynb")
        found = {}
        for grade_id in grade_ids:
            outputs = notebooks.find_cell(nb, grade_id).get("outputs", [])
            # nbgrader fails a test cell on an error or on anything written to stderr.
            errors = [f"{o.ename}: {o.evalue}" for o in outputs if o.output_type == "error"]
            errors += [f"stderr: {o.text!r}" for o in outputs if o.output_type == "stream" and o.name == "stderr"]
            found[grade_id] = "; ".join(errors)[-1500:] or "no error output"
        return found


def grade_class(course: Path, lab: str) -> GradedClass:
    """Release the lab, submit the solution, the blank lab and every wrong answer, grade them all.

    Grading goes through the course's sandboxed parallel autograde (two jobs), as an instructor's would.
    """
    grading.generate_assignment(course, lab)
    solution = notebooks.read(source_notebook(course, lab))
    blank = notebooks.read(release_notebook(course, lab))
    submissions = {"solution": ci_submission(solution), "blank": ci_submission(blank)}
    for wrong in wrong_answers(lab):
        answered = notebooks.with_answer(solution, wrong.answer_cell, wrong.code)
        submissions[wrong.student] = ci_submission(notebooks.skipping_after(answered, wrong.loses))
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
    cache: dict[str, dict] = {}

    def get(lab: str):
        if lab not in cache:
            course = copy_course(tmp_path_factory.mktemp(f"course-{lab}"), [lab])
            cache[lab] = grade_class(course, lab)
        return cache[lab]

    return get


def autograded(scores: dict[str, grading.CellScore]) -> dict[str, grading.CellScore]:
    return {k: v for k, v in scores.items() if v.autograded}


def test_labs_exist():
    """Is there at least one lab to test?"""
    assert LABS, "solutions/ holds no lab (a folder with a notebook of the same name)"


@pytest.mark.slow
@pytest.mark.parametrize("lab", LABS)
def test_solution_executes_in_ci_mode(lab, executed_lab, artifacts):
    """Does the solution notebook run from top to bottom under papermill with the CI parameters?"""
    executed_lab(lab)
    executed = notebooks.read(artifacts / "executed" / f"{lab}.ipynb")
    not_run = [i for i, cell in enumerate(executed.cells) if cell.cell_type == "code" and cell.execution_count is None]
    assert not not_run, f"{lab}: code cells {not_run} did not run"


@pytest.mark.parametrize("lab", LABS)
def test_lab_has_quick_parameter(lab):
    """Does the lab's parameters cell define QUICK, the switch CI uses to run it on a sample?"""
    cell = notebooks.parameters_cell(notebooks.read(source_notebook(ROOT, lab)))
    assert cell is not None and f"{notebooks.QUICK_PARAMETER} =" in cell.source


@pytest.mark.slow
@pytest.mark.parametrize("lab", LABS)
def test_solution_gets_full_marks(lab, graded):
    """Does the solution score every autograded point?"""
    scores = autograded(graded(lab)["solution"])
    assert scores, f"{lab} has no autograded test cells"
    lost = {k: f"{v.score}/{v.max_score}" for k, v in scores.items() if v.score < v.max_score}
    assert not lost, (
        f"the solution of {lab} lost points in: {lost}; the grader's reasons: {graded(lab).reasons.get('solution')}; "
        f"the cells' errors: {graded(lab).errors('solution', lost)}"
    )


@pytest.mark.slow
@pytest.mark.parametrize("lab", LABS)
def test_blank_lab_gets_zero(lab, graded):
    """Does the untouched released lab score zero, manual answers included?"""
    scores = graded(lab)["blank"]
    earned = {k: v.score for k, v in scores.items() if v.score > 0}
    assert not earned, f"the blank {lab} earned points in: {earned}"
    unanswered_manual = [k for k, v in scores.items() if not v.autograded and v.needs_manual_grade]
    assert not unanswered_manual, f"unanswered manual cells still wait for grading: {unanswered_manual}"


@pytest.mark.slow
@pytest.mark.parametrize("wrong", ALL_WRONG, ids=lambda w: f"{w.lab}-{w.student}")
def test_wrong_answer_loses_points(wrong, graded):
    """Does this plausible mistake lose the points of the test cells it should fail?"""
    scores = graded(wrong.lab)[wrong.student]
    for cell in wrong.loses:
        assert cell in scores, f"{wrong.lab}: no test cell named '{cell}'"
        assert scores[cell].score == 0, (
            f"{wrong.lab}: the mistake '{wrong.mistake}' in '{wrong.answer_cell}' "
            f"still earned {scores[cell].score}/{scores[cell].max_score} in '{cell}'"
        )


@pytest.mark.parametrize("lab", LABS)
def test_every_test_cell_has_a_wrong_answer(lab):
    """Is every autograded test cell shown to catch at least one plausible mistake?"""
    tests = {c.grade_id for c in notebooks.autograded_tests(notebooks.read(source_notebook(ROOT, lab)))}
    covered = {cell for w in wrong_answers(lab) for cell in w.loses}
    assert tests - covered == set(), (
        f"{lab}: add a wrong answer to tests/labs/wrong_answers/{lab}.yml for {sorted(tests - covered)}"
    )
    assert covered - tests == set(), f"{lab}: wrong answers name unknown test cells {sorted(covered - tests)}"
