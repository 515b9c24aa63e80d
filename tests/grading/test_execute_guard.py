"""Does the guarded executor end a graded kernel at once, without running the notebook's exit code?

After the last cell nothing in a graded kernel is worth keeping, so mlops_course.grading.execute_guard
kills it instead of asking it to exit: that saves about a second per submission, and a
submission cannot make the batch wait with slow exit handlers of its own.
"""

from __future__ import annotations

import nbformat
import pytest
from jupyter_client.manager import AsyncKernelManager

from mlops_course.grading.execute_guard import GuardedExecute
from mlops_course.course.kernel import KERNEL_NAME

pytestmark = pytest.mark.slow

EXIT_HANDLER = "import atexit, pathlib\natexit.register(pathlib.Path('exit-handler-ran').touch)"


def _run_with(tmp_path, **settings) -> bool:
    """Run a one-cell notebook that registers an exit handler; did the handler run?"""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(EXIT_HANDLER)])
    nb.metadata["kernelspec"] = {"name": KERNEL_NAME, "display_name": KERNEL_NAME, "language": "python"}
    executor = GuardedExecute(kernel_manager_class=AsyncKernelManager, check_tampering=False, **settings)
    executor.preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    assert not any(o.get("output_type") == "error" for o in nb.cells[0].outputs), nb.cells[0].outputs
    return (tmp_path / "exit-handler-ran").exists()


def test_a_graded_kernel_is_killed_not_asked_to_exit(tmp_path):
    assert not _run_with(tmp_path), "the kernel ran the notebook's exit handler: it was shut down gracefully"


def test_a_graceful_shutdown_would_run_the_exit_handler(tmp_path):
    """The check above can fail: nbclient's own default lets the handler run."""
    assert _run_with(tmp_path, shutdown_kernel="graceful")
