"""Running a learner's notebook in a scratch copy of its lab folder.

`mlops-course check` and `mlops-course validate` execute the whole notebook.
They do it in a temporary copy, so that nothing the lab writes (MLflow
stores, snapshots) and nothing the tools change lands in the learner's folder,
and the notebook on disk stays exactly as the learner saved it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from nbformat import NotebookNode

from mlops_course.course import notebooks
from mlops_course.course.config import CELL_TIMEOUT_SECONDS, IGNORED_FILES
from mlops_course.errors import SelfCheckError


def load_lab_notebook(path: Path) -> NotebookNode:
    """Read a notebook a learner pointed at, with a message that says what is wrong with it."""
    path = Path(path)
    if not path.is_file():
        raise SelfCheckError(f"there is no notebook {path}")
    if path.suffix != ".ipynb":
        raise SelfCheckError(f"{path} is not a Jupyter notebook (.ipynb)")
    try:
        return notebooks.read(path)
    except Exception as exc:  # nbformat raises several types for unreadable files
        raise SelfCheckError(f"{path} is not a readable notebook: {exc}") from exc


@contextmanager
def scratch_lab(path: Path) -> Iterator[Path]:
    """A temporary copy of the notebook's lab folder (or of the notebook alone); yields the copy's notebook.

    Files beside the notebook are copied only from a lab folder
    (`<lab>/<lab>.ipynb`), never from, say, a Downloads folder.
    """
    path = Path(path).resolve()
    with tempfile.TemporaryDirectory(prefix="mlops-course-check-") as tmp:
        target = Path(tmp) / path.parent.name
        if path.parent.name == path.stem:
            shutil.copytree(path.parent, target, ignore=shutil.ignore_patterns(*IGNORED_FILES))
        else:
            target.mkdir()
            shutil.copy2(path, target / path.name)
        yield target / path.name


def execute(nb: NotebookNode, cwd: Path, label: str, timeout: int = CELL_TIMEOUT_SECONDS) -> NotebookNode:
    """Run every cell of `nb` in its kernel, going on past errors as a learner's "Run All" would not.

    A blank or half-done lab raises in its answer cells; running on is what
    lets the report cover every question. Progress goes to stderr.
    """
    from jupyter_client.kernelspec import NoSuchKernel
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    total = len([c for c in nb.cells if c.cell_type == "code"])
    done = 0

    def progress(**_):
        nonlocal done
        done += 1
        if sys.stderr.isatty():
            print(f"\r  running {label}: cell {done}/{total}", end="", file=sys.stderr, flush=True)

    print(f"Running {label} ({total} code cells) in a scratch copy...", file=sys.stderr, flush=True)
    client = NotebookClient(nb, timeout=timeout, interrupt_on_timeout=True, allow_errors=True, on_cell_executed=progress,
                            resources={"metadata": {"path": str(cwd)}})
    kernel = nb.metadata.get("kernelspec", {}).get("name", "python3")
    try:
        # The kernel's own start-up chatter (a transport warning) is noise here.
        client.execute(stderr=subprocess.DEVNULL)
    except NoSuchKernel as exc:
        raise SelfCheckError(
            f"{label} runs in the Jupyter kernel '{kernel}', which is not installed here: "
            "run `make setup` (or `mlops-course install-kernel`)"
        ) from exc
    except DeadKernelError as exc:
        raise SelfCheckError(f"the kernel running {label} died (out of memory?): {exc}") from exc
    finally:
        if sys.stderr.isatty():
            print(file=sys.stderr)
    return nb
