"""Building the course book with Jupyter Book 1.x (Sphinx), offline.

Jupyter Book 2 fetches its theme from the internet at build time, so the
course stays on 1.x; this module runs its build with warnings as errors.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from mlops_course.errors import BookBuildError

BOOK_DIR = "book"


def jupyter_book_command() -> str:
    """The jupyter-book of this environment, even when the environment is not activated."""
    beside = Path(sys.executable).parent / "jupyter-book"
    found = str(beside) if beside.exists() else shutil.which("jupyter-book")
    if not found:
        raise BookBuildError("jupyter-book is not installed in this environment: run `make setup`")
    return found


def build_book(root: Path, strict: bool = True) -> Path:
    """Build book/ into book/_build/html and return that folder; Sphinx's output is shown as it runs."""
    book = Path(root) / BOOK_DIR
    command = [jupyter_book_command(), "build", str(book), "--all"]
    if strict:
        command += ["--warningiserror", "--nitpick", "--keep-going"]
    result = subprocess.run(command, cwd=root, check=False)
    if result.returncode != 0:
        raise BookBuildError(
            "the book did not build cleanly; the warnings above name each file and line "
            "(`mlops-course book --allow-warnings` builds anyway)"
        )
    return book / "_build" / "html"
