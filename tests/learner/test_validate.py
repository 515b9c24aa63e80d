"""Does `mlops-course validate` (nbgrader's validate) list exactly what would cost points, without showing test code?"""

from __future__ import annotations

import pytest
import yaml

from mlops_course.course import notebooks
from mlops_course.cli import main
from mlops_course.errors import SelfCheckError
from mlops_course.course.layout import lab_names, release_notebook, source_notebook
from mlops_course.course.questions import questions
from mlops_course.learner.validate import validate_notebook

from ..conftest import ROOT

LAB = lab_names(ROOT, "labs")[0]
pytestmark = pytest.mark.slow


def learner_copy(tmp_path, nb):
    path = tmp_path / LAB / f"{LAB}.ipynb"
    notebooks.write(nb, path)
    return path


def solved():
    """The released lab with every answer written, as a learner about to submit has it."""
    nb = notebooks.read(release_notebook(ROOT, LAB))
    solution = notebooks.read(source_notebook(ROOT, LAB))
    for question in questions(nb):
        for answer in question.answers:
            notebooks.find_cell(nb, answer).source = (
                "My answer in words." if question.manual else notebooks.find_cell(solution, answer).source
            )
    return nb


def test_a_finished_lab_is_ready_to_submit(tmp_path):
    """Does a lab with every answer written and every visible test passing validate cleanly?"""
    result = validate_notebook(learner_copy(tmp_path, solved()), quick=True)
    assert result.ok, result.text()
    assert "Ready to submit" in result.text()


def test_the_blank_lab_lists_every_question_as_not_written(tmp_path):
    """Does validating the untouched lab name every question as still to answer?"""
    nb = notebooks.read(release_notebook(ROOT, LAB))
    result = validate_notebook(learner_copy(tmp_path, nb), quick=True)
    assert result.unanswered == [q.label for q in questions(nb)]
    assert not result.ok and "Not ready yet" in result.text()


def test_a_wrong_answer_is_named_with_its_hint_and_no_test_code(tmp_path):
    """Does a failing visible test show up as its question and assertion message, never as source code?"""
    wrong = next(w for w in yaml.safe_load((ROOT / "tests" / "labs" / "wrong_answers" / f"{LAB}.yml").read_text())
                 if "`>` instead of `>=`" in w["mistake"] or "<=" in w["mistake"])
    nb = notebooks.with_answer(solved(), wrong["answer_cell"], wrong["code"])
    result = validate_notebook(learner_copy(tmp_path, nb), quick=True)
    label = next(q.label for q in questions(nb) if wrong["answer_cell"] in q.answers)
    assert [where for where, _ in result.failed] == [label]
    assert result.failed[0][1].startswith("AssertionError: ")
    assert "assert " not in result.text()


def test_an_edited_read_only_cell_is_reported(tmp_path):
    """Does editing a locked test cell (which grading would undo) get reported by question?"""
    nb = solved()
    question = next(q for q in questions(nb) if q.tests)
    cell = notebooks.find_cell(nb, question.tests[0])
    cell.source = "pass  # the learner 'fixed' the test"
    result = validate_notebook(learner_copy(tmp_path, nb), quick=True)
    assert result.changed == [question.label]
    assert not result.ok


def test_validate_command_exits_1_until_ready(tmp_path, capsys):
    """Does the command print the report and exit with status 1 while something is left to fix?"""
    path = learner_copy(tmp_path, notebooks.read(release_notebook(ROOT, LAB)))
    with pytest.raises(SystemExit) as exit_:
        main(["validate", str(path), "--quick"])
    assert exit_.value.code == 1
    assert "answer(s) not written yet" in capsys.readouterr().out


def test_validating_something_that_is_not_a_lab_says_so(tmp_path):
    """Does a notebook without nbgrader cells, or a missing file, get a clear message?"""
    import nbformat

    plain = tmp_path / "notes.ipynb"
    notebooks.write(nbformat.v4.new_notebook(), plain)
    with pytest.raises(SelfCheckError, match="no nbgrader questions"):
        validate_notebook(plain)
    with pytest.raises(SelfCheckError, match="there is no notebook"):
        validate_notebook(tmp_path / "missing.ipynb")
