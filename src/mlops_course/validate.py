"""Validate before submitting: nbgrader's own validator, reported question by question.

nbgrader's `validate` restarts the notebook, runs every cell and reports test
cells that fail and read-only cells that were changed. Its report prints each
failing cell's source; ours names the question and the error instead (test
source stays out of sight), and adds what nbgrader validate does not check:
answers, in code or in words, that were never written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from . import notebooks
from .errors import SelfCheckError
from .questions import Question, cells_by_id, is_unanswered, questions, without_hidden_tests

ANSI = re.compile(r"\x1b\[[0-9;]*m")
MAX_LISTED = 10


@dataclass
class Validation:
    """What would stop a notebook from getting full marks, as far as a machine can tell before grading."""

    notebook: str
    failed: list[tuple[str, str]] = field(default_factory=list)  # (question label, error)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (other cell, error)
    unanswered: list[str] = field(default_factory=list)  # question labels
    changed: list[str] = field(default_factory=list)  # read-only cells that were edited
    type_changed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.failed or self.errors or self.unanswered or self.changed or self.type_changed)

    def text(self) -> str:
        lines = [f"Validation of {self.notebook} (nbgrader validate; visible tests only)"]
        if self.type_changed:
            lines.append(f"  ✘ {len(self.type_changed)} cell(s) changed type (code ↔ markdown); change them back: "
                         + ", ".join(self.type_changed))
        if self.changed:
            lines.append(f"  ✘ {len(self.changed)} read-only cell(s) were edited; grading uses the original, so "
                         "restore them (copy them from a fresh lab): " + ", ".join(self.changed))
        if self.unanswered:
            lines.append(f"  ✘ {len(self.unanswered)} answer(s) not written yet: " + ", ".join(self.unanswered))
        if self.failed:
            lines.append(f"  ✘ {len(self.failed)} question(s) fail their visible tests:")
            lines.extend(f"      {label}: {error}" for label, error in self.failed)
        if self.errors:
            lines.append(f"  ✘ {len(self.errors)} other cell(s) raise an error:")
            lines.extend(f"      {where}: {error}" for where, error in self.errors[:MAX_LISTED])
            if len(self.errors) > MAX_LISTED:
                lines.append(f"      ... and {len(self.errors) - MAX_LISTED} more")
        lines.append("Ready to submit: every cell runs and every visible test passes." if self.ok else
                     "Not ready yet: fix the points above, then validate again.")
        return "\n".join(lines)


def _last_error_line(raw: str) -> str:
    lines = [ANSI.sub("", line).strip() for line in raw.splitlines()]
    lines = [line for line in lines if line]
    return lines[-1].rstrip(":") if lines else "failed"


def _describe(cell, index: int, question: Question | None) -> str:
    """How a learner finds the cell: its question, or its number and first line (never a test's source)."""
    if question is not None:
        grade_id = notebooks.nbgrader_meta(cell).get("grade_id")
        return question.label if grade_id in question.tests else f"{question.label}, your answer"
    first = (cell.source.strip().splitlines() or [""])[0][:50]
    return f"cell {index + 1}" if notebooks.nbgrader_meta(cell).get("locked") else f"cell {index + 1} ({first})"


def validate_notebook(path: Path, quick: bool = False) -> Validation:
    """Run nbgrader's validator on a scratch copy of the notebook (hidden tests stripped) and explain the result."""
    from nbgrader.validator import Validator

    from .course import load_config
    from .execute_guard import StderrIsNotAnError
    from .layout import find_root
    from .scratch import load_lab_notebook, scratch_lab

    path = Path(path)
    original = load_lab_notebook(path)
    visible = without_hidden_tests(original)
    found = questions(visible)
    if not found:
        raise SelfCheckError(f"{path} has no nbgrader questions: is it a course lab?")
    by_cell = {name: q for q in found for name in (*q.tests, *q.answers)}
    cells = cells_by_id(visible)
    result = Validation(path.name)
    result.unanswered = [q.label for q in found if any(is_unanswered(cells[a]) for a in q.answers)]
    try:
        config = load_config(find_root(path.parent))
    except Exception:  # outside a course clone: nbgrader's defaults
        from traitlets.config import Config

        config = Config()
    config.Validator.validate_all = True  # errors in any cell, not only in test cells
    prepared = notebooks.with_parameters(visible, notebooks.CI_PARAMETERS) if quick else visible
    with scratch_lab(path) as copy:
        notebooks.write(prepared, copy)
        print(f"Validating {path.name} with nbgrader (runs every cell in a scratch copy)...", flush=True)
        validator = Validator(config=config)
        # Like the grader: stderr (warnings, MLflow's log lines) is shown, not scored (course.cell_passes).
        validator.preprocessors = [*validator.preprocessors, StderrIsNotAnError]
        outcome = validator.validate(str(copy))
    by_source = {c.source.strip(): (i, c) for i, c in enumerate(visible.cells)}

    def locate(source: str) -> tuple[str, Question | None, bool]:
        """The cell's description, its question and whether it is a test cell."""
        if source not in by_source:
            return "a cell", None, False
        index, cell = by_source[source]
        meta = notebooks.nbgrader_meta(cell)
        question = by_cell.get(meta.get("grade_id", ""))
        return _describe(cell, index, question), question, bool(meta.get("grade"))

    result.type_changed = [locate(e["source"])[0] for e in outcome.get("type_changed", [])]
    result.changed = [locate(e["source"])[0] for e in outcome.get("changed", [])]
    for entry in outcome.get("failed", []):
        where, question, is_test = locate(entry["source"])
        if question is not None and question.label in result.unanswered:
            continue  # already listed as not written
        (result.failed if is_test else result.errors).append((where, _last_error_line(entry.get("raw_error", ""))))
    return result
