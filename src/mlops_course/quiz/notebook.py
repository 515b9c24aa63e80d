"""A quiz as the nbgrader assignment learners answer: prompts, answer cells holding the key, hidden tests.

The instructor's notebook `solutions/quiz-<chapter>/quiz-<chapter>.ipynb` is generated from the
quiz's YAML, never edited by hand: nbgrader's release strips the key (solution cells and hidden
tests) from the learners' copy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode

from mlops_course.course.kernel import DISPLAY_NAME, KERNEL_NAME
from mlops_course.course import notebooks
from mlops_course.quiz.model import FLOAT_SLACK, Question, Quiz, load_all, load_quiz, quiz_path

KERNELSPEC = {"display_name": DISPLAY_NAME, "language": "python", "name": KERNEL_NAME}


def _nbgrader(grade_id: str, *, solution: bool = False, grade: bool = False, locked: bool = False,
              points: float | None = None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3, "solution": solution}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def _how_to_answer(q: Question) -> str:
    if q.kind == "single":
        return f'*Answer with one letter:* `{q.variable} = "A"`'
    if q.kind == "multiple":
        return f'*Choose every option that applies, as a set of letters:* `{q.variable} = {{"A", "C"}}`'
    return f"*Answer with a number:* `{q.variable} = 12.5` (answers within {q.tolerance:g} of the right value count)"


def _md(text: str) -> str:
    """Jupyter reads `$20 ... $5` as math; escaped dollars stay dollars."""
    return text.replace("$", r"\$")


def prompt_markdown(q: Question) -> str:
    parts = [f"**Question {q.number}.** {_md(q.text)}"]
    if q.code:
        parts.append(f"```python\n{q.code.rstrip()}\n```")
    if q.options:
        parts.append("\n".join(f"- **{o.letter}.** {_md(o.text)}" + (f"\n\n  ```python\n  {o.code.strip()}\n  ```" if o.code else "")
                               for o in q.options))
    parts.append(_how_to_answer(q))
    return "\n\n".join(parts)


def _literal(q: Question) -> str:
    if q.kind == "single":
        return repr(q.key)
    if q.kind == "multiple":
        return "{" + ", ".join(repr(letter) for letter in sorted(q.key)) + "}"
    return repr(q.answer)


def test_source(q: Question) -> str:
    """The test cell: a visible check of the answer's form, then the key in hidden tests only."""
    v, letters = q.variable, sorted(o.letter for o in q.options)
    allowed = "{" + ", ".join(repr(letter) for letter in letters) + "}"  # sorted: a set's repr changes between runs
    if q.kind == "single":
        visible = (f"assert isinstance({v}, str) and {v}.strip().upper() in {allowed}, "
                   f"'Answer question {q.number} with one of the letters {', '.join(letters)} in quotes, e.g. {v} = \"{letters[0]}\"'")
        hidden = f"assert type({v}) is str and {v}.strip().upper() == {q.key!r}"
    elif q.kind == "multiple":
        visible = (f"assert isinstance({v}, (set, frozenset, list, tuple)) and all(isinstance(_x, str) for _x in {v}), "
                   f"'Answer question {q.number} with a set of letters, e.g. {v} = {{\"A\", \"C\"}}'\n"
                   f"assert {{_x.strip().upper() for _x in {v}}} <= {allowed}, "
                   f"'Question {q.number} has the options {', '.join(letters)} only'")
        hidden = (f"assert type({v}) in (set, frozenset, list, tuple) and all(type(_x) is str for _x in {v})\n"
                  f"assert {{str.upper(str.strip(_x)) for _x in {v}}} == {_literal(q)}")
    else:
        visible = (f"assert isinstance({v}, (int, float)) and not isinstance({v}, bool), "
                   f"'Answer question {q.number} with a number, e.g. {v} = 12.5'")
        hidden = f"assert abs(float({v}) - {q.answer!r}) <= {q.tolerance!r} + {FLOAT_SLACK!r}"
    return (f"# Question {q.number}: is your answer in the right form? Whether it is right is checked when the quiz is graded.\n"
            f"{visible}\n{notebooks.HIDDEN_TEST_MARKERS[0]}\n{hidden}\n{notebooks.HIDDEN_TEST_MARKERS[1]}")


def quiz_notebook(quiz: Quiz) -> NotebookNode:
    """The instructor's notebook of the quiz: prompts, answer cells holding the key, tests with hidden checks."""
    total = sum(q.points for q in quiz.questions)
    intro = (f"# Quiz — {quiz.title}\n\n"
             f"The quiz of the chapter *{quiz.title}* of the course book: {len(quiz.questions)} questions, "
             f"{total:g} points. Most are situations from the flight-delay case study; read each option carefully, "
             "the wrong ones are mistakes people really make.\n\n"
             "**How to answer.** Each question has a cell where you set its variable: one letter in quotes "
             "(`q1 = \"B\"`), a set of letters when several options apply (`q2 = {\"A\", \"C\"}`: every right option "
             "and no other), or a number. Run the test cell below it: it checks that your answer has the right form. "
             "Whether it is *right* is checked by hidden tests when the quiz is graded, and each question scores all "
             "or nothing. This file was generated from the quiz in the book; do not edit the read-only cells.")
    cells = [nbformat.v4.new_markdown_cell(intro, id="intro", metadata=_nbgrader("intro", locked=True))]
    for q in quiz.questions:
        cells.append(nbformat.v4.new_markdown_cell(prompt_markdown(q), id=f"q{q.number}-prompt",
                                                   metadata=_nbgrader(f"q{q.number}-prompt", locked=True)))
        answer = f"{notebooks.SOLUTION_MARKERS[0]}\n{q.variable} = {_literal(q)}\n{notebooks.SOLUTION_MARKERS[1]}"
        cells.append(nbformat.v4.new_code_cell(answer, id=q.variable, metadata=_nbgrader(q.variable, solution=True)))
        cells.append(nbformat.v4.new_code_cell(test_source(q), id=q.test_cell,
                                               metadata=_nbgrader(q.test_cell, grade=True, locked=True, points=q.points)))
    cells.append(nbformat.v4.new_markdown_cell(
        "## Done\n\nSave the notebook and submit it. After grading, the chapter's quiz in the book explains every option.",
        id="done", metadata=_nbgrader("done", locked=True)))
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    return nb


def answer_sources(answers: dict[str, Any]) -> dict[str, str]:
    """The source of each answer cell that sets the given values (by variable, e.g. {'q1': 'B'})."""
    return {variable: f"{variable} = {value!r}" for variable, value in answers.items()}


def with_answers(nb: NotebookNode, answers: dict[str, Any]) -> NotebookNode:
    """A copy of the quiz notebook whose answer cells set the given values (by variable, e.g. {'q1': 'B'})."""
    new = nbformat.from_dict(nb)
    for variable, source in answer_sources(answers).items():
        notebooks.find_cell(new, variable).source = source
    return new


def notebook_path(root: Path, quiz: Quiz) -> Path:
    from mlops_course.course.layout import source_notebook

    return source_notebook(root, quiz.assignment)


def generate(root: Path, chapter: str | None = None) -> list[Path]:
    """Write solutions/quiz-<chapter>/quiz-<chapter>.ipynb for one chapter's quiz (or all); returns the paths."""
    quizzes = [load_quiz(quiz_path(root, chapter))] if chapter else load_all(root)
    written = []
    for quiz in quizzes:
        path = notebook_path(root, quiz)
        notebooks.write(quiz_notebook(quiz), path)
        written.append(path)
    return written


def comparable(nb: NotebookNode) -> list[tuple]:
    """What must agree between a committed quiz notebook and one generated now."""
    return [(c.cell_type, c.get("id"), c.source, json.dumps(c.metadata.get("nbgrader", {}), sort_keys=True))
            for c in nb.cells]
