"""Self-check: run a lab's visible tests and say, question by question, what passes.

Inside a notebook, `check()` runs the visible test cells against the kernel's
live variables, so a learner gets feedback on exactly what they have run, with
no restart and no waiting. In a terminal, `mlops-course check` runs a scratch
copy of the notebook first and reports the same way (see `check_notebook`).

Only visible tests ever run: hidden-test blocks are stripped first, even from
an instructor's notebook, and test source is never shown; the hint is the
message of the assertion that failed, which lab authors write for learners.
"""

from __future__ import annotations

import contextlib
import html
import io
import json
import os
import sys
import warnings
from dataclasses import asdict, dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode

from mlops_course.course import notebooks
from mlops_course.course.questions import (
    Question,
    answer_raised,
    builds_on,
    cell_error,
    cells_by_id,
    fails_too,
    find_question,
    is_unanswered,
    python_source,
    questions,
    without_hidden_tests,
)
from mlops_course.errors import SelfCheckError

MIME_TYPE = "application/vnd.mlops-course.selfcheck+json"
# Lines that call the self-check; the command-line check drops them and appends its own.
CHECK_IMPORT = "mlops_course.selfcheck"  # what notebooks import (the module of that name re-exports check)
LEFT = 'style="text-align: left"'  # notebooks right-align table cells; hints read better from the left


class Status(str, Enum):
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    NOT_DONE = "not done"
    WRITTEN = "written"
    TO_WRITE = "to write"

    @property
    def mark(self) -> str:
        return {"passed": "✔", "written": "✎", "to write": "✎", "failed": "✘", "error": "✘", "not done": "·"}[self.value]


@dataclass(frozen=True)
class Result:
    """What the self-check found for one question, with the hint to show beside it."""

    question: Question
    status: Status
    hint: str = ""


@dataclass(frozen=True)
class Report:
    """A self-check of one lab (all its questions, or one); shows itself as text and as a table."""

    lab: str
    results: tuple[Result, ...]

    @property
    def all_passed(self) -> bool:
        """Every checked question passes its visible tests (answers in words are for the instructor)."""
        return all(r.status is Status.PASSED for r in self.results if not r.question.manual)

    def summary(self) -> str:
        auto = [r for r in self.results if not r.question.manual]
        manual = [r for r in self.results if r.question.manual]
        parts = []
        if auto:
            parts.append(f"{sum(r.status is Status.PASSED for r in auto)} of {len(auto)} "
                         + ("questions pass their" if len(auto) != 1 else "question passes its") + " visible tests")
        if manual:
            parts.append(f"{sum(r.status is Status.WRITTEN for r in manual)} of {len(manual)} "
                         f"answer{'s' if len(manual) != 1 else ''} in words written")
        return "; ".join(parts) + "."

    def text(self) -> str:
        width = max((len(r.question.label) for r in self.results), default=0)
        id_width = max((len(r.question.id) for r in self.results), default=0)
        lines = [f"Self-check of {self.lab} (visible tests only; hidden tests run when your lab is graded)"]
        for r in self.results:
            line = f"  {r.status.mark} {r.question.label:<{width}}  {r.question.id:<{id_width}}  {r.status.value}"
            lines.append(line + (f": {r.hint}" if r.hint else ""))
        lines.append(self.summary())
        return "\n".join(lines)

    def html(self) -> str:
        rows = "".join(
            f'<tr class="selfcheck-{r.status.name.lower()}"><td>{r.status.mark}</td>'
            f"<td {LEFT}>{html.escape(r.question.label)}</td><td {LEFT}><code>{html.escape(r.question.id)}</code></td>"
            f"<td {LEFT}><b>{html.escape(r.status.value)}</b></td><td {LEFT}>{html.escape(r.hint)}</td></tr>"
            for r in self.results
        )
        return (
            f'<div class="mlops-selfcheck"><p><b>Self-check of {html.escape(self.lab)}</b> '
            "(visible tests only; hidden tests run when your lab is graded)</p>"
            f"<table><thead><tr><th></th>{''.join(f'<th {LEFT}>{h}</th>' for h in ('Question', 'Cell', 'Status', 'Hint'))}"
            "</tr></thead>"
            f"<tbody>{rows}</tbody></table><p>{html.escape(self.summary())}</p></div>"
        )

    def to_json(self) -> dict:
        return {"lab": self.lab,
                "results": [{**asdict(r.question), "status": r.status.value, "hint": r.hint} for r in self.results]}

    @classmethod
    def from_json(cls, data: dict) -> Report:
        def question(d: dict) -> Question:
            fields = {k: d[k] for k in ("id", "label", "points", "manual")}
            return Question(**fields, answers=tuple(d["answers"]), tests=tuple(d["tests"]))

        return cls(data["lab"], tuple(Result(question(d), Status(d["status"]), d["hint"]) for d in data["results"]))

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        return {"text/plain": self.text(), "text/html": self.html(), MIME_TYPE: self.to_json()}


def _innermost_frame_file(exc: BaseException) -> str:
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_code.co_filename if tb is not None else ""


def run_test(source: str, test_id: str, namespace: dict[str, Any]) -> tuple[Status, str]:
    """Run one visible test cell on a shallow copy of `namespace`; return its status and hint.

    The copy keeps the test's private variables out of the learner's
    namespace while their functions and data stay the live ones.
    """
    filename = f"<visible tests of {test_id}>"
    try:
        code = compile(python_source(source), filename, "exec")
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exec(code, dict(namespace))
    except AssertionError as exc:
        return Status.FAILED, str(exc).strip() or "a visible test failed (its assertion has no message)"
    except NotImplementedError:
        return Status.NOT_DONE, "your answer still raises NotImplementedError: write it and run its cell"
    except NameError as exc:
        if _innermost_frame_file(exc) == filename:
            return Status.NOT_DONE, f"{exc}: run your answer cell (and the cells above it) first"
        return Status.ERROR, f"NameError: {exc}"
    except Exception as exc:  # noqa: BLE001 (the learner's code may raise anything; report it, never crash the check)
        return Status.ERROR, f"{type(exc).__name__}: {exc}"
    return Status.PASSED, ""


def run_visible_tests(nb: NotebookNode, namespace: dict[str, Any], question: str | None = None) -> list[Result]:
    """Check every question of `nb` (or the one named) against `namespace`, visible tests only.

    Answers in words cannot be checked by a machine: they count as written
    when their cell no longer holds what nbgrader released.
    """
    visible = without_hidden_tests(nb)
    found = questions(visible)
    if not found:
        raise SelfCheckError("this notebook has no nbgrader questions (no answer or test cells) to check")
    selected = [find_question(found, question)] if question else found
    cells = cells_by_id(visible)
    results = []
    for q in selected:
        if q.manual:
            unanswered = is_unanswered(cells[q.id])
            results.append(Result(q, Status.TO_WRITE if unanswered else Status.WRITTEN,
                                  "an answer in words, graded by your instructor: write it below the question "
                                  "and save" if unanswered else "graded by your instructor"))
            continue
        status, hint = Status.PASSED, ""
        for test_id in q.tests:
            status, hint = run_test(cells[test_id].source, test_id, namespace)
            if status is not Status.PASSED:
                break
        if status in (Status.FAILED, Status.ERROR) and any(is_unanswered(cells[a]) for a in q.answers if a in cells):
            # An answer that works by side effects (runs logged in MLflow) fails its test rather than raising
            # NotImplementedError; while its cell still holds the released stub, it is simply not done yet.
            status, hint = Status.NOT_DONE, "your answer cell still holds the released stub: write it and run its cell"
        results.append(Result(q, status, hint))
    return results


def _cell_name(nb: NotebookNode, index: int) -> str:
    """'cell 12 (first line)', numbered as in the learner's notebook (papermill's injected cell not counted)."""
    injected = sum("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells[:index])
    return f"cell {index + 1 - injected} ({(nb.cells[index].source.strip().splitlines() or [''])[0][:50]})"


def explain(results: list[Result], nb: NotebookNode, with_outputs: bool) -> list[Result]:
    """Point each failing question at its first cause, before the test's own hint.

    The answer cell raised (a SyntaxError reads as "your answer cell raised ...", not as
    "not run yet"); an earlier question it builds on fails too ("Question 1 fails too: fix it
    first"); a code cell it relies on raised (named by number and first line). `with_outputs`
    reads the cells' outputs (a notebook just run); without, only syntax is checked.
    """
    cells = cells_by_id(nb)
    depends = builds_on(nb)
    by_id: dict[str, Result] = {}  # the questions explained so far (an earlier one may have become an error)
    explained = []
    for r in results:
        answers = [cells[a] for a in r.question.answers if a in cells]
        if r.status not in (Status.FAILED, Status.ERROR, Status.NOT_DONE) or any(is_unanswered(c) for c in answers):
            explained.append(by_id.setdefault(r.question.id, r))
            continue
        status, hint = r.status, r.hint
        raised = next((e for c in answers if (e := cell_error(c, with_outputs))), None)
        if raised:
            status, hint = Status.ERROR, answer_raised(raised)
        needs = depends.get(r.question.id)
        notes = []
        if needs:
            earlier = [e.question.label for q, e in by_id.items()
                       if q in needs.questions and e.status in (Status.FAILED, Status.ERROR)]
            if earlier:
                notes.append(fails_too(earlier))
            if with_outputs:
                notes += [f"{_cell_name(nb, i)} raised {e}" for i in sorted(needs.cells)
                          if (e := cell_error(nb.cells[i]))][:1]
        explained.append(Result(r.question, status, "; ".join([*notes, hint])))
        by_id[r.question.id] = explained[-1]
    return explained


def find_notebook(namespace: dict[str, Any], given: str | Path | None = None) -> Path:
    """The notebook this kernel runs: named by the caller, by Jupyter or VS Code, or by the lab folder convention."""
    if given is not None:
        path = Path(given).expanduser()
        if not path.is_file():
            raise SelfCheckError(f"there is no notebook {path.resolve()}")
        return path
    for name in ("__session__", "__vsc_ipynb_file__"):
        value = namespace.get(name)
        if isinstance(value, str) and value.endswith(".ipynb") and Path(value).is_file():
            return Path(value)
    here = Path.cwd()
    conventional = here / f"{here.name}.ipynb"
    if conventional.is_file():
        return conventional
    candidates = sorted(here.glob("*.ipynb"))
    if len(candidates) == 1:
        return candidates[0]
    raise SelfCheckError(
        f"check() could not tell which notebook it runs in (working folder {here}): run the lab with its own "
        "folder as the working folder (papermill --cwd labs/<lab> ...), or name it with its path from that folder, "
        f"for example check(notebook={_example_path(here)!r})"
    )


def _example_path(here: Path) -> str:
    """A path to a lab notebook that works from `here`: a real one below it if there is one."""
    found = sorted(here.glob("*/*/*.ipynb")) + sorted(here.glob("*/*.ipynb"))
    labs = [p for p in found if p.parent.name == p.stem and ".ipynb_checkpoints" not in p.parts]
    return str(labs[0].relative_to(here)) if labs else "labs/lab01-scoping/lab01-scoping.ipynb"


def check(question: str | None = None, notebook: str | Path | None = None, explain_failures: bool = True) -> None:
    """Run the visible tests of this lab (or of one question) on what you have run so far, and show the result.

    `question` is a question's number ("3"), its answer cell (e.g. "add_target")
    or its test cell. Nothing is graded or saved: this only tells you where you stand.
    `explain_failures=False` leaves each hint as its test gave it (`mlops-course check`
    explains them itself once the run's outputs are known).
    """
    if os.environ.get("NBGRADER_EXECUTION"):
        print("Self-check skipped: nbgrader is running this notebook and runs every test itself.")
        return
    from IPython import get_ipython
    from IPython.display import display

    shell = get_ipython()
    if shell is None:
        raise SelfCheckError("check() runs inside a Jupyter notebook; in a terminal run `mlops-course check <notebook>`")
    path = find_notebook(shell.user_ns, notebook)
    nb = notebooks.read(path)
    results = run_visible_tests(nb, shell.user_ns, question)
    if explain_failures:
        results = explain(results, without_hidden_tests(nb), with_outputs=False)  # saved outputs may be stale
    display(Report(path.stem, tuple(results)))


def report_from_outputs(cell: NotebookNode) -> Report | None:
    """The self-check report a cell displayed, if it displayed one."""
    for output in cell.get("outputs", []):
        data = output.get("data", {})
        if MIME_TYPE in data:
            payload = data[MIME_TYPE]
            return Report.from_json(json.loads(payload) if isinstance(payload, str) else payload)
    return None


def check_notebook(path: Path, question: str | None = None, quick: bool = False) -> Report:
    """Run a scratch copy of the notebook, then self-check it in the same kernel (the `mlops-course check` command).

    The learner's folder is left untouched: whatever the lab writes goes to the copy.
    """
    from mlops_course.learner.scratch import execute, load_lab_notebook, scratch_lab

    nb = load_lab_notebook(path)
    if question:
        find_question(questions(nb), question)  # an unknown name fails now, not after the run
    with scratch_lab(path) as copy:
        prepared = without_hidden_tests(nb)
        prepared.cells = [c for c in prepared.cells if not (c.cell_type == "code" and CHECK_IMPORT in c.source)]
        if quick:
            prepared = notebooks.with_parameters(prepared, notebooks.CI_PARAMETERS)
        call = f"check(question={question!r}, notebook={str(copy)!r}, explain_failures=False)"
        prepared.cells.append(nbformat.v4.new_code_cell(f"from {CHECK_IMPORT} import check\n{call}"))
        notebooks.write(prepared, copy)  # the scratch copy holds no hidden test either
        execute(prepared, copy.parent, label=path.name)
    last = prepared.cells[-1]
    report = report_from_outputs(last)
    if report is None:
        errors = [f"{o.get('ename')}: {o.get('evalue')}" for o in last.get("outputs", []) if o.get("output_type") == "error"]
        raise SelfCheckError(f"the self-check did not run in {path.name}: {'; '.join(errors) or 'no output'}")
    prepared.cells.pop()
    return Report(report.lab, tuple(explain(list(report.results), prepared, with_outputs=True)))


def print_report(report: Report, stream=None) -> None:
    print(report.text(), file=stream or sys.stdout)
