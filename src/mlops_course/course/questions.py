"""The questions of a lab, read from its nbgrader metadata.

A learner thinks in questions, nbgrader in cells. A question is a read-only
prompt, the answer cell(s) the learner edits and the read-only test cell(s)
that check them; an answer in words is one markdown cell the instructor
grades. Self-check and progress both group a notebook's cells this way, in
notebook order, so a new lab needs no lab-specific code.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

import nbformat
from nbformat import NotebookNode

from mlops_course.course import notebooks
from mlops_course.errors import UnknownQuestionError

# What nbgrader's release step leaves in an answer cell (nbgrader's ClearSolutions defaults).
CODE_STUB = "raise NotImplementedError()"
TEXT_STUB = "YOUR ANSWER HERE"
TOP_LEVEL_NAME = re.compile(r"^(?:async\s+)?(?:def|class)\s+(\w+)|^(\w+)\s*(?::[^=]*)?=(?!=)", re.M)
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


def python_source(source: str) -> str:
    """IPython syntax (magics) turned into plain Python, as the kernel would run it."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # pragma: no cover - IPython comes with the course
        return source
    return TransformerManager().transform_cell(source)


def cell_error(cell: NotebookNode, with_outputs: bool = True) -> str | None:
    """Why a code cell could not run: 'SyntaxError: ... (line 3)' or the error its outputs show; None if it ran.

    A test that then says "name 'f' is not defined" blames the wrong thing; the self-check and
    validate report this instead. NotImplementedError is the released stub, reported as not done.
    `with_outputs=False` only compiles the source (a saved notebook's outputs may be stale).
    """
    if cell.get("cell_type") != "code":
        return None
    if with_outputs:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error" and output.get("ename") != "NotImplementedError":
                return f"{output.get('ename')}: {output.get('evalue')}".strip()
    try:
        compile(python_source(cell.source), "<answer cell>", "exec")
    except SyntaxError as exc:
        return f"{type(exc).__name__}: {exc.msg} (line {exc.lineno})"
    return None


def answer_raised(error: str) -> str:
    """The hint for a question whose answer cell raised: the same words in check() and validate."""
    return f"your answer cell raised {error}: fix it, then run it and the cells below again"


def fails_too(labels: list[str]) -> str:
    """The note for earlier questions a failing one builds on that fail too ("Question 1 fails too: fix it first")."""
    one = len(labels) == 1
    return f"{', '.join(labels)} {'fails' if one else 'fail'} too: fix {'it' if one else 'them'} first"


def _names(source: str) -> tuple[set[str], set[str]]:
    """(names a cell defines at top level, names it reads anywhere); nothing for a cell that does not parse."""
    try:
        tree = ast.parse(python_source(source))
    except SyntaxError:  # what it was meant to define, so the questions using it are still linked to it
        return {a or b for a, b in TOP_LEVEL_NAME.findall(source)}, set()
    defined: set[str] = set()
    for statement in tree.body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(statement.name)
        elif isinstance(statement, (ast.Import, ast.ImportFrom)):
            defined |= {(a.asname or a.name).split(".")[0] for a in statement.names}
        else:
            defined |= {n.id for n in ast.walk(statement) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return defined, used


@dataclass(frozen=True)
class BuildsOn:
    """What a question relies on: earlier questions (by id) and other code cells (by index in the notebook)."""

    questions: set[str] = field(default_factory=set)
    cells: set[int] = field(default_factory=set)


def builds_on(nb: NotebookNode) -> dict[str, BuildsOn]:
    """For each question, the earlier questions and plain code cells whose names its answer and tests use.

    Followed through the notebook's cells by name (who defines what), so a wrong answer to
    Question 1 that breaks Question 5 can be named first: "Question 1 fails too".
    """
    found = questions(nb)
    owner = {name: q.id for q in found for name in (*q.answers, *q.tests)}
    origin: dict[str, tuple[frozenset[str], frozenset[int]]] = {}
    result = {q.id: BuildsOn() for q in found}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        defined, used = _names(cell.source)
        qid = owner.get(notebooks.nbgrader_meta(cell).get("grade_id", ""))
        from_questions = {qid for name in used if name in origin for qid in origin[name][0]}
        from_cells = {i for name in used if name in origin for i in origin[name][1]}
        if qid is not None:
            result[qid].questions.update(from_questions - {qid})
            result[qid].cells.update(from_cells)
            mine = (frozenset(from_questions | {qid}), frozenset(from_cells))
        else:
            mine = (frozenset(from_questions), frozenset(from_cells | {index}))
        for name in defined:
            origin[name] = mine
    return result
