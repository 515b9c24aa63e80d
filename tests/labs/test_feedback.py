"""Does the feedback on every wrong answer of every lab hide the hidden tests and keep the visible message?

The shared prefix keeps the error outputs of every test cell a wrong answer fails, as the grader
keeps them. The course's feedback step (`feedback.HideHiddenTests`, which runs inside nbgrader's
feedback) is applied to each such cell, with its hidden tests, exactly as to a graded notebook. What
a learner would read must hold no marker and no hidden block in the source, no hidden-test line and
no hidden test's own message in the outputs (`tests/hidden_text.py`, as for self-check hints), and,
where the grader's run failed with a visible test's own message, that message.
"""

from __future__ import annotations

import copy
import re

import nbformat
import pytest

from mlops_course.course import notebooks
from mlops_course.grading.feedback import ANSI, HIDDEN_BLOCK, HIDDEN_NOTE, HideHiddenTests
from mlops_course.course.layout import source_notebook
from mlops_course.course.notebooks import HIDDEN_TEST_MARKERS

from ..conftest import ROOT
from ..hidden_text import assert_reveals_nothing_hidden, assertion_messages, hidden_line_numbers, hidden_parts
from .mistakes import HANDS_ON, wrong_answers



def outputs_text(cell: nbformat.NotebookNode) -> str:
    """What a learner reads of a feedback cell's outputs: each error's name, message and traceback."""
    parts = []
    for output in cell.get("outputs", []):
        parts += [output.get("ename", ""), str(output.get("evalue", "")), *output.get("traceback", [])]
    return ANSI.sub("", "\n".join(parts))


def source_problems(original: str, feedback: nbformat.NotebookNode) -> list[str]:
    """What a feedback cell's source still shows of the hidden tests `original` held: their markers, or their
    block not replaced by the note (the visible part stays as it was, so its lines are no secret)."""
    if HIDDEN_TEST_MARKERS[0] not in original:
        return []
    found = [marker for marker in HIDDEN_TEST_MARKERS if marker in feedback.source]
    return found + ([] if HIDDEN_NOTE in feedback.source else ["the hidden block, not replaced by its note"])


def visible_only_messages(source: str) -> list[str]:
    """The assertion messages (as patterns) of a test cell's visible part that no hidden test shares."""
    hidden = assertion_messages(source, hidden_line_numbers(source))
    return [p for p in assertion_messages(HIDDEN_BLOCK.sub("", source)) if p not in hidden]


@pytest.mark.slow
@pytest.mark.parametrize("lab", HANDS_ON)
def test_feedback_on_every_wrong_answer_hides_hidden_tests_and_keeps_the_visible_message(lab, proven):
    """For every wrong answer, does each failed test cell's feedback show no hidden block, line, message or
    marker, and the visible test's message whenever a visible test failed?"""
    proof = proven(lab)
    source = notebooks.read(source_notebook(ROOT, lab))
    problems, visible_checked = [], 0
    for wrong in wrong_answers(lab):
        for grade_id, verdict in proof.variants[wrong.student].cells.items():
            if verdict.score == verdict.max_score:
                continue
            original = notebooks.find_cell(source, grade_id).source
            cell = copy.deepcopy(notebooks.find_cell(source, grade_id))
            cell.outputs = [nbformat.from_dict(o) for o in verdict.error_outputs]
            feedback, _ = HideHiddenTests().preprocess_cell(copy.deepcopy(cell), {}, 0)
            text = outputs_text(feedback)
            leaked = source_problems(original, feedback)
            try:  # the outputs: no hidden line, no hidden test's own message (tests/hidden_text.py)
                assert_reveals_nothing_hidden(lab, text)
            except AssertionError as exc:
                leaked.append(str(exc))
            if leaked:
                problems.append(f"'{wrong.mistake}', {grade_id}: the feedback shows {leaked[:2]}")
            # A failure the grader's run raised with a visible test's own message keeps that message.
            patterns = visible_only_messages(original)
            for message in (str(o.get("evalue", "")) for o in cell.outputs):
                if any(re.fullmatch(p, message, re.DOTALL) for p in patterns):
                    visible_checked += 1
                    if message not in text:
                        problems.append(f"'{wrong.mistake}', {grade_id}: the visible message '{message[:80]}' is lost")
    assert not problems, f"{lab}:\n" + "\n".join(problems)
    assert visible_checked, f"{lab}: no wrong answer fails a visible test; the second half proved nothing"


def test_a_feedback_cell_that_still_shows_a_hidden_test_would_be_caught():
    """Would a cell whose source keeps its hidden block, or whose traceback quotes a hidden line, be reported?"""
    source = ('assert f(1) == 2, "f(1) should be 2"\n### BEGIN HIDDEN TESTS\n'
              'assert f(-5) == -10, "negative numbers"\n### END HIDDEN TESTS')
    cell = nbformat.v4.new_code_cell(source, metadata={"nbgrader": {"grade": True, "grade_id": "test_f", "points": 1,
                                                                   "solution": False, "locked": True}})
    assert source_problems(source, cell) == [*HIDDEN_TEST_MARKERS, "the hidden block, not replaced by its note"]
    hidden, _ = HideHiddenTests().preprocess_cell(copy.deepcopy(cell), {}, 0)
    assert source_problems(source, hidden) == [], "the course's feedback step replaces the block"
    lab = HANDS_ON[0]
    line = hidden_parts(lab)[0][0]
    with pytest.raises(AssertionError, match="hidden test line"):
        assert_reveals_nothing_hidden(lab, f"AssertionError\n----> 3 {line}")
