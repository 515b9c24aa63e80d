"""Manual grading: nbgrader's formgrader on this course, with the gradebook every other command uses.

nbgrader's formgrader is no longer a command of its own (`nbgrader formgrade` only
says so); it is a Jupyter server extension that reads `nbgrader_config.py` in the
folder the server starts in. So it is started there, on the loopback interface,
with $MLOPS_COURSE_DB_URL set to the gradebook the other commands were given, and each answer
in words shown with its rubric (`rubrics`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mlops_course.course.config import DB_URL_ENV, load_config
from mlops_course.grading import rubrics
from mlops_course.grading.gradebook import require_gradebook


def formgrade_command(root: Path, port: int, extra: list[str] | None = None) -> list[str]:
    """The `jupyter lab` command line that serves the formgrader for the course at `root`."""
    jupyter = Path(sys.executable).parent / "jupyter"
    return [str(jupyter if jupyter.exists() else "jupyter"), "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}", f"--ServerApp.root_dir={Path(root).resolve()}",
            *(["--allow-root"] if os.geteuid() == 0 else []),  # a container or class server's root; loopback only
            *rubrics.server_options(root), *(extra or [])]


# A learner's JupyterLab hides nbgrader's instructor tools (`make setup` disables them); this
# configuration folder shows them again for the instructor (`make lab INSTRUCTOR=1`, formgrade).
INSTRUCTOR_LAB_CONFIG = Path(__file__).with_name("instructor_lab")


def formgrade_environment(root: Path, db_url: str | None = None) -> dict[str, str]:
    """The environment for the server: the gradebook checked to exist and answer, and named for nbgrader_config.py;
    nbgrader's instructor tools shown."""
    url = str(load_config(root, db_url).CourseDirectory.db_url)
    require_gradebook(url)
    config_path = os.pathsep.join(filter(None, [str(INSTRUCTOR_LAB_CONFIG), os.environ.get("JUPYTER_CONFIG_PATH")]))
    return {**os.environ, DB_URL_ENV: url, "JUPYTER_CONFIG_PATH": config_path}
