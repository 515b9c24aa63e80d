"""The questions of a lab, read from its nbgrader metadata.

A learner thinks in questions, nbgrader in cells. A question is a read-only
prompt, the answer cell(s) the learner edits and the read-only test cell(s)
that check them; an answer in words is one markdown cell the instructor
grades. Self-check and progress both group a notebook's cells this way, in
notebook order, so a new lab needs no lab-specific code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import nbformat
from nbformat import NotebookNode

from . import notebooks
from .errors import UnknownQuestionError

# What nbgrader's release step leaves in an answer cell (nbgrader's ClearSolutions defaults).
CODE_STUB = "raise NotImplementedError()"
TEXT_STUB = "YOUR ANSWER HERE"
QUESTION_LABEL = re.compile(r"\*\*\s*(Question\s+[\w.-]+)")


@dataclass(frozen=True)
class Question:
    """One task of a lab: its answer cells, the tests that check them, and its points."""

    id: str
    label: str
    answers: tuple[str, ...]
    tests: tuple[str, ...]
    points: float
    manual: bool

    @property
    def number(self) -> str:
        """'3' for "Question 3", so `--question 3` works; empty when the prompt has no number."""
        return self.label.removeprefix("Question ").strip() if self.label.startswith("Question ") else ""

    def names(self) -> set[str]:
        """Every name a learner may use to pick this question."""
        names = {self.id, *self.answers, *self.tests, self.label}
        return names | ({self.number} if self.number else set())


def _label(prompt: NotebookNode | None, fallback: str) -> str:
    if prompt is None:
        return fallback
    found = QUESTION_LABEL.search(prompt.source)
    return found.group(1).rstrip(".") if found else fallback


def questions(nb: NotebookNode) -> list[Question]:
    """The questions of a notebook, in order.

    A prompt is a locked markdown cell without points; answer cells are
    solution cells without points; a test cell closes the question whose
    answers precede it, and a test right after another test joins it.
    """
    found: list[Question] = []
    prompt: NotebookNode | None = None
    answers: list[str] = []
    for cell in nb.cells:
        meta = notebooks.nbgrader_meta(cell)
        grade_id = meta.get("grade_id")
        if not grade_id:
            continue
        points = float(meta.get("points", 0) or 0)
        if meta.get("task") or (meta.get("grade") and meta.get("solution")):
            found.append(Question(grade_id, _label(prompt, grade_id), (grade_id,), (), points, manual=True))
            prompt, answers = None, []
        elif meta.get("solution"):
            answers.append(grade_id)
        elif meta.get("grade") and cell.cell_type == "code":
            previous = found[-1] if found else None
            if not answers and prompt is None and previous is not None and not previous.manual:
                found[-1] = Question(previous.id, previous.label, previous.answers, (*previous.tests, grade_id),
                                     previous.points + points, manual=False)
            else:
                qid = answers[0] if answers else grade_id
                found.append(Question(qid, _label(prompt, qid), tuple(answers), (grade_id,), points, manual=False))
            prompt, answers = None, []
        elif meta.get("locked") and cell.cell_type == "markdown":
            prompt = cell
    return found


def find_question(found: list[Question], name: str) -> Question:
    """The question called `name` (its id, an answer or test cell, "3" or "Question 3")."""
    wanted = str(name).strip()
    for question in found:
        if wanted in question.names():
            return question
    listing = ", ".join(f"{q.id} ({q.label})" if q.label != q.id else q.id for q in found) or "(none)"
    raise UnknownQuestionError(f"there is no question '{wanted}' in this lab. Questions: {listing}")


def without_hidden_tests(nb: NotebookNode) -> NotebookNode:
    """A copy of `nb` with nbgrader's hidden-test blocks removed, as nbgrader releases it.

    Self-check and validate run on this copy, so pointing them at an
    instructor's notebook never runs or shows a hidden test.
    """
    from nbgrader.preprocessors import ClearHiddenTests

    copy = nbformat.from_dict(nb)
    copy, _ = ClearHiddenTests().preprocess(copy, {})
    return copy


def is_unanswered(cell: NotebookNode) -> bool:
    """True while an answer cell still holds what nbgrader released: its checksum or stub is unchanged."""
    from nbgrader.utils import compute_checksum

    meta = notebooks.nbgrader_meta(cell)
    if meta.get("checksum") and meta.get("solution"):
        return meta["checksum"] == compute_checksum(cell)
    return CODE_STUB in cell.source or cell.source.strip() in ("", TEXT_STUB)


def cells_by_id(nb: NotebookNode) -> dict[str, NotebookNode]:
    return {notebooks.nbgrader_meta(c)["grade_id"]: c for c in nb.cells if notebooks.nbgrader_meta(c).get("grade_id")}
