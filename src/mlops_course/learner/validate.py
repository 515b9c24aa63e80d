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

from mlops_course.course import notebooks
from mlops_course.course.questions import (
    BuildsOn,
    Question,
    builds_on,
    cells_by_id,
    fails_too,
    is_unanswered,
    questions,
    without_hidden_tests,
)
from mlops_course.course.questions import answer_raised as answer_raised_hint
from mlops_course.errors import SelfCheckError

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


def _explained(failing: dict[str, tuple[Question, str]], answer_raised: dict[str, tuple[str, str]],
               raised: dict[int, str], depends: dict[str, BuildsOn]) -> list[tuple[str, str]]:
    """Each failing question with its first cause ahead of its error, as the self-check says it (selfcheck.explain)."""
    lines = []
    for qid, (question, error) in failing.items():
        if qid in answer_raised:
            error = answer_raised_hint(answer_raised[qid][1])
        needs = depends.get(qid, BuildsOn())
        earlier = [failing[q][0].label for q in failing if q in needs.questions]
        notes = [fails_too(earlier)] if earlier else []
        notes += [raised[i] for i in sorted(needs.cells) if i in raised][:1]
        lines.append((question.label, "; ".join([*notes, error])))
    return lines


def validate_notebook(path: Path, quick: bool = False, executed: bool = False) -> Validation:
    """Run nbgrader's validator on a scratch copy of the notebook (hidden tests stripped) and explain the result.

    `executed=True` judges the outputs the notebook holds instead of running it again: the verdict
    nbgrader's validator gives on exactly what the learner saw (the tests compare it with the others').
    """
    from nbgrader.preprocessors import ClearOutput, Execute
    from nbgrader.validator import Validator

    from mlops_course.course.config import load_config
    from mlops_course.course.layout import find_root
    from mlops_course.course.scoring import StderrIsNotAnError
    from mlops_course.learner.scratch import load_lab_notebook, scratch_lab

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
    except Exception:  # noqa: BLE001 (outside a course clone: nbgrader's defaults)
        from traitlets.config import Config

        config = Config()
    config.Validator.validate_all = True  # errors in any cell, not only in test cells
    prepared = notebooks.with_parameters(visible, notebooks.CI_PARAMETERS) if quick and not executed else visible
    with scratch_lab(path) as copy:
        notebooks.write(prepared, copy)
        if not executed:
            print(f"Validating {path.name} with nbgrader (runs every cell in a scratch copy)...", flush=True)
        validator = Validator(config=config)
        steps = [p for p in validator.preprocessors if not (executed and p in (ClearOutput, Execute))]
        # Like the grader: stderr (warnings, MLflow's log lines) is shown, not scored (course.cell_passes).
        validator.preprocessors = [*steps, StderrIsNotAnError]
        outcome = validator.validate(str(copy))
    by_source = {c.source.strip(): (i, c) for i, c in enumerate(visible.cells)}

    def locate(source: str) -> tuple[str, Question | None, bool, int | None]:
        """The cell's description, its question, whether it is a test cell, and its index."""
        if source not in by_source:
            return "a cell", None, False, None
        index, cell = by_source[source]
        meta = notebooks.nbgrader_meta(cell)
        question = by_cell.get(meta.get("grade_id", ""))
        return _describe(cell, index, question), question, bool(meta.get("grade")), index

    result.type_changed = [locate(e["source"])[0] for e in outcome.get("type_changed", [])]
    result.changed = [locate(e["source"])[0] for e in outcome.get("changed", [])]
    failing: dict[str, tuple[Question, str]] = {}  # question id -> (question, error of its first failing test)
    answer_raised: dict[str, tuple[str, str]] = {}  # question id -> (where, error of its answer cell)
    raised: dict[int, str] = {}  # other cells that raised, by index
    for entry in outcome.get("failed", []):
        where, question, is_test, index = locate(entry["source"])
        if question is not None and question.label in result.unanswered:
            continue  # already listed as not written
        error = _last_error_line(entry.get("raw_error", ""))
        if is_test and question is not None:
            failing.setdefault(question.id, (question, error))
        elif question is not None:
            answer_raised.setdefault(question.id, (where, error))
        else:
            result.errors.append((where, error))
            if index is not None:
                raised[index] = f"{where} raised {error}"
    result.failed = _explained(failing, answer_raised, raised, builds_on(visible))
    result.errors += [answer_raised[q] for q in answer_raised if q not in failing]
    return result
