"""Does every lab run, and does its autograder grade it right both ways?

For every lab in solutions/ (found at collection time, so a new lab is tested
without touching this file):
- real nbgrader grades a small class through the course's sandboxed autograde,
  with the CI parameters: every code cell of the solution runs, the solution
  gets every autograded point, the untouched released lab gets zero, and
  sampled wrong answers lose the points of the test cells they name;
- the self-check (what `check()` in the lab's last cell runs) passes every
  question of the finished lab without a hidden line: computed on the shared
  prefix's whole run of the solution, and, for the labs in PAPERMILL_LABS, also
  shown by the last cell of the learner's finished lab run under papermill;
- every plausible wrong answer in wrong_answers/<lab>.yml loses the points of
  the test cells it names, proven on the shared prefix (`mlops_course.proof.shared_prefix`:
  the graded notebook runs once, each wrong answer in a fork of it), and the
  self-check there fails its question with a visible test's message, or passes
  it when only hidden tests can catch the mistake;
- every autograded test cell has at least one such wrong answer.

tests/labs/test_agreement.py shows that the shared prefix and real nbgrader agree.
"""

from __future__ import annotations

import re

import pytest

from mlops_course.course import notebooks
from mlops_course.course.layout import source_notebook
from mlops_course.course.questions import find_question, questions, without_hidden_tests
from mlops_course.learner.selfcheck import Report, Status, report_from_outputs

from ..conftest import ROOT
from ..hidden_text import assert_reveals_nothing_hidden, assertion_messages
from .conftest import PAPERMILL_LABS
from .mistakes import HANDS_ON, LABS, graded_for_real, not_lost, wrong_answers

ALL_WRONG = [w for lab in LABS for w in wrong_answers(lab)]


def autograded(scores):
    return {k: v for k, v in scores.items() if v.autograded}


def test_labs_exist():
    """Is there at least one lab to test?"""
    assert LABS, "solutions/ holds no lab (a folder with a notebook of the same name)"


@pytest.mark.parametrize("lab", LABS)
def test_lab_has_quick_parameter(lab):
    """Does the lab's parameters cell define QUICK, the switch CI uses to run it on a sample?"""
    cell = notebooks.parameters_cell(notebooks.read(source_notebook(ROOT, lab)))
    assert cell is not None and f"{notebooks.QUICK_PARAMETER} =" in cell.source


def cells_not_run(nb) -> list[int]:
    return [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code" and cell.execution_count is None]


@pytest.mark.slow
@pytest.mark.parametrize("lab", LABS)
def test_solution_executes_in_ci_mode(lab, graded):
    """Does every code cell of the solution run, top to bottom with the CI parameters, when real nbgrader grades it?"""
    not_run = cells_not_run(graded(lab).notebook("solution"))
    assert not not_run, f"{lab}: code cells {not_run} did not run"


@pytest.mark.slow
@pytest.mark.parametrize("lab", PAPERMILL_LABS)
def test_finished_lab_runs_under_papermill_and_its_self_check_passes(lab, executed_lab, artifacts):
    """Does the learner's finished lab run under papermill with the CI parameters, its last cell showing the
    self-check report with every question passed and no hidden line?"""
    executed_lab(lab)
    executed = notebooks.read(artifacts / "executed" / f"{lab}.ipynb")
    not_run = cells_not_run(executed)
    assert not not_run, f"{lab}: code cells {not_run} did not run"
    report = report_from_outputs([c for c in executed.cells if c.cell_type == "code"][-1])
    assert report is not None, f"{lab}: the self-check cell printed no report"
    assert_self_check_passes(lab, report, len(questions(executed)))


def assert_self_check_passes(lab: str, report: Report, count: int) -> None:
    failing = {r.question.label: f"{r.status.value}: {r.hint}" for r in report.results
               if not r.question.manual and r.status is not Status.PASSED}
    assert not failing, f"{lab}: the solution should pass every visible test: {failing}"
    assert report.all_passed and len(report.results) == count
    assert_reveals_nothing_hidden(lab, report.text())


@pytest.mark.slow
@pytest.mark.parametrize("lab", HANDS_ON)
def test_check_on_the_solution_reports_all_passed(lab, proven):
    """Does the self-check pass every question of the finished lab without showing hidden tests?"""
    proof = proven(lab)
    assert proof.self_check is not None, f"{lab}: the shared-prefix run did not reach the end of the notebook"
    visible = without_hidden_tests(notebooks.read(source_notebook(ROOT, lab)))
    assert_self_check_passes(lab, Report.from_json(proof.self_check), len(questions(visible)))


@pytest.mark.slow
@pytest.mark.parametrize("lab", LABS)
def test_solution_gets_full_marks(lab, graded):
    """Does the solution score every autograded point in real grading?"""
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
    """Does the untouched released lab score zero in real grading, manual answers included?"""
    scores = graded(lab)["blank"]
    earned = {k: v.score for k, v in scores.items() if v.score > 0}
    assert not earned, f"the blank {lab} earned points in: {earned}"
    unanswered_manual = [k for k, v in scores.items() if not v.autograded and v.needs_manual_grade]
    assert not unanswered_manual, f"unanswered manual cells still wait for grading: {unanswered_manual}"


@pytest.mark.slow
@pytest.mark.parametrize("lab", [lab for lab in LABS if wrong_answers(lab)])
def test_sampled_wrong_answers_lose_points_in_real_grading(lab, graded):
    """Do the wrong answers real nbgrader grades (the two graded soonest) lose the points of the cells they name?"""
    sample = graded_for_real(lab, notebooks.read(source_notebook(ROOT, lab)))
    assert sample, f"{lab}: no wrong answer was graded for real"
    for wrong in sample:
        scores = graded(lab)[wrong.student]
        failures = not_lost(wrong, {c: scores[c].score for c in wrong.loses}, {c: scores[c].max_score for c in wrong.loses})
        assert not failures, "\n".join(failures)


@pytest.mark.slow
@pytest.mark.parametrize("wrong", ALL_WRONG, ids=lambda w: f"{w.lab}-{w.student}")
def test_wrong_answer_loses_points(wrong, proven):
    """Does this plausible mistake lose the points of the test cells it should fail?"""
    assert wrong.loses, f"{wrong.lab} {wrong.student}: name the test cells the mistake must fail under `loses`"
    proof = proven(wrong.lab)
    assert wrong.student not in proof.problems, f"{wrong.lab} {wrong.student}: {proof.problems.get(wrong.student)}"
    cells = proof.variants[wrong.student].cells
    missing = [c for c in wrong.loses if c not in cells]
    assert not missing, f"{wrong.lab}: no test cell named {missing}"
    failures = not_lost(wrong, {c: cells[c].score for c in wrong.loses}, {c: cells[c].max_score for c in wrong.loses})
    assert not failures, "\n".join(failures)


@pytest.mark.slow
@pytest.mark.parametrize("lab", [lab for lab in HANDS_ON if wrong_answers(lab)])
def test_check_on_wrong_answers_names_the_failing_question_with_its_hint(lab, proven):
    """Does each plausible mistake fail its question in the self-check with a hint from the visible tests
    (or pass, if only hidden tests catch it), without revealing a hidden test?"""
    proof = proven(lab)
    visible = without_hidden_tests(notebooks.read(source_notebook(ROOT, lab)))
    found = questions(visible)
    caught = []
    for wrong in wrong_answers(lab):
        assert wrong.student in proof.variants, f"{lab} {wrong.student}: {proof.problems.get(wrong.student)}"
        status, hint = proof.variants[wrong.student].check
        question = find_question(found, wrong.answer_cell)
        assert_reveals_nothing_hidden(lab, hint)
        if status == Status.PASSED.value:
            continue  # only the hidden tests catch this one; the grading tests prove that
        assert status in (Status.FAILED.value, Status.ERROR.value), f"{wrong.mistake}: {status}: {hint}"
        if status == Status.FAILED.value:
            messages = [m for t in question.tests for m in assertion_messages(notebooks.find_cell(visible, t).source)]
            assert any(re.fullmatch(m, hint, re.DOTALL) for m in messages), (
                f"{lab}, '{wrong.mistake}': the hint '{hint}' is not one of the visible tests' messages"
            )
        caught.append(wrong.mistake)
    assert caught, f"{lab}: no wrong answer is caught by a visible test; learners would get no hint at all"


@pytest.mark.parametrize("lab", LABS)
def test_every_wrong_answer_names_the_test_cells_it_must_fail(lab):
    """Does every wrong answer name at least one test cell under `loses`, so that its proofs check something?"""
    unchecked = [f"{w.student} ('{w.mistake}')" for w in wrong_answers(lab) if not w.loses]
    assert not unchecked, (
        f"{lab}: these wrong answers name no test cell under `loses` in tests/labs/wrong_answers/{lab}.yml, "
        f"so no test would check that they lose points: {unchecked}")


@pytest.mark.parametrize("lab", LABS)
def test_every_test_cell_has_a_wrong_answer(lab):
    """Is every autograded test cell shown to catch at least one plausible mistake?"""
    tests = {c.grade_id for c in notebooks.autograded_tests(notebooks.read(source_notebook(ROOT, lab)))}
    covered = {cell for w in wrong_answers(lab) for cell in w.loses}
    assert tests - covered == set(), (
        f"{lab}: add a wrong answer to tests/labs/wrong_answers/{lab}.yml for {sorted(tests - covered)}"
    )
    assert covered - tests == set(), f"{lab}: wrong answers name unknown test cells {sorted(covered - tests)}"
