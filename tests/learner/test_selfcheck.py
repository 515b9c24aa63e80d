"""Does the self-check report each question right, with the visible test's hint, and never reveal hidden tests?

The fast tests use a toy notebook made in code; the slow ones run every blank
lab in solutions/ (found at collection time) through `mlops-course check` and
expect every question not done. The solution's self-check and each wrong
answer's hint are proven with the lab's other tests, in tests/labs/test_labs.py,
on runs those tests make anyway.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from mlops_course.course import notebooks
from mlops_course.errors import SelfCheckError, UnknownQuestionError
from mlops_course.course.layout import lab_names, release_notebook, source_notebook
from mlops_course.course.questions import find_question, questions, without_hidden_tests
from mlops_course.learner.selfcheck import (CHECK_IMPORT, Report, Status, check, find_notebook,
                                    run_visible_tests)

from .. import nbfactory as nbf
from ..conftest import ROOT

LABS = lab_names(ROOT)
# Hands-on labs end with the self-check; quizzes check only the form of an answer visibly (the key is in
# hidden tests), so they have no self-check cell (tests/quiz/test_quiz.py grades them).
HANDS_ON = [lab for lab in LABS if lab.startswith("lab")]


def toy_namespace(source: str) -> dict:
    namespace: dict = {}
    exec(source, namespace)
    return namespace


def statuses(results) -> dict[str, tuple[Status, str]]:
    return {r.question.id: (r.status, r.hint) for r in results}


# --- grouping cells into questions -------------------------------------------------------------

def test_questions_group_prompt_answer_and_tests():
    """Does each question gather its prompt's label, its answer cell and the test cells after it?"""
    found = questions(nbf.toy_lab())
    assert [(q.id, q.label, q.answers, q.tests, q.points, q.manual) for q in found] == [
        ("double", "Question 1", ("double",), ("test_double",), 2.0, False),
        ("limit", "Question 2", ("limit",), ("test_limit_type", "test_limit_value"), 2.0, False),
        ("why", "Question 3", ("why",), (), 2.0, True),
    ]


def test_a_question_can_be_named_by_number_cell_or_label():
    """Can a learner pick a question by its number, answer cell, test cell or label, and get the list when wrong?"""
    found = questions(nbf.toy_lab())
    for name in ("2", "limit", "test_limit_value", "Question 2"):
        assert find_question(found, name).id == "limit"
    with pytest.raises(UnknownQuestionError, match=r"no question 'nope'.*double \(Question 1\).*limit"):
        find_question(found, "nope")


@pytest.mark.parametrize("lab", LABS)
def test_every_graded_cell_of_a_lab_belongs_to_exactly_one_question(lab):
    """Does every answer and test cell of the lab land in one question, so the self-check covers the whole lab?"""
    nb = notebooks.read(source_notebook(ROOT, lab))
    found = questions(nb)
    grouped = [name for q in found for name in (*q.answers, *q.tests)]
    graded = [c.grade_id for c in notebooks.graded_cells(nb) if c.solution or c.is_autograded_test]
    assert sorted(grouped) == sorted(graded)
    assert sum(q.points for q in found) == sum(c.points for c in notebooks.graded_cells(nb))


def test_hidden_tests_are_stripped_like_nbgrader_releases_them():
    """Does the copy the self-check runs keep the visible tests and drop the hidden block?"""
    visible = without_hidden_tests(nbf.toy_lab())
    source = notebooks.find_cell(visible, "test_double").source
    assert "double(2) == 4" in source and "HIDDEN-SECRET" not in source
    assert "HIDDEN-SECRET" in notebooks.find_cell(nbf.toy_lab(), "test_double").source, "the original must stay intact"


# --- running visible tests against a namespace ---------------------------------------------------

def test_a_correct_answer_passes_and_hidden_tests_never_run():
    """Does a right answer pass, even though the (stripped) hidden test would fail it?"""
    namespace = toy_namespace("def double(x):\n    return 2 * x if x > 0 else 0\nLIMIT = 10")
    results = statuses(run_visible_tests(nbf.toy_lab(), namespace))
    assert results["double"] == (Status.PASSED, "")
    assert results["limit"] == (Status.PASSED, "")


def test_a_wrong_answer_fails_with_the_assertion_message_as_hint():
    """Does a failing visible test report its own message, formatted values included?"""
    namespace = toy_namespace("def double(x):\n    return x + 2\nLIMIT = 7")
    results = statuses(run_visible_tests(nbf.toy_lab(), namespace))
    assert results["double"] == (Status.PASSED, ""), "x + 2 fits the visible example; only the hidden test can catch it"
    assert results["limit"] == (Status.FAILED, "LIMIT is 7; it should be at least 10")
    namespace = toy_namespace("def double(x):\n    return x * 3\nLIMIT = 10.0")
    results = statuses(run_visible_tests(nbf.toy_lab(), namespace))
    assert results["double"] == (Status.FAILED, "double(2) should be 4")
    assert results["limit"] == (Status.FAILED, "LIMIT should be a whole number"), "the first failing test cell wins"


def test_an_unwritten_answer_is_not_done():
    """Is an answer that still raises NotImplementedError, or a name never defined, reported as not done?"""
    namespace = toy_namespace("def double(x):\n    raise NotImplementedError()")
    results = statuses(run_visible_tests(nbf.toy_lab(), namespace))
    assert results["double"][0] is Status.NOT_DONE and "NotImplementedError" in results["double"][1]
    assert results["limit"][0] is Status.NOT_DONE and "'LIMIT' is not defined" in results["limit"][1]
    assert results["why"][0] is Status.TO_WRITE


def test_an_error_inside_the_learners_code_is_an_error_not_a_missing_answer():
    """Does a NameError or TypeError raised inside the learner's function say what went wrong?"""
    namespace = toy_namespace("def double(x):\n    return 2 * y\nLIMIT = None")
    results = statuses(run_visible_tests(nbf.toy_lab(), namespace))
    assert results["double"] == (Status.ERROR, "NameError: name 'y' is not defined")
    assert results["limit"][0] is Status.FAILED
    namespace = toy_namespace("def double(x):\n    return x + 'a'\nLIMIT = 10")
    assert statuses(run_visible_tests(nbf.toy_lab(), namespace))["double"][0] is Status.ERROR


def test_tests_do_not_touch_the_learners_variables():
    """Do the test cells' private variables stay out of the learner's namespace?"""
    namespace = toy_namespace("def double(x):\n    return 2 * x\nLIMIT = 10")
    before = set(namespace)
    run_visible_tests(nbf.toy_lab(), namespace)
    assert set(namespace) == before, f"the check added {set(namespace) - before}"


def test_a_written_answer_in_words_counts_as_written():
    """Is an answer in words that no longer holds the released stub reported as written for the instructor?"""
    nb = nbf.toy_lab()
    notebooks.find_cell(nb, "why").source = "Because the future is not in the training data."
    results = statuses(run_visible_tests(nb, {}, question="3"))
    assert list(results) == ["why"] and results["why"][0] is Status.WRITTEN


def test_the_report_shows_hints_but_no_test_source():
    """Does the text and HTML report name each question and hint, without a line of test code?"""
    namespace = toy_namespace("def double(x):\n    return x\nLIMIT = 3")
    report = Report("lab99-toy", tuple(run_visible_tests(nbf.toy_lab(), namespace)))
    for shown in (report.text(), report.html()):
        assert "double(2) should be 4" in shown and "LIMIT is 3; it should be at least 10" in shown
        assert "assert" not in shown and "HIDDEN-SECRET" not in shown and "_seen" not in shown
    assert "0 of 2 questions pass their visible tests; 0 of 1 answer in words written." in report.text()
    assert not report.all_passed
    assert Report.from_json(report.to_json()) == report


# --- finding the notebook from inside a kernel -----------------------------------------------------

def test_find_notebook_prefers_what_jupyter_says_then_the_lab_folder(tmp_path, monkeypatch):
    """Does check() find its notebook from Jupyter's session, or from the lab folder it runs in?"""
    lab = tmp_path / "lab99-toy"
    lab.mkdir()
    notebooks.write(nbf.toy_lab(), lab / "lab99-toy.ipynb")
    notebooks.write(nbf.toy_lab(), lab / "scratch.ipynb")
    monkeypatch.chdir(lab)
    assert find_notebook({}) == lab / "lab99-toy.ipynb"
    assert find_notebook({"__session__": str(lab / "scratch.ipynb")}) == lab / "scratch.ipynb"
    assert find_notebook({}, "scratch.ipynb") == Path("scratch.ipynb")
    with pytest.raises(SelfCheckError, match="there is no notebook"):
        find_notebook({}, "missing.ipynb")
    other = tmp_path / "elsewhere"
    other.mkdir()
    for name in ("a.ipynb", "b.ipynb"):
        notebooks.write(nbf.toy_lab(), other / name)
    monkeypatch.chdir(other)
    with pytest.raises(SelfCheckError, match=r"could not tell which notebook.*check\(notebook="):
        find_notebook({})


def test_check_outside_a_notebook_says_how_to_check_from_a_terminal(monkeypatch):
    """Does calling check() from plain Python point to `mlops-course check`?"""
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    with pytest.raises(SelfCheckError, match="mlops-course check"):
        check()


def test_check_stays_quiet_while_nbgrader_grades(monkeypatch, capsys):
    """Does the self-check cell skip itself when nbgrader runs the notebook (autograde, validate)?"""
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    check()
    assert "skipped" in capsys.readouterr().out


# --- every lab, for real -------------------------------------------------------------------------

@pytest.mark.parametrize("lab", HANDS_ON)
def test_every_lab_ends_with_the_self_check_cell(lab):
    """Is the last code cell of the lab the one-line self-check (see CONTRIBUTING.md)?"""
    nb = notebooks.read(source_notebook(ROOT, lab))
    last = [c for c in nb.cells if c.cell_type == "code"][-1]
    assert CHECK_IMPORT in last.source and "check()" in last.source, (
        f"{lab}: end the lab with a code cell `from mlops_course.selfcheck import check; check()` before 'Done'"
    )
    assert not notebooks.nbgrader_meta(last), f"{lab}: the self-check cell must be a plain cell, not graded"


@pytest.mark.slow
@pytest.mark.parametrize("lab", HANDS_ON)
def test_check_on_the_blank_lab_reports_every_question_not_done(lab, blank_check):
    """Does `mlops-course check` on the untouched lab report every question as still to do?"""
    report = blank_check(lab)
    assert len(report.results) == len(questions(notebooks.read(release_notebook(ROOT, lab))))
    wrong = {r.question.label: r.status.value for r in report.results
             if r.status is not (Status.TO_WRITE if r.question.manual else Status.NOT_DONE)}
    assert not wrong, f"{lab}: the blank lab should have nothing done, but: {wrong}"


@pytest.mark.slow
def test_check_command_reports_a_wrong_answer_and_exits_1(tmp_path, capsys):
    """Does `mlops-course check --question` run the notebook and print the failing question with its hint?"""
    from mlops_course.cli import main

    nb = nbf.toy_lab()
    nb.cells.insert(1, nbformat.v4.new_code_cell("QUICK = False", metadata={"tags": ["parameters"]}))
    nb = notebooks.with_answer(nb, "limit", "LIMIT = 3")
    path = tmp_path / "lab99-toy" / "lab99-toy.ipynb"
    notebooks.write(nb, path)
    before = path.read_text()
    with pytest.raises(SystemExit) as exit_:
        main(["check", str(path), "--question", "2", "--quick"])
    assert exit_.value.code == 1
    out = capsys.readouterr().out
    assert "Question 2" in out and "failed: LIMIT is 3; it should be at least 10" in out and "Question 1" not in out
    assert path.read_text() == before and sorted(p.name for p in path.parent.iterdir()) == ["lab99-toy.ipynb"]
