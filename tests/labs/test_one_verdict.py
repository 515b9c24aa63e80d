"""Do check(), validate, progress and the grader give one verdict on every question a learner answers?

For every lab, on the solution and on every plausible wrong answer of tests/labs/wrong_answers/:
the shared prefix runs the answer once (`mlops_course.proof.shared_prefix`), and there, in the same
state, the four routes judge the answer's question:

- the grader: the test cells, hidden tests included, judged by nbgrader's rules (the agreement
  test shows this route gives what real nbgrader gives);
- `check()`: the self-check's own run of the visible tests (`selfcheck.run_visible_tests`);
- progress and validate: the learner's saved notebook, its test cells holding the outputs they
  show when run as the learner has them, read by `progress.question_status` and judged by
  nbgrader's validator without running anything again (`validate_notebook(executed=True)`).

The three that see only visible tests must agree exactly. The grader must fail every question they
fail; where it fails one they pass, only a hidden test can have caught the mistake (the visible
lines passed in the same state), which is what hidden tests are for, and the feedback says so.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from nbformat import NotebookNode

from mlops_course.course import notebooks
from mlops_course.learner import progress
from mlops_course.course.layout import release_notebook, source_notebook
from mlops_course.course.questions import Question, cells_by_id, find_question, questions
from mlops_course.learner.validate import validate_notebook

from ..conftest import ROOT
from .mistakes import HANDS_ON, wrong_answers

VISIBLE_ROUTES = ("check()", "validate", "progress")


def learners_notebook(lab: str, answers: dict[str, str], outputs: dict[str, list]) -> NotebookNode:
    """The released lab with the solution's answers, then `answers`, and the test cells' outputs as run."""
    nb = notebooks.read(release_notebook(ROOT, lab))
    for cell in notebooks.read(source_notebook(ROOT, lab)).cells:
        meta = notebooks.nbgrader_meta(cell)
        if meta.get("solution") and cell.cell_type == "code":
            nb = notebooks.with_answer(nb, meta["grade_id"], answers.get(meta["grade_id"], cell.source))
    for number, cell in enumerate(nb.cells, 1):
        grade_id = notebooks.nbgrader_meta(cell).get("grade_id")
        if grade_id in outputs:
            cell.outputs, cell.execution_count = outputs[grade_id], number
    return nb


def failed_in_validation(nb: NotebookNode, folder: Path) -> set[str]:
    """The questions nbgrader's validator fails in a learner's notebook, judged on its saved outputs."""
    path = folder / f"{folder.name}.ipynb"
    folder.mkdir(parents=True, exist_ok=True)
    notebooks.write(nb, path)
    return {label for label, _ in validate_notebook(path, executed=True).failed}


def verdicts(question: Question, nb: NotebookNode, check_status: str, graded: dict, invalid: set[str]) -> dict[str, bool]:
    """Pass (True) or fail, per route, for one question of a learner's notebook (`invalid`: what validate fails)."""
    return {
        "check()": check_status == "passed",
        "validate": question.label not in invalid,
        "progress": progress.question_status(question, cells_by_id(nb)) == progress.PASSED,
        "grader": all(graded[t].score == graded[t].max_score for t in question.tests if t in graded),
    }


def disagreement(found: dict[str, bool]) -> str | None:
    """Why these verdicts are not one truth, or None: the visible routes alike, the grader failing whatever they fail."""
    visible = {found[route] for route in VISIBLE_ROUTES}
    if len(visible) > 1:
        return "the routes that see the visible tests disagree"
    if visible == {False} and found["grader"]:
        return "the grader gives the points the visible tests refuse"
    return None


@pytest.mark.slow
@pytest.mark.parametrize("lab", HANDS_ON)
def test_check_validate_progress_and_the_grader_give_one_verdict(lab, proven, tmp_path):
    """On the solution and on every wrong answer, do the four routes give each answered question one verdict?"""
    proof = proven(lab)
    found_questions = questions(notebooks.read(release_notebook(ROOT, lab)))
    problems, failed_by_all = [], 0
    assert proof.self_check is not None and proof.visible_outputs is not None, f"{lab}: no whole run"
    solution_check = {r["id"]: r["status"] for r in proof.self_check["results"]}
    finished = learners_notebook(lab, {}, proof.visible_outputs)
    invalid = failed_in_validation(finished, tmp_path / "solution" / lab)
    for question in (q for q in found_questions if not q.manual):
        found = verdicts(question, finished, solution_check[question.id], proof.solution, invalid)
        if not all(found.values()):
            problems.append(f"the solution, {question.label}: {found}")
    for wrong in wrong_answers(lab):
        variant = proof.variants[wrong.student]
        question = find_question(found_questions, wrong.answer_cell)
        nb = learners_notebook(lab, {wrong.answer_cell: wrong.code}, variant.visible_outputs)
        found = verdicts(question, nb, variant.check[0], variant.cells, failed_in_validation(nb, tmp_path / wrong.student / lab))
        why = disagreement(found)
        if why:
            problems.append(f"'{wrong.mistake}' ({question.label}): {why}: {found}")
        failed_by_all += not any(found.values())
    assert not problems, f"{lab}: the routes disagree:\n" + "\n".join(problems)
    assert failed_by_all, f"{lab}: no wrong answer is failed by all four routes; the comparison would prove nothing"


@pytest.mark.slow
@pytest.mark.parametrize("lab", HANDS_ON)
def test_the_four_routes_agree_that_the_blank_lab_has_nothing_done(lab, blank_check, graded, tmp_path):
    """On the untouched lab, do check(), validate, progress and real grading all say that no question is done?"""
    blank = notebooks.read(release_notebook(ROOT, lab))
    checked = {r.question.id: r.status.value for r in blank_check(lab).results}
    folder = tmp_path / lab
    folder.mkdir()
    notebooks.write(blank, folder / f"{lab}.ipynb")
    unwritten = set(validate_notebook(folder / f"{lab}.ipynb", executed=True).unanswered)
    scores = graded(lab)["blank"]
    problems = {}
    for question in questions(blank):
        found = {
            "check()": checked[question.id] in ("not done", "to write"),
            "validate": question.label in unwritten,
            "progress": progress.question_status(question, cells_by_id(blank)) in (progress.NOT_STARTED, progress.TO_WRITE),
            "grader": all(scores[t].score == 0 for t in (*question.tests, *([question.id] if question.manual else []))),
        }
        if not all(found.values()):
            problems[question.label] = found
    assert not problems, f"{lab}: a route counts something in the blank lab as done: {problems}"


def test_the_comparison_names_routes_that_disagree():
    """Is a question that check() passes but progress fails, or that the grader passes while all others fail, named?"""
    agree = {"check()": True, "validate": True, "progress": True, "grader": True}
    assert disagreement(agree) is None
    assert disagreement({**agree, "grader": False}) is None  # caught by a hidden test only
    assert disagreement({**agree, "progress": False}) == "the routes that see the visible tests disagree"
    refused = {"check()": False, "validate": False, "progress": False, "grader": True}
    assert disagreement(refused) == "the grader gives the points the visible tests refuse"
