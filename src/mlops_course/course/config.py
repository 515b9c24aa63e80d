"""The nbgrader course: one configuration for the nbgrader CLI, the formgrader and our tools.

`nbgrader_config.py` at the top of the repository calls `configure()`, so
running `nbgrader ...` there and calling `grading.nbgrader_api.open_api()` from
Python see exactly the same folders and gradebook.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

from traitlets.config import Config

from mlops_course.course.layout import CONFIG_FILE, RELEASE_DIR, SOURCE_DIR, read_config_file

COURSE_ID = "mlops-course"
DB_URL_ENV = "MLOPS_COURSE_DB_URL"
EXCHANGE_ENV = "MLOPS_COURSE_EXCHANGE"
GRADING_DIR = "autograder"
CELL_TIMEOUT_SECONDS = 120
# nbgrader scores a test cell zero when anything is written to stderr, but stderr is where
# libraries and Python put what is not an error: warnings of any class (Pandas4Warning,
# ConvergenceWarning, a learner's own warnings.warn), MLflow's log lines, progress bars. Telling
# those apart from stderr text is guesswork (a warning's message may span lines), so the course
# judges a cell by one rule, `cell_passes`: only an error (a failed assertion, an exception) fails
# it. The grader and validate keep stderr visible but unscored (course.scoring.StderrIsNotAnError).
# Labs write run outputs (MLflow stores, snapshots) into artifacts/ inside their folder:
# they are neither released to students nor collected from them.
IGNORED_FILES = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "artifacts", "mlflow.db"]


# The `CourseDirectory` settings our tools read; `load_config` gives each a value.
COURSE_DIRECTORY_SETTINGS = ("course_id", "source_directory", "release_directory", "submitted_directory",
                             "autograded_directory", "feedback_directory", "solution_directory", "db_url")


def cell_passes(outputs: list) -> bool:
    """The course's verdict on a cell from its outputs: it passes unless it raised an error.

    This is the one rule behind the grader, validate, progress and check(): a failed assertion
    or any exception fails a test; text on stderr (a warning of any class, library logging, a
    learner's own message) never does, and stays visible in the feedback.
    """
    return not any(output.get("output_type") == "error" for output in outputs)


# nbgrader's autograde steps, by name (nbconvert imports them when grading starts), with stderr
# kept but not scored (`cell_passes`) right after execution, where nbgrader runs IgnorePattern.
AUTOGRADE_PREPROCESSORS = [
    "nbgrader.preprocessors.Execute",
    "mlops_course.course.scoring.StderrIsNotAnError",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]


def default_db_url(root: Path) -> str:
    """SQLite beside the grading folders, unless $MLOPS_COURSE_DB_URL names another database."""
    return os.environ.get(DB_URL_ENV) or f"sqlite:///{root / GRADING_DIR / 'gradebook.db'}"


def configure(c: Config, root: Path, db_url: str | None = None) -> Config:
    """Fill an nbgrader config for the course rooted at `root`.

    solutions/ is nbgrader's source directory and labs/ its release directory;
    submissions, autograded copies and feedback go under autograder/, which git ignores.
    """
    root = Path(root).resolve()
    cd = c.CourseDirectory
    cd.root = str(root)
    cd.course_id = COURSE_ID
    cd.source_directory = SOURCE_DIR
    cd.release_directory = RELEASE_DIR
    cd.submitted_directory = f"{GRADING_DIR}/submitted"
    cd.autograded_directory = f"{GRADING_DIR}/autograded"
    cd.feedback_directory = f"{GRADING_DIR}/feedback"
    cd.solution_directory = f"{GRADING_DIR}/solution"
    cd.ignore = list(IGNORED_FILES)
    cd.db_url = db_url or default_db_url(root)
    c.Execute.timeout = CELL_TIMEOUT_SECONDS
    # nbgrader's IgnorePattern would delete whole stderr outputs; the course keeps them (see cell_passes).
    c.IgnorePattern.enabled = False
    c.IgnorePattern.pattern = ""
    c.Autograde.autograde_preprocessors = list(AUTOGRADE_PREPROCESSORS)
    # Keep a runaway print loop from filling the gradebook and the feedback pages.
    c.LimitOutput.max_lines = 500
    c.LimitOutput.max_traceback = 50
    # The exchange (release, fetch, submit, collect between accounts) is only used on a shared
    # class server, which sets $MLOPS_COURSE_EXCHANGE; alone, a course keeps an empty one inside.
    c.Exchange.root = os.environ.get(EXCHANGE_ENV) or str(root / GRADING_DIR / "exchange")
    return c


def load_config(root: Path, db_url: str | None = None, **overrides: Any) -> Config:
    """The course's nbgrader config, read from `root/nbgrader_config.py` as nbgrader reads it.

    `db_url` replaces the gradebook's URL; `overrides` are dotted traitlets
    names, e.g. ``{"Execute.timeout": 30}``. Every folder of `CourseDirectory`
    has a value, nbgrader's default where the file names none, so another
    nbgrader course's config can be read like this course's.
    """
    root = Path(root).resolve()
    c = read_config_file(root) if (root / CONFIG_FILE).is_file() else configure(Config(), root)
    return _with_settings(c, root, db_url, overrides)


def with_settings(config: Config, root: Path, db_url: str | None = None, **overrides: Any) -> Config:
    """A copy of a configuration already read, with another gradebook or settings, as `load_config` gives them.

    A grading batch reads the course's file once and derives each lab's and each submission's
    configuration from it, instead of reading (and running) `nbgrader_config.py` again each time.
    """
    return _with_settings(copy.deepcopy(config), Path(root).resolve(), db_url, overrides)


def _with_settings(c: Config, root: Path, db_url: str | None, overrides: dict[str, Any]) -> Config:
    if db_url:
        c.CourseDirectory.db_url = db_url
    for dotted, value in overrides.items():
        section, _, name = dotted.rpartition(".")
        setattr(getattr(c, section), name, value)
    _fill_course_directory(c, root)
    return c


def _fill_course_directory(c: Config, root: Path) -> None:
    """Give every folder setting nbgrader's own default (relative to `root`) where the config is silent.

    A config file sets only what it changes; reading an unset name would give traitlets'
    placeholder (`LazyConfigValue`) instead of nbgrader's `submitted`, `gradebook.db`, ...
    """
    settings = c.CourseDirectory
    if "root" not in settings:
        settings.root = str(root)
    missing = [name for name in COURSE_DIRECTORY_SETTINGS if name not in settings]
    if not missing:
        return  # this course's config sets them all: no need to import nbgrader (seconds) to read its defaults
    from nbgrader.coursedir import CourseDirectory

    defaults = CourseDirectory(config=c)
    for name in missing:
        setattr(settings, name, getattr(defaults, name))
