"""Mutation report: small plausible slips in a lab's answers, and whether the lab's tests catch them.

A lab's hand-written wrong answers (tests/labs/wrong_answers/) cover the mistakes someone thought
of. This tool makes the others: in every autograded answer cell it changes one thing at a time in
the code between `### BEGIN SOLUTION` and `### END SOLUTION` (a comparison's boundary, an arithmetic
sign, a constant, a dropped keyword argument, a swapped aggregate, a deleted statement, a `return`
that returns nothing) and runs each slip through the question's test cells, hidden tests included,
on the shared prefix (`shared_prefix.prove`: the lab runs once, each slip in a fork). A slip is
caught when one of those cells scores less than its maximum.

A surviving slip is either a weakness of the tests or harmless (dropping `dtype=float` where the
values are floats already). tests/harmless_slips/<lab>.yml marks the harmless ones, each with a
one-line reason; the figure is caught / (tried - harmless).
"""

from __future__ import annotations

import ast
import hashlib
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Iterable

import yaml

from mlops_course.course import notebooks
from mlops_course.course.config import IGNORED_FILES
from mlops_course.course.layout import lab_names, source_notebook
from mlops_course.course.questions import questions
from mlops_course.errors import CourseError
from mlops_course.proof import shared_prefix

BEGIN, END = notebooks.SOLUTION_MARKERS
MAX_PER_KIND = 8  # per kind and answer cell, spread over the cell: a lab's report stays a few minutes
TARGET = 90.0  # percent of the slips not marked harmless that the tests must catch (issue #24)
CHILD_TIMEOUT = 300  # seconds: a slip that loops runs into this, and counts as caught (the grader's cells time out)
HARMLESS_DIR = Path("tests") / "harmless_slips"

COMPARISONS = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq}
ARITHMETIC = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult}
AGGREGATES = {"mean": "median", "median": "mean", "min": "max", "max": "min", "sum": "mean"}
KINDS = ("comparison", "arithmetic", "constant", "keyword", "aggregate", "delete", "return-none")


@dataclass(frozen=True)
class Slip:
    """One small change to one answer cell."""

    cell: str  # the answer cell's grade_id
    kind: str
    line: int  # where in the cell (1-based)
    before: str  # that line as written, stripped
    after: str  # the line as the slip has it, stripped
    source: str  # the whole answer cell with the slip

    @property
    def key(self) -> tuple[str, str, str, str]:
        """What identifies a slip across edits of the notebook: not its number or line, its text."""
        return self.cell, self.kind, self.before, self.after

    @property
    def name(self) -> str:
        return f"{self.cell}:{self.kind}:{self.line}:{hashlib.sha1(self.source.encode()).hexdigest()[:10]}"


# --- making slips ----------------------------------------------------------------------------------


def solution_lines(source: str) -> set[int]:
    """The 1-based line numbers between the cell's BEGIN and END SOLUTION markers."""
    lines, inside = set(), False
    for number, text in enumerate(source.splitlines(), start=1):
        if text.strip() == BEGIN:
            inside = True
        elif text.strip() == END:
            inside = False
        elif inside:
            lines.add(number)
    return lines


class _Text:
    """The cell's source, addressed the way ast does (line, UTF-8 byte column), edited as characters."""

    def __init__(self, source: str):
        self.source = source
        self.starts, total = [], 0
        self.lines = source.splitlines(keepends=True)
        for line in self.lines:
            self.starts.append(total)
            total += len(line)

    def at(self, lineno: int, col: int) -> int:
        return self.starts[lineno - 1] + len(self.lines[lineno - 1].encode()[:col].decode())

    def start(self, node: ast.AST) -> int:
        return self.at(node.lineno, node.col_offset)

    def end(self, node: ast.AST) -> int:
        return self.at(node.end_lineno, node.end_col_offset)

    def edit(self, begin: int, stop: int, text: str) -> str:
        return self.source[:begin] + text + self.source[stop:]


Edit = tuple[int, int, int, str]  # (line of the change, start, end, replacement) in characters of the source


def _operator(text: _Text, left: ast.AST, right: ast.AST, old: str, new: str, line: int) -> Edit | None:
    """Replace the operator `old` written between two operands (parentheses and spaces kept)."""
    begin, stop = text.end(left), text.start(right)
    gap = text.source[begin:stop]
    found = re.search(rf"(?<![<>=!*/+-]){re.escape(old)}(?![<>=*/])", gap)
    return (line, begin + found.start(), begin + found.end(), new) if found else None


def _keyword_drop(text: _Text, call: ast.Call, k: int) -> Edit:
    """Remove the call's k-th keyword argument and the comma that goes with it."""
    items = sorted([*call.args, *call.keywords], key=lambda n: (n.lineno, n.col_offset))
    i = items.index(call.keywords[k])
    if i > 0:
        return call.keywords[k].lineno, text.end(items[i - 1]), text.end(items[i]), ""
    if i + 1 < len(items):
        return call.keywords[k].lineno, text.start(items[i]), text.start(items[i + 1]), ""
    return call.keywords[k].lineno, text.start(items[i]), text.end(items[i]), ""


SYMBOLS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
           ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}


def _candidates(tree: ast.AST, text: _Text, inside: set[int]) -> dict[str, list[Edit | None]]:
    """Per kind, the edits that make a slip, in source order, for nodes wholly inside the solution."""
    in_fstring = {id(n) for f in ast.walk(tree) if isinstance(f, ast.JoinedStr) for n in ast.walk(f)}
    found: dict[str, list[Edit | None]] = {kind: [] for kind in KINDS}
    nodes = [n for n in ast.walk(tree) if hasattr(n, "lineno") and id(n) not in in_fstring
             and set(range(n.lineno, n.end_lineno + 1)) <= inside]
    nodes.sort(key=lambda n: (n.lineno, n.col_offset))
    for node in nodes:
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            for i, op in enumerate(node.ops):
                if type(op) in COMPARISONS:
                    found["comparison"].append(_operator(text, operands[i], operands[i + 1], SYMBOLS[type(op)],
                                                         SYMBOLS[COMPARISONS[type(op)]], operands[i + 1].lineno))
        elif isinstance(node, ast.BinOp) and type(node.op) in ARITHMETIC:
            found["arithmetic"].append(_operator(text, node.left, node.right, SYMBOLS[type(node.op)],
                                                 SYMBOLS[ARITHMETIC[type(node.op)]], node.right.lineno))
        elif isinstance(node, ast.Constant) and type(node.value) in (int, float):
            values = [node.value + 1, node.value - 1] if isinstance(node.value, int) else [node.value * 2 or 1.0]
            found["constant"] += [(node.lineno, text.start(node), text.end(node), repr(v)) for v in values]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in AGGREGATES:
            quote = text.source[text.start(node)]
            found["aggregate"].append((node.lineno, text.start(node), text.end(node), quote + AGGREGATES[node.value] + quote))
        elif isinstance(node, ast.Attribute) and node.attr in AGGREGATES:
            stop = text.end(node)
            found["aggregate"].append((node.end_lineno, stop - len(node.attr), stop, AGGREGATES[node.attr]))
        elif isinstance(node, ast.Name) and node.id in AGGREGATES:
            found["aggregate"].append((node.lineno, text.start(node), text.end(node), AGGREGATES[node.id]))
        if isinstance(node, ast.Call):
            found["keyword"] += [_keyword_drop(text, node, k) for k in range(len(node.keywords)) if node.keywords[k].arg]
        if isinstance(node, ast.Return) and not (isinstance(node.value, ast.Constant) and node.value.value is None):
            if node.value is not None:
                found["return-none"].append(_whole_statement(text, node, "return None"))
        elif isinstance(node, ast.stmt) and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found["delete"].append(_whole_statement(text, node, "pass"))
    return found


def _whole_statement(text: _Text, node: ast.stmt, replacement: str) -> Edit | None:
    """The statement's lines replaced by one line, or None when it shares a line with other code (`a; b`)."""
    head = text.lines[node.lineno - 1].encode()[: node.col_offset].decode()
    tail = text.lines[node.end_lineno - 1].encode()[node.end_col_offset :].decode()
    if head.strip() or (tail.strip() and not tail.strip().startswith("#")):
        return None
    return node.lineno, text.start(node), text.end(node), replacement


def _spread(items: list, limit: int) -> list:
    """At most `limit` of `items`, evenly spread from first to last, in order (deterministic)."""
    if len(items) <= limit:
        return items
    if limit == 1:
        return items[:1]
    picks = sorted({round(i * (len(items) - 1) / (limit - 1)) for i in range(limit)})
    return [items[i] for i in picks]


def _split_magic(source: str) -> tuple[str, str]:
    """A cell magic's line (`%%writefile artifacts/train.py`) and the cell's code with that line left blank.

    The blank keeps every line where it is in the cell, so slips name the cell's own line numbers.
    """
    if not source.startswith("%%"):
        return "", source
    magic, newline, rest = source.partition("\n")
    return magic, newline + rest


def slips(cell: str, source: str, max_per_kind: int = MAX_PER_KIND) -> list[Slip]:
    """The slips of one answer cell, kind by kind; unparseable, unchanged and repeated ones left out.

    A cell that starts with a cell magic (Lab 06 writes its answers to files with `%%writefile`) is
    slipped in the Python below the magic's line, which each slip keeps as it is.
    """
    magic, source = _split_magic(source)
    inside = solution_lines(source)
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    text = _Text(source)
    original = source.splitlines()
    made: list[Slip] = []
    seen = {source}
    for kind, edits in _candidates(tree, text, inside).items():
        kept = []
        for edit in edits:
            if edit is None:
                continue
            line, begin, stop, replacement = edit
            new = text.edit(begin, stop, replacement)
            if new in seen:
                continue
            try:
                ast.parse(new)
            except SyntaxError:
                continue
            seen.add(new)
            kept.append(Slip(cell, kind, line, original[line - 1].strip(), new.splitlines()[line - 1].strip(), magic + new))
        made += _spread(kept, max_per_kind)
    return made


# --- running them ----------------------------------------------------------------------------------


@dataclass
class Outcome:
    slip: Slip
    caught: bool
    how: str = ""  # the cells that lost points, or why the run gave no verdict
    harmless: str = ""  # the reason, when tests/harmless_slips/<lab>.yml marks it


@dataclass
class QuestionReport:
    question: str
    tests: tuple[str, ...]
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def caught(self) -> int:
        return sum(o.caught for o in self.outcomes)

    @property
    def harmless(self) -> int:
        return sum(bool(o.harmless) for o in self.outcomes if not o.caught)


@dataclass
class Report:
    lab: str
    questions: list[QuestionReport]
    stale: list[dict]  # harmless entries that match no surviving slip (the code moved on: remove them)
    cpu_seconds: float = 0.0

    @property
    def tried(self) -> int:
        return sum(len(q.outcomes) for q in self.questions)

    @property
    def caught(self) -> int:
        return sum(q.caught for q in self.questions)

    @property
    def harmless(self) -> int:
        return sum(q.harmless for q in self.questions)

    @property
    def percent(self) -> float:
        counted = self.tried - self.harmless
        return 100.0 * self.caught / counted if counted else 100.0

    def figure(self) -> str:
        counted = self.tried - self.harmless
        verdict = "meets" if self.percent >= TARGET else "below"
        return (f"{self.lab}: {self.caught}/{counted} caught ({self.percent:.0f}%, {verdict} the {TARGET:.0f}% target); "
                f"{self.tried} slips tried, {self.harmless} marked harmless")

    def markdown(self) -> str:
        out = [f"# Mutation report: {self.lab}", "", f"{date.today():%Y-%m-%d}. {self.figure()}.", "",
               f"Harmless survivors are marked in `{HARMLESS_DIR.as_posix()}/{self.lab}.yml`.", "",
               "| Question | Tried | Caught | Harmless | Not caught |", "|---|---|---|---|---|"]
        for q in self.questions:
            missed = len(q.outcomes) - q.caught - q.harmless
            out.append(f"| {q.question} | {len(q.outcomes)} | {q.caught} | {q.harmless} | {missed} |")
        for q in self.questions:
            survivors = [o for o in q.outcomes if not o.caught]
            if not survivors:
                continue
            out += ["", f"## {q.question} (tests: {', '.join(q.tests)})", ""]
            for o in survivors:
                mark = f" — harmless: {o.harmless}" if o.harmless else " — **not caught**"
                out.append(f"- `{o.slip.cell}` line {o.slip.line}, {o.slip.kind}: `{o.slip.before}` → `{o.slip.after}`{mark}")
        problems = [o for q in self.questions for o in q.outcomes if o.how.startswith("no verdict")]
        if problems:
            out += ["", "## Slips whose run failed (counted as caught: the grader would fail them too)", ""]
            out += [f"- `{o.slip.cell}` line {o.slip.line}, {o.slip.kind}: `{o.slip.after}`: {o.how}" for o in problems]
        if self.stale:
            out += ["", "## Harmless entries that match no survivor (remove them)", ""]
            out += [f"- `{e.get('cell')}` {e.get('kind')}: `{e.get('line')}` → `{e.get('change')}`" for e in self.stale]
        return "\n".join(out) + "\n"

    def text(self) -> str:
        lines = []
        for q in self.questions:
            lines.append(f"{q.question}: {q.caught}/{len(q.outcomes)} caught, {q.harmless} harmless")
            for o in q.outcomes:
                if not o.caught and not o.harmless:
                    lines.append(f"  not caught: {o.slip.cell} line {o.slip.line} {o.slip.kind}: {o.slip.before!r} -> {o.slip.after!r}")
        return "\n".join([*lines, *(f"  stale harmless entry: {e}" for e in self.stale), self.figure()])


def harmless_marks(root: Path, lab: str) -> list[dict]:
    """The lab's harmless survivors: a list of {cell, kind, line, change, reason}."""
    path = root / HARMLESS_DIR / f"{lab}.yml"
    entries = yaml.safe_load(path.read_text()) if path.exists() else None
    entries = entries or []
    for entry in entries:
        missing = {"cell", "kind", "line", "change", "reason"} - set(entry)
        if missing or not str(entry.get("reason", "")).strip():
            raise CourseError(f"{path}: every entry needs cell, kind, line, change and a reason; {entry} lacks {sorted(missing) or ['reason']}")
    return entries


def lab_slips(nb, max_per_kind: int = MAX_PER_KIND,
              only: Iterable[str] | None = None) -> list[tuple[str, tuple[str, ...], list[Slip]]]:
    """(question, its test cells, the slips of its answer cells) for every autograded question (or those named)."""
    cells = {notebooks.nbgrader_meta(c).get("grade_id"): c for c in nb.cells}
    wanted = set(only) if only is not None else None
    found = []
    for q in questions(nb):
        if q.manual or not q.tests or (wanted is not None and not wanted & q.names()):
            continue
        made = [s for a in q.answers for s in slips(a, cells[a].source, max_per_kind)]
        found.append((q.label if q.label != q.id else q.id, q.tests, made))
    return found


def run(root: Path, lab: str, max_per_kind: int = MAX_PER_KIND, progress: bool = False,
        only: Iterable[str] | None = None) -> Report:
    """Every slip of the lab (or of the questions named in `only`) through its question's tests, in one shared-prefix run."""
    if lab not in lab_names(root):
        raise CourseError(f"there is no lab '{lab}'. Labs: {', '.join(lab_names(root))}")
    nb = notebooks.with_parameters(notebooks.read(source_notebook(root, lab)), notebooks.CI_PARAMETERS)
    planned = lab_slips(nb, max_per_kind, only)
    variants = [shared_prefix.Variant(s.name, {s.cell: s.source}, tests) for _, tests, made in planned for s in made]
    cells = {notebooks.nbgrader_meta(c).get("grade_id"): c for c in nb.cells}
    # Controls: each question's answers as written, so a test that fails on the solution itself shows up.
    controls = [shared_prefix.Variant(f"control:{q}", {a: cells[a].source for a in {s.cell for s in made}}, tests)
                for q, tests, made in planned if made]
    with tempfile.TemporaryDirectory(prefix=f"mlops-course-mutants-{lab}-") as tmp:
        folder = Path(tmp) / lab
        shutil.copytree(root / "solutions" / lab, folder,
                        ignore=shutil.ignore_patterns(*IGNORED_FILES, f"{lab}.ipynb"))
        proof = shared_prefix.prove(nb, folder, controls + variants, progress=progress, whole=False,
                                    child_timeout=CHILD_TIMEOUT)
    for control in controls:
        verdicts = proof.variants.get(control.name)
        lost = [g for g, v in (verdicts.cells.items() if verdicts else []) if v.score < v.max_score]
        if verdicts is None or lost:
            why = proof.problems.get(control.name) or "; ".join(f"{g}: {verdicts.cells[g].error}" for g in lost)
            raise CourseError(f"{lab}: the solution itself does not pass {control.through} here ({why}); fix that first")
    return _judge(root, lab, planned, proof)


def _judge(root: Path, lab: str, planned, proof: shared_prefix.Proof) -> Report:
    marks = harmless_marks(root, lab)
    used: set[int] = set()
    reports = []
    for question, tests, made in planned:
        report = QuestionReport(question, tests)
        for slip in made:
            if slip.name in proof.problems:
                report.outcomes.append(Outcome(slip, True, f"no verdict: {proof.problems[slip.name]}"))
                continue
            lost = [g for g, v in proof.variants[slip.name].cells.items() if v.score < v.max_score]
            outcome = Outcome(slip, bool(lost), ", ".join(lost))
            if not lost:
                for i, mark in enumerate(marks):
                    if (mark["cell"], mark["kind"], str(mark["line"]).strip(), str(mark["change"]).strip()) == slip.key:
                        outcome.harmless, _ = str(mark["reason"]).strip(), used.add(i)
            report.outcomes.append(outcome)
        reports.append(report)
    cells = {s.cell for _, _, made in planned for s in made}  # a run of some questions judges only their entries
    stale = [m for i, m in enumerate(marks) if i not in used and m["cell"] in cells]
    return Report(lab, reports, stale, proof.cpu_seconds)


def save(report: Report, out: Path) -> Path:
    """The report as Markdown: out/<lab>.md."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{report.lab}.md"
    path.write_text(report.markdown())
    return path
