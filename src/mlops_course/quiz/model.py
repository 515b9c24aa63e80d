"""Lesson quizzes: one YAML file per chapter, loaded and checked into the quiz model.

`book/quizzes/<chapter>.yml` is the single source of a chapter's quiz. This
module validates it (a JSON schema plus the checks a schema cannot express,
each error naming the file and the question) and builds the `Quiz` the other
views are made from: the nbgrader assignment `solutions/quiz-<chapter>/quiz-<chapter>.ipynb`
whose key lives only in solution cells and hidden tests (`quiz.notebook`), the
question list jupyterquiz renders in the book (`quiz.book_view`) and a
study-group discussion sheet (`quiz.sheet`).

A question is `single` (one letter), `multiple` (a set of letters: every
correct option and no other) or `numeric` (a number within `tolerance` of
`answer`, with the usual wrong values and why they are wrong under `wrong`). Authors may write
the right option first: options are shown in an order fixed by the question's
id (`shown_order`), the same in the book, the notebook and the sheet.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

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
        """The name the learner assigns the answer to in the quiz notebook."""
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
    """A chapter's quiz, as loaded and checked from book/quizzes/<chapter>.yml."""

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
