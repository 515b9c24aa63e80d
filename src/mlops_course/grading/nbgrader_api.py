"""nbgrader's Python API on this course, configured exactly like the nbgrader CLI.

nbgrader's API does not read `nbgrader_config.py` on its own, which is why `open_api()` loads the
course's configuration (`course.config.load_config`); and it reports failure in a dict instead of
raising, which `require_success` turns into the course's own errors.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from traitlets.config import Config

from mlops_course.course.config import load_config, with_settings
from mlops_course.grading.gradebook import create_sqlite_gradebook


def put_environment_on_path() -> None:
    """nbgrader runs `alembic` by name: make this environment's bin/ win even when it is not activated."""
    bin_dir = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bin_dir:
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


def open_api(root: Path, db_url: str | None = None, read: Config | None = None, **overrides: Any):
    """An `nbgrader.apps.NbGraderAPI` for the course, configured like the nbgrader CLI.

    `read` is the course's configuration as a caller already read it (a grading batch reads it once);
    without it, `nbgrader_config.py` is read here.
    """
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    put_environment_on_path()
    if read is None:
        config = load_config(root, db_url, **overrides)
    else:
        config = with_settings(read, root, db_url, **overrides)
    url = str(config.CourseDirectory.db_url)
    if url.startswith("sqlite:///"):
        # SQLite creates the file but not its folder (a fresh course has no autograder/ yet).
        database = Path(url.removeprefix("sqlite:///"))
        database.parent.mkdir(parents=True, exist_ok=True)
        if not database.exists():
            create_sqlite_gradebook(database)  # seconds faster than nbgrader's own first open
    exchange = Path(config.Exchange.root) if "root" in config.Exchange else None  # another course may name none
    if exchange and exchange.is_relative_to(Path(root).resolve()):
        exchange.mkdir(parents=True, exist_ok=True)  # the course-local exchange (see configure)
    coursedir = CourseDirectory(config=config)
    return NbGraderAPI(coursedir, config=config)


def require_success(result: dict, action: str, error: type[Exception]) -> str:
    """nbgrader's API reports failure in a dict instead of raising; turn it into our error."""
    if result.get("success"):
        return result.get("log", "")
    details = (result.get("log") or "").strip() or (result.get("error") or "").strip()
    raise error(f"{action} failed:\n{details}")
