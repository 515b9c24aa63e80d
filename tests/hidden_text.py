"""What hidden tests look like, to prove that nothing a learner is shown reveals them.

Used by the self-check tests and the lab tests: a report or a hint must never quote a hidden
test's line or its own assertion message.
"""

from __future__ import annotations

import ast
import re

from mlops_course.course import notebooks
from mlops_course.course.layout import source_notebook
from mlops_course.course.questions import without_hidden_tests

from .conftest import ROOT


def assertion_messages(source: str, lines: range | None = None) -> list[str]:
    """Every `assert ..., message` (or `raise AssertionError(message)`) of a cell, only those starting in
    `lines` if given, as a regular expression in which f-string fields match anything."""
    patterns = []
    for node in ast.walk(ast.parse(source)):
        if lines is not None and getattr(node, "lineno", None) not in lines:
            continue
        message = None
        if isinstance(node, ast.Assert):
            message = node.msg
        elif (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args
              and isinstance(node.exc.func, ast.Name) and node.exc.func.id == "AssertionError"):
            message = node.exc.args[0]  # raise AssertionError("...") reads the same to the learner
        if isinstance(message, ast.Constant):
            patterns.append(re.escape(str(message.value)))
        elif isinstance(message, ast.JoinedStr):
            patterns.append("".join(re.escape(v.value) if isinstance(v, ast.Constant) else ".*" for v in message.values))
    return patterns


def hidden_line_numbers(source: str) -> range:
    """The 1-based line numbers between a cell's hidden-test markers (a block may sit inside an indented block,
    so it is not parsed on its own: the markers are comments and the whole cell parses)."""
    numbered = source.splitlines()
    begin = next((i for i, line in enumerate(numbered, 1) if "BEGIN HIDDEN TESTS" in line), None)
    end = next((i for i, line in enumerate(numbered, 1) if "END HIDDEN TESTS" in line), len(numbered) + 1)
    return range(begin, end) if begin else range(0)


def hidden_parts(lab: str) -> tuple[list[str], list[str]]:
    """The lines of the lab's hidden-test blocks, and their assertion messages that no visible test shares."""
    nb = notebooks.read(source_notebook(ROOT, lab))
    visible = without_hidden_tests(nb)
    lines, messages = [], set()
    assert len(nb.cells) == len(visible.cells), f"{lab}: hiding the hidden tests changed the number of cells"
    for cell, shown in zip(nb.cells, visible.cells, strict=True):
        hidden = [line for line in cell.source.splitlines()
                  if line not in shown.source.splitlines() and "HIDDEN TESTS" not in line]
        # Short lines ("pass", ")") say nothing about the hidden tests and appear in any report.
        lines.extend(line.strip() for line in hidden if len(line.strip()) > 25)
        if hidden:
            messages |= set(assertion_messages(cell.source, hidden_line_numbers(cell.source)))
            messages -= set(assertion_messages(shown.source))
    return lines, sorted(messages)


def assert_reveals_nothing_hidden(lab: str, shown: str) -> None:
    lines, messages = hidden_parts(lab)
    for line in lines:
        assert line not in shown, f"{lab}: the report shows a hidden test line: {line}"
    for message in messages:
        if len(re.sub(r"\.\*|\\", "", message)) < 8:
            continue  # too little fixed text to recognise
        assert not re.search(message, shown), f"{lab}: the report shows a hidden test's message: {message}"
