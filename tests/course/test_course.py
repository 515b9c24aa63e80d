"""Does the course's nbgrader configuration score test cells by errors alone, keeping stderr visible?"""

from __future__ import annotations

import nbformat
import pytest
from jupyter_client.manager import AsyncKernelManager
from nbgrader.utils import has_failed

from mlops_course.course.config import load_config
from mlops_course.course.scoring import StderrIsNotAnError
from mlops_course.grading.execute_guard import GuardedExecute
from mlops_course.course.kernel import KERNEL_NAME

from ..conftest import ROOT


def graded_cell(*stderr: str, error: bool = False) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell("check()")
    cell.outputs = [nbformat.v4.new_output("stream", name="stderr", text=text) for text in stderr]
    if error:
        cell.outputs.append(nbformat.v4.new_output("error", ename="AssertionError", evalue="wrong", traceback=[]))
    return cell


def scored(cell: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The cell as nbgrader scores it: after the step the course runs right after execution."""
    steps = load_config(ROOT).Autograde.autograde_preprocessors
    assert steps[1] == "mlops_course.course.scoring.StderrIsNotAnError", steps
    nb = nbformat.v4.new_notebook(cells=[cell])
    StderrIsNotAnError(config=load_config(ROOT)).preprocess(nb, {})
    return nb.cells[0]


@pytest.mark.parametrize("chatter", [
    "2026/11/23 12:10:36 WARNING mlflow.tracking.context.registry: Encountered unexpected error\n",
    "Successfully registered model 'flight-delay'.\n",
    "Created version '2' of model 'flight-delay'.\n",
    "Registered model 'flight-delay' already exists. Creating a new version of this model...\n",
    "/venv/lib/python3.11/site-packages/sklearn/linear_model/_logistic.py:470: ConvergenceWarning: lbfgs failed\n",
])
def test_library_chatter_on_stderr_costs_no_points(chatter):
    """Does a correct test cell that MLflow or a Python warning wrote to stderr still count as passed?"""
    assert has_failed(graded_cell(chatter))
    assert not has_failed(scored(graded_cell(chatter)))


def test_an_error_still_fails_the_cell():
    """Does a failed assertion still score zero, with or without chatter beside it?"""
    assert has_failed(scored(graded_cell("Successfully registered model 'x'.\n", error=True)))


def test_a_learners_own_stderr_costs_no_points_and_stays_visible():
    """Does a student's own message on stderr cost nothing (only errors do) and keep its text for the feedback?"""
    cell = scored(graded_cell("my debugging note\n"))
    assert not has_failed(cell)
    assert [o.text for o in cell.outputs] == ["my debugging note\n"]


@pytest.mark.slow
def test_chatter_flushed_in_pieces_costs_no_points(tmp_path):
    """Does chatter that reaches the grader in two pieces (the line, then its newline) still cost nothing?

    The kernel flushes stderr when it likes, so `print(line, file=sys.stderr)` sometimes arrives as
    two outputs; the explicit flush here makes that happen every time.
    """
    code = "import sys\nsys.stderr.write(\"Successfully registered model 'x'.\")\nsys.stderr.flush()\nsys.stderr.write('\\n');"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    nb.metadata["kernelspec"] = {"name": KERNEL_NAME, "display_name": KERNEL_NAME, "language": "python"}
    executor = GuardedExecute(config=load_config(ROOT), kernel_manager_class=AsyncKernelManager, check_tampering=False)
    executor.preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    assert [o.text for o in nb.cells[0].outputs] == ["Successfully registered model 'x'.\n"], "stderr was not merged"
    assert not has_failed(nb.cells[0]), "the grader's executor should leave stderr unscored"
