"""Lesson quizzes: one YAML file per chapter, checked, shown in the book, graded by nbgrader, printed for groups.

`book/quizzes/<chapter>.yml` is the single source of a chapter's quiz. This
module validates it (a JSON schema plus the checks a schema cannot express,
each error naming the file and the question), turns it into the nbgrader
assignment `solutions/quiz-<chapter>/quiz-<chapter>.ipynb` whose key lives
only in solution cells and hidden tests, into the question list jupyterquiz
renders in the book, and into a study-group discussion sheet.

A question is `single` (one letter), `multiple` (a set of letters: every
correct option and no other) or `numeric` (a number within `tolerance` of
`answer`, with the usual wrong values and why they are wrong under `wrong`). Authors may write
the right option first: options are shown in an order fixed by the question's
id (`shown_order`), the same in the book, the notebook and the sheet.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import yaml
from nbformat import NotebookNode

from mlops_course.errors import QuizError

QUIZ_DIR = Path("book") / "quizzes"
QUIZ_PREFIX = "quiz-"
LETTERS = "ABCDEF"
KINDS = ("single", "multiple", "numeric")
# nbgrader compares floats after arithmetic; a tolerance of 0.005 must accept 0.205 for 0.2.
FLOAT_SLACK = 1e-9

_TEXT = {"type": "string", "pattern": r"\S"}
_OPTION = {
    "type": "object",
    "required": ["text", "correct", "explanation"],
    "additionalProperties": False,
    "properties": {"text": _TEXT, "code": _TEXT, "correct": {"type": "boolean"}, "explanation": _TEXT},
}
_WRONG_VALUE = {
    "type": "object",
    "required": ["value", "explanation"],
    "additionalProperties": False,
    "properties": {"value": {"type": "number"}, "explanation": _TEXT},
}
SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "A chapter's quiz",
    "type": "object",
    "required": ["chapter", "title", "questions"],
    "additionalProperties": False,
    "properties": {
        "chapter": {"type": "string", "pattern": r"^\d\d-[a-z-]+$"},
        "title": _TEXT,
        "questions": {"type": "array", "minItems": 6, "maxItems": 10, "items": {"$ref": "#/$defs/question"}},
    },
    "$defs": {
        "question": {
            "type": "object",
            "required": ["id", "type", "question"],
            "additionalProperties": False,
            "properties": {
                "id": {"type": "string", "pattern": r"^[a-z0-9]+(-[a-z0-9]+)*$", "maxLength": 40},
                "type": {"enum": list(KINDS)},
                "points": {"type": "number", "exclusiveMinimum": 0},
                "question": _TEXT,
                "code": _TEXT,
                "options": {"type": "array", "minItems": 2, "maxItems": len(LETTERS), "items": _OPTION},
                "answer": {"type": "number"},
                "tolerance": {"type": "number", "exclusiveMinimum": 0},
                "explanation": _TEXT,
                "wrong": {"type": "array", "minItems": 1, "items": _WRONG_VALUE},
            },
            "allOf": [
                {"if": {"properties": {"type": {"const": "numeric"}}},
                 "then": {"required": ["answer", "tolerance", "explanation", "wrong"],
                          "not": {"required": ["options"]}},
                 "else": {"required": ["options"],
                          "not": {"anyOf": [{"required": [k]} for k in ("answer", "tolerance", "wrong")]}}},
            ],
        }
    },
}


@dataclass(frozen=True)
class Option:
    letter: str
    text: str
    correct: bool
    explanation: str
    code: str | None = None


@dataclass(frozen=True)
class WrongValue:
    value: float
    explanation: str


@dataclass(frozen=True)
class Question:
    """One question; `number` counts from 1 and names its answer variable `q<number>`."""

    number: int
    id: str
    kind: str
    text: str
    points: float
    code: str | None = None
    options: tuple[Option, ...] = ()
    answer: float | None = None
    tolerance: float | None = None
    explanation: str | None = None
    wrong: tuple[WrongValue, ...] = ()

    @property
    def variable(self) -> str:
        return f"q{self.number}"

    @property
    def test_cell(self) -> str:
        """The grade_id of its test cell, as the gradebook and the cohort report name the question."""
        return f"q{self.number}-{self.id}"

    @property
    def key(self) -> Any:
        """The right answer as a learner writes it: "B", {"A", "C"} or a number."""
        if self.kind == "numeric":
            return self.answer
        letters = [o.letter for o in self.options if o.correct]
        return letters[0] if self.kind == "single" else set(letters)

    def accepts(self, value: Any) -> bool:
        """Is `value` a right answer? The same rule as the hidden test of its notebook cell."""
        if self.kind == "numeric":
            return isinstance(value, (int, float)) and not isinstance(value, bool) and \
                abs(float(value) - self.answer) <= self.tolerance + FLOAT_SLACK
        if self.kind == "single":
            return isinstance(value, str) and value.strip().upper() == self.key
        return isinstance(value, (set, frozenset, list, tuple)) and all(isinstance(v, str) for v in value) \
            and {v.strip().upper() for v in value} == self.key

    def wrong_answers(self) -> list[tuple[str, Any]]:
        """Every single wrong answer and what it is: each wrong letter; each one-option slip from the key
        of a multiple choice; each known wrong value, and a value just outside the tolerance."""
        if self.kind == "single":
            return [(f"option {o.letter}", o.letter) for o in self.options if not o.correct]
        if self.kind == "multiple":
            key = self.key
            return [(f"{'without' if o.correct else 'adding'} option {o.letter}", sorted(key ^ {o.letter}))
                    for o in self.options]
        outside = self.answer + 2 * self.tolerance
        return [*((f"wrong value {w.value}", w.value) for w in self.wrong), (f"{outside} (outside the tolerance)", outside)]


@dataclass(frozen=True)
class Quiz:
    path: Path
    chapter: str
    title: str
    questions: tuple[Question, ...]

    @property
    def assignment(self) -> str:
        return f"{QUIZ_PREFIX}{self.chapter}"


# --- finding and loading --------------------------------------------------------------------------

def quiz_dir(root: Path) -> Path:
    return Path(root) / QUIZ_DIR


def chapters(root: Path) -> list[str]:
    """The chapters that have a quiz, e.g. ['01-scoping', '02-data']."""
    return sorted(p.stem for p in quiz_dir(root).glob("*.yml"))


def quiz_path(root: Path, chapter: str) -> Path:
    """The quiz file of `chapter` ('02-data', '02' or 'quiz-02-data'); unknown names list the known ones."""
    name = chapter.removeprefix(QUIZ_PREFIX).removesuffix(".yml")
    known = chapters(root)
    matches = [c for c in known if c == name or c.split("-")[0] == name]
    if len(matches) != 1:
        raise QuizError(f"there is no quiz for chapter '{chapter}'. Chapters with a quiz: {', '.join(known) or '(none)'}")
    return quiz_dir(root) / f"{matches[0]}.yml"


def is_quiz(name: str) -> bool:
    """Is this assignment a lesson quiz (quiz-<chapter>) rather than a hands-on lab?"""
    return name.startswith(QUIZ_PREFIX)


def load_quiz(path: Path) -> Quiz:
    """Read and validate a quiz file; a QuizError lists every problem, each with the file and question."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise QuizError(f"{path}: cannot read the quiz: {exc}") from exc
    problems = schema_problems(data) or meaning_problems(data, path)
    if problems:
        raise QuizError(f"{path}: the quiz is not valid:\n" + "\n".join(f"  - {p}" for p in problems))
    return _build(path, data)


def _where(data: Any, location: list) -> str:
    """'question 3 ('cost-threshold'), option B' for a path into the quiz data."""
    if len(location) < 2 or location[0] != "questions" or not isinstance(location[1], int):
        return "quiz" if not location else f"'{'/'.join(map(str, location))}'"
    index = location[1]
    qid = data["questions"][index].get("id", "?") if isinstance(data["questions"][index], dict) else "?"
    where = f"question {index + 1} ('{qid}')"
    if len(location) >= 4 and location[2] == "options" and isinstance(location[3], int):
        where += f", option {location[3] + 1} (as written in the file)"
    elif len(location) >= 3:
        where += f", '{location[2]}'"
    return where


def schema_problems(data: Any) -> list[str]:
    """Every way `data` breaks SCHEMA, as 'question N ('id'), option X: what is wrong'."""
    from jsonschema import Draft202012Validator

    problems = []
    for error in sorted(Draft202012Validator(SCHEMA).iter_errors(data), key=lambda e: list(map(str, e.path))):
        message = error.message
        if error.validator == "not" and error.path and len(error.path) == 2:
            message = ("a numeric question has an answer and a tolerance, not options" if "options" in str(error.validator_value)
                       else "a choice question has options, not an answer, tolerance or wrong values")
        elif error.validator == "pattern" and error.validator_value == r"\S":
            message = "must not be empty"
        problems.append(f"{_where(data, list(error.path))}: {message}")
    return problems


def meaning_problems(data: dict, path: Path) -> list[str]:
    """What the schema cannot say: right number of correct options, unique ids, wrong values really wrong."""
    problems = []
    if data["chapter"] != path.stem:
        problems.append(f"quiz: chapter '{data['chapter']}' should match the file name '{path.stem}'")
    seen: set[str] = set()
    for index, q in enumerate(data["questions"]):
        where = _where(data, ["questions", index])
        if q["id"] in seen:
            problems.append(f"{where}: the id is used by another question")
        seen.add(q["id"])
        if q["type"] == "numeric":
            for w in q["wrong"]:
                if abs(w["value"] - q["answer"]) <= q["tolerance"]:
                    problems.append(f"{where}: the wrong value {w['value']} is within the tolerance of the answer")
            continue
        correct = sum(o["correct"] for o in q["options"])
        if correct == 0:
            problems.append(f"{where}: no option is correct")
        elif q["type"] == "single" and correct > 1:
            problems.append(f"{where}: a single-choice question needs exactly one correct option, not {correct}")
        elif q["type"] == "multiple" and correct == len(q["options"]):
            problems.append(f"{where}: every option is correct; a multiple-choice question needs a wrong one")
        texts = [o["text"].strip() for o in q["options"]]
        if len(set(texts)) != len(texts):
            problems.append(f"{where}: two options have the same text")
    return problems


def shown_order(question_id: str, count: int) -> list[int]:
    """The order options are shown in: fixed by the question's id, so that authors may write the right
    answer first without it always being A, and the book, notebook and sheet agree on the letters."""
    return sorted(range(count), key=lambda i: hashlib.sha256(f"{question_id}:{i}".encode()).hexdigest())


def _build(path: Path, data: dict) -> Quiz:
    questions = []
    for number, q in enumerate(data["questions"], start=1):
        written = q.get("options", [])
        options = tuple(Option(LETTERS[shown], o["text"].strip(), o["correct"], o["explanation"].strip(), o.get("code"))
                        for shown, o in enumerate(written[i] for i in shown_order(q["id"], len(written))))
        wrong = tuple(WrongValue(float(w["value"]), w["explanation"].strip()) for w in q.get("wrong", []))
        questions.append(Question(
            number=number, id=q["id"], kind=q["type"], text=q["question"].strip(), points=float(q.get("points", 1)),
            code=q.get("code"), options=options,
            answer=float(q["answer"]) if "answer" in q else None,
            tolerance=float(q["tolerance"]) if "tolerance" in q else None,
            explanation=q.get("explanation", "").strip() or None, wrong=wrong,
        ))
    return Quiz(path, data["chapter"], data["title"].strip(), tuple(questions))


def load_all(root: Path) -> list[Quiz]:
    return [load_quiz(quiz_dir(root) / f"{chapter}.yml") for chapter in chapters(root)]


# --- the nbgrader assignment ----------------------------------------------------------------------

KERNELSPEC = {"display_name": "Python (MLOps course)", "language": "python", "name": "mlops-course"}


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
            f"{visible}\n### BEGIN HIDDEN TESTS\n{hidden}\n### END HIDDEN TESTS")


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
        answer = f"### BEGIN SOLUTION\n{q.variable} = {_literal(q)}\n### END SOLUTION"
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
    from mlops_course.course import notebooks

    new = nbformat.from_dict(nb)
    for variable, source in answer_sources(answers).items():
        notebooks.find_cell(new, variable).source = source
    return new


def notebook_path(root: Path, quiz: Quiz) -> Path:
    from mlops_course.course.layout import source_notebook

    return source_notebook(root, quiz.assignment)


def generate(root: Path, chapter: str | None = None) -> list[Path]:
    """Write solutions/quiz-<chapter>/quiz-<chapter>.ipynb for one chapter's quiz (or all); returns the paths."""
    from mlops_course.course import notebooks

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


# --- the book (jupyterquiz) -----------------------------------------------------------------------

def inline_html(text: str) -> str:
    """Quiz text to HTML: escaped, `code` and **bold** kept, `$` as an entity so jupyterquiz reads no math."""
    out = html.escape(text.strip(), quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", out)
    out = re.sub(r"(?<![*\w])\*([^*\s][^*]*)\*(?!\*)", r"<i>\1</i>", out)
    return out.replace("$", "&#36;").replace("\n\n", "<br><br>")


def jupyterquiz_questions(quiz: Quiz) -> list[dict]:
    """The quiz in jupyterquiz's JSON format, with every option's explanation as its feedback."""
    result = []
    for q in quiz.questions:
        text = f"<b>{q.number}.</b> {inline_html(q.text)}"
        item: dict[str, Any] = {"question": text}
        if q.code:
            item["code"] = html.escape(q.code.rstrip())
        if q.kind == "numeric":
            tol = q.tolerance
            item.update(type="numeric", answers=[
                {"type": "range", "range": [q.answer - tol - FLOAT_SLACK, q.answer + tol + FLOAT_SLACK], "correct": True,
                 "feedback": f"Right. {inline_html(q.explanation)}"},
                *({"type": "range", "range": [w.value - tol, w.value + tol], "correct": False,
                   "feedback": f"Not quite. {inline_html(w.explanation)}"} for w in q.wrong),
                {"type": "default", "feedback": "Not quite. Work it out from the chapter's formula and try again."},
            ])
        else:
            item.update(type="multiple_choice" if q.kind == "single" else "many_choice", answers=[
                {"answer": f"<b>{o.letter}.</b> {inline_html(o.text)}", "correct": o.correct,
                 "feedback": f"{'Right' if o.correct else 'Not quite'}. {inline_html(o.explanation)}",
                 **({"code": html.escape(o.code.strip())} if o.code else {})}
                for o in q.options])
            if q.kind == "multiple":
                item["question"] += " <i>(Several options are right: find them all.)</i>"
        result.append(item)
    return result


# --- the study-group sheet ------------------------------------------------------------------------

PAGE_BREAK = '<div style="page-break-before: always; break-before: page;"></div>'


def sheet_markdown(quiz: Quiz) -> str:
    """A discussion sheet: the questions on the first page, the answers with every explanation on the second."""
    lines = [f"# Quiz — {quiz.title}", "",
             "*Study-group sheet.* Answer each question alone first (a minute each), then compare with the group: "
             "where you disagree, each side explains its reasoning before anyone looks at page 2.", ""]
    for q in quiz.questions:
        lines.append(f"**{q.number}.** {q.text}")
        if q.code:
            lines += ["", "```python", q.code.rstrip(), "```"]
        lines.append("")
        if q.kind == "numeric":
            lines += [f"Answer: ______________ (within {q.tolerance:g})", ""]
            continue
        if q.kind == "multiple":
            lines += ["*Several options are right.*", ""]
        for o in q.options:
            lines.append(f"- **{o.letter}.** {o.text}" + (f" `{o.code.strip()}`" if o.code else ""))
        lines.append("")
    lines += [PAGE_BREAK, "", f"## Answers — {quiz.title}", ""]
    for q in quiz.questions:
        if q.kind == "numeric":
            lines += [f"**{q.number}. {q.answer:g}** (within {q.tolerance:g}). {q.explanation}", ""]
            lines += [f"- *{w.value:g}:* {w.explanation}" for w in q.wrong]
        else:
            letters = ", ".join(o.letter for o in q.options if o.correct)
            lines += [f"**{q.number}. {letters}**", ""]
            lines += [f"- **{o.letter}** ({'right' if o.correct else 'wrong'}): {o.explanation}" for o in q.options]
        lines.append("")
    return "\n".join(lines)


def sheet_html(quiz: Quiz) -> str:
    """The sheet as a standalone HTML page that prints on two pages."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark", {"html": True}).render(sheet_markdown(quiz))
    style = ("body{font-family:sans-serif;max-width:46em;margin:1.5em auto;font-size:11pt;line-height:1.35}"
             "ul{margin:.2em 0 .8em}li{margin:.1em 0}p{margin:.5em 0}code{font-size:95%}"
             "@media print{body{margin:0}}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(quiz.title)}</title>"
            f"<style>{style}</style></head><body>{body}</body></html>")
