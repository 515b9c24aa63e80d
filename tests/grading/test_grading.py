"""Does the grading log warn about edited read-only cells, and only about those? (issue #20, item 7)"""

from __future__ import annotations

import subprocess
import sys

import pytest

from mlops_course.grading import nbgrader_runs as grading
from mlops_course.course import notebooks
from mlops_course.grading.nbgrader_api import open_api

from .. import nbfactory as nbf

LAB = nbf.TOY_LAB


@pytest.fixture(scope="module")
def graded_logs(tmp_path_factory):
    base = tmp_path_factory.mktemp("checksums")
    course = nbf.toy_course(base / "course")
    api = open_api(course, db_url=f"sqlite:///{base / 'release.db'}", **{"CourseDirectory.release_directory": str(base / "labs")})
    assert api.generate_assignment(LAB, force=True, create=True)["success"]
    released = notebooks.read(base / "labs" / LAB / f"{LAB}.ipynb")
    # Passes the visible test of `double`, fails its hidden one: proves the hidden tests were put back.
    grading.submit(course, LAB, "untouched", {LAB: notebooks.with_answer(released, "double", "def double(x):\n    return 4")})
    edited = notebooks.with_answer(released, "double", "def double(x):\n    return 4")
    notebooks.find_cell(edited, "test_limit_type").source = "pass"
    grading.submit(course, LAB, "edited", {LAB: edited})
    # As a separate command, as instructors run it: inside pytest, whose capture holds sys.stdout,
    # nbgrader's log would not reach the submission's log file.
    graded = subprocess.run([sys.executable, "-m", "mlops_course", "--root", str(course), "autograde", LAB, "--no-progress"],
                            check=False, capture_output=True, text=True, timeout=600)
    assert graded.returncode == 0, graded.stderr
    logs = {s: (course / "autograder" / "logs" / LAB / f"{s}.log").read_text() for s in ("untouched", "edited")}
    assert all("Sanitizing" in log for log in logs.values()), "nbgrader's log is not in the grading log"
    return course, logs


def test_is_an_untouched_released_lab_graded_without_checksum_warnings(graded_logs):
    """Does a lab whose read-only cells are as released get no "checksum has changed" warning, hidden tests still run?"""
    course, logs = graded_logs
    assert "has changed" not in logs["untouched"]
    scores = grading.cell_scores(course, LAB, "untouched")
    assert scores["test_double"].score == 0, "the hidden test of double(-3) should have failed"


def test_is_an_edited_test_cell_still_warned_about_and_restored(graded_logs):
    """Does a student's edit of a test cell still get nbgrader's warning, for that cell only, and the lab's test?"""
    course, logs = graded_logs
    changed = [line for line in logs["edited"].splitlines() if "has changed" in line]
    assert len(changed) == 1, logs["edited"][-3000:]
    assert "Attribute 'checksum' for cell test_limit_type has changed" in changed[0]
    assert grading.cell_scores(course, LAB, "edited")["test_limit_type"].score == 0  # LIMIT is never set: the real test fails
