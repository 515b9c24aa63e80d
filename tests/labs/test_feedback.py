"""Does the feedback on every wrong answer of every lab hide the hidden tests and keep the visible message?

The shared prefix keeps the error outputs of every test cell a wrong answer fails, as the grader
keeps them. The course's feedback step (`feedback.HideHiddenTests`, which runs inside nbgrader's
feedback) is applied to each such cell, with its hidden tests, exactly as to a graded notebook. What
a learner would read must hold no hidden-test line and no marker, and, where a visible test
failed (the self-check names its message), that message.
"""

from __future__ import annotations

import copy
import re

import nbformat
import pytest

from mlops_course import notebooks
from mlops_course.feedback import ANSI, HIDDEN_BLOCK, HideHiddenTests
from mlops_course.layout import release_notebook, source_notebook
from mlops_course.questions import find_question, questions
from mlops_course.release import HIDDEN_TEST_MARKERS

from ..conftest import ROOT
from ..hidden_text import assertion_messages
from .mistakes import LABS, wrong_answers

HANDS_ON = [lab for lab in LABS if lab.startswith("lab")]


def shown(cell: nbformat.NotebookNode) -> str:
    """All a learner reads of a feedback cell: its source, and each error's name, message and traceback."""
    parts = [cell.source]
    for output in cell.get("outputs", []):
        parts += [output.get("ename", ""), str(output.get("evalue", "")), *output.get("traceback", [])]
    return ANSI.sub("", "\n".join(parts))


def hidden_lines(source: str) -> list[str]:
    return [line.strip() for block in HIDDEN_BLOCK.findall(source) for line in block.splitlines()[1:-1]
            if len(line.strip()) > 3]


def leaks(source: str, feedback: nbformat.NotebookNode) -> list[str]:
    """The hidden lines and markers of a test cell's `source` that its feedback cell still shows.

    A line the visible part shows too, whole or within a longer line (`try:`, a clean-up call, an
    assertion the visible test makes with a message), is no secret, so it is not counted.
    """
    text = shown(feedback)
    visible = HIDDEN_BLOCK.sub("", source)
    secret = [line for line in hidden_lines(source) if line not in visible]
    return [line for line in secret if line in text] + [m for m in HIDDEN_TEST_MARKERS if m in text]


def shows_message(hint: str, sources: list[str], text: str) -> bool:
    """Does `text` show the visible assertion message that `hint` is? An f-string's fields may hold other
    values in the grader's run (a temporary folder, a count), so the message's pattern is searched."""
    patterns = [p for source in sources for p in assertion_messages(HIDDEN_BLOCK.sub("", source))
                if re.fullmatch(p, hint, re.DOTALL)]
    return hint in text or any(re.search(p, text, re.DOTALL) for p in patterns)


@pytest.mark.slow
@pytest.mark.parametrize("lab", HANDS_ON)
def test_feedback_on_every_wrong_answer_hides_hidden_tests_and_keeps_the_visible_message(lab, proven):
    """For every wrong answer, does each failed test cell's feedback show no hidden line or marker, and the
    visible test's message whenever a visible test failed?"""
    proof = proven(lab)
    source = notebooks.read(source_notebook(ROOT, lab))
    found = questions(notebooks.read(release_notebook(ROOT, lab)))
    problems, visible_checked = [], 0
    for wrong in wrong_answers(lab):
        variant = proof.variants[wrong.student]
        question = find_question(found, wrong.answer_cell)
        texts = {}
        for grade_id, verdict in variant.cells.items():
            if verdict.score == verdict.max_score:
                continue
            cell = copy.deepcopy(notebooks.find_cell(source, grade_id))
            cell.outputs = [nbformat.from_dict(o) for o in verdict.error_outputs]
            feedback, _ = HideHiddenTests().preprocess_cell(cell, {}, 0)
            texts[grade_id] = shown(feedback)
            leaked = leaks(notebooks.find_cell(source, grade_id).source, feedback)
            if leaked:
                problems.append(f"'{wrong.mistake}', {grade_id}: the feedback shows {leaked[:2]}")
        status, hint = variant.check
        if status == "failed" and "has no message" not in hint:
            visible_checked += 1
            sources = [notebooks.find_cell(source, t).source for t in question.tests]
            if not any(shows_message(hint, sources, texts.get(t, "")) for t in question.tests):
                problems.append(f"'{wrong.mistake}': the visible message '{hint[:80]}' is not in the feedback")
    assert not problems, f"{lab}:\n" + "\n".join(problems)
    assert visible_checked, f"{lab}: no wrong answer fails a visible test; the second half proved nothing"


def test_a_feedback_cell_that_still_quotes_a_hidden_line_would_be_caught():
    """Would a cell whose source or traceback still shows a hidden line be reported by the test above?"""
    source = ('assert f(1) == 2, "f(1) should be 2"\n### BEGIN HIDDEN TESTS\n'
              'assert f(-5) == -10, "negative numbers"\n### END HIDDEN TESTS')
    cell = nbformat.v4.new_code_cell(source, metadata={"nbgrader": {"grade": True, "grade_id": "test_f", "points": 1,
                                                                   "solution": False, "locked": True}})
    cell.outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue="negative numbers",
                                           traceback=["Cell In[3], line 3", '----> 3 assert f(-5) == -10, "negative numbers"'])]
    assert leaks(source, cell) == ['assert f(-5) == -10, "negative numbers"', *HIDDEN_TEST_MARKERS]
    shared = 'assert f(-5) == -10, "negative numbers"\n' + source.split("\n", 1)[1]  # the same line, visible too
    assert leaks(shared, cell) == list(HIDDEN_TEST_MARKERS), "a line the visible part shows is no leak"
    hidden, _ = HideHiddenTests().preprocess_cell(copy.deepcopy(cell), {}, 0)
    assert leaks(source, hidden) == [], "the course's feedback step removes them"
