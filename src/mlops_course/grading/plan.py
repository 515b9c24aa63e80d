"""Planning an autograde batch: what the course's configuration says, which submissions, one job each.

The batch (`grading.autograde`) reads the course's configuration once, into `CourseSettings`, and
hands it to every step: reading `nbgrader_config.py` costs a parse each time, and one reading per
batch means every step agrees on the folders and the gradebook.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from traitlets.config import Config

from mlops_course.course.config import load_config
from mlops_course.course.layout import assignment_notebooks, resolve_labs
from mlops_course.errors import GradingError
from mlops_course.grading.nbgrader_api import open_api, require_success
from mlops_course.grading.sandbox import process_matplotlib_cache


@dataclass(frozen=True)
class CourseSettings:
    """What a batch needs of the course's configuration, read once per batch (`read`) and derived from it."""

    root: Path
    db_url: str | None  # the gradebook URL the caller asked for (None: the course's own)
    config: Config  # the whole configuration as read, from which each lab's and submission's is derived

    @classmethod
    def read(cls, root: Path, db_url: str | None = None) -> CourseSettings:
        root = Path(root).resolve()
        return cls(root=root, db_url=db_url, config=load_config(root, db_url))

    @property
    def gradebook_url(self) -> str:
        """The gradebook the grades go to, as configured or asked for."""
        return str(self.config.CourseDirectory.db_url)

    @property
    def course_id(self) -> str:
        return self.config.CourseDirectory.course_id

    @property
    def source_dir(self) -> Path:
        return self.root / self.config.CourseDirectory.source_directory

    @property
    def submitted_dir(self) -> Path:
        return self.root / self.config.CourseDirectory.submitted_directory

    @property
    def autograded_dir(self) -> Path:
        return self.root / self.config.CourseDirectory.autograded_directory

    @property
    def scores_stderr(self) -> bool:
        return scores_stderr(self.config)


def scores_stderr(config) -> bool:
    """Does the course keep nbgrader's rule that stderr costs a test cell its points?

    This course does not (`course.cell_passes`); another nbgrader course does unless its config
    runs `StderrIsNotAnError` as we do, so its scores stay those of `nbgrader autograde`.
    """
    settings = config.Autograde
    steps = settings.autograde_preprocessors if "autograde_preprocessors" in settings else []
    return not any("StderrIsNotAnError" in str(step) for step in steps)


@dataclass(frozen=True)
class Job:
    lab: str
    student: str
    submitted: Path
    scratch: Path
    template_db: Path
    expected: tuple[str, ...]  # notebook names nbgrader will look for
    matplotlib_cache: str = ""  # built once per process (sandbox.process_matplotlib_cache)


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def submitted_students(root: Path, lab: str) -> list[str]:
    """Students with a folder for `lab` under autograder/submitted/."""
    return students_in(Path(root) / load_config(root).CourseDirectory.submitted_directory, lab)


def students_in(submitted_dir: Path, lab: str) -> list[str]:
    """Students with a folder for `lab` in `submitted_dir` (nbgrader's <student>/<lab>/ layout)."""
    if not submitted_dir.is_dir():
        return []
    return sorted(p.name for p in submitted_dir.iterdir() if (p / lab).is_dir())


def plan_jobs(course: CourseSettings, lab: str | None, students: list[str] | None, batch: Path) -> list[Job]:
    """One job per submission of `lab` (or of every lab), each with a scratch folder in `batch`."""
    queue = []
    for name in resolve_labs(course.root, lab):
        who = [s for s in students_in(course.submitted_dir, name) if not students or s in students]
        if not who:
            continue
        ensure_assignment(course, name)
        template = make_template(course, name, batch / f"{name}.db")
        expected = tuple(p.stem for p in assignment_notebooks(course.root, name))
        fonts = process_matplotlib_cache()  # built by the first batch of this process
        for student in who:
            scratch = batch / name / student
            scratch.mkdir(parents=True)
            queue.append(Job(name, student, course.submitted_dir / student / name, scratch, template, expected,
                             str(fonts or "")))
    return queue


# --- the gradebook side: runs in the batch process ---------------------------------------------


def ensure_assignment(course: CourseSettings, lab: str) -> None:
    """Record the lab in the course gradebook if it is not there yet (without touching labs/)."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(course.gradebook_url, course.course_id) as gb:
        try:
            if gb.find_assignment(lab).notebooks:
                return
        except MissingEntry:
            pass
    with tempfile.TemporaryDirectory(prefix="mlops-course-release-") as scratch:
        api = open_api(course.root, db_url=course.db_url, read=course.config,
                       **{"CourseDirectory.release_directory": scratch})
        require_success(api.generate_assignment(lab, force=True, create=True),
                        f"recording '{lab}' in the gradebook", GradingError)


def make_template(course: CourseSettings, lab: str, dest: Path) -> Path:
    """A private SQLite gradebook holding only the lab (cells, checksums, due date) for grading processes."""
    from nbgrader.api import Gradebook

    with tempfile.TemporaryDirectory(prefix="mlops-course-release-") as scratch:
        api = open_api(course.root, db_url=f"sqlite:///{dest}", read=course.config,
                       **{"CourseDirectory.release_directory": scratch})
        require_success(api.generate_assignment(lab, force=True, create=True),
                        f"nbgrader generate_assignment for '{lab}'", GradingError)
    with Gradebook(course.gradebook_url, course.course_id) as main:
        duedate = main.find_assignment(lab).duedate
    with Gradebook(f"sqlite:///{dest}", course.course_id) as gb:
        gb.update_or_create_assignment(lab, duedate=duedate)
    return dest
