"""Do the commands of the instructors' grading guide work as written? (issue #20)

Every `mlops-course` line of book/instructors/grading.md must parse, and the
overview at its top, the whole flow from a platform's zip to the cohort report,
is run in order on a toy course (the toy lab standing in for Lab 01).
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from mlops_course.cli import build_parser

from . import nbfactory as nbf
from .conftest import ROOT, cli

GUIDE = ROOT / "book" / "instructors" / "grading.md"
LAB = nbf.TOY_LAB


def bash_blocks() -> list[list[str]]:
    """The guide's ```bash blocks, as lists of commands (comments and blank lines dropped)."""
    blocks = re.findall(r"```bash\n(.*?)```", GUIDE.read_text(), flags=re.DOTALL)
    return [[shlex.join(shlex.split(line, comments=True)) for line in block.splitlines() if shlex.split(line, comments=True)]
            for block in blocks]


def test_does_every_mlops_course_command_in_the_guide_exist_with_its_options():
    """Does each `mlops-course ...` line of the guide parse (its command and every option exist)?"""
    lines = [line for block in bash_blocks() for line in block if line.startswith("mlops-course ")]
    assert len(lines) >= 8
    for line in lines:
        try:
            build_parser().parse_args(shlex.split(line)[1:])
        except SystemExit:
            pytest.fail(f"the guide shows a command that does not parse: {line}")


def test_does_the_guides_overview_run_in_order(tmp_path):
    """Does the overview's flow (collect a zip, autograde, feedback, export, report) run in order, each exit 0?"""
    course = nbf.toy_course(tmp_path / "course")
    archive = tmp_path / "lab01-submissions.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(f"submissions/ana_{LAB}_{LAB}.ipynb", nbf.notebooks_json(nbf.toy_submission(why="Linear.")))
        zf.writestr(f"submissions/bo_{LAB}_{LAB}.ipynb", nbf.notebooks_json(nbf.toy_submission(limit=3)))
    overview = bash_blocks()[0]
    assert [line.split()[:2] for line in overview] == [
        ["mlops-course", "collect"], ["mlops-course", "autograde"], ["mlops-course", "formgrade"], ["mlops-course", "feedback"],
        ["mlops-course", "export"], ["mlops-course", "report"]]
    for line in overview:
        if line.startswith("mlops-course formgrade"):
            continue  # a server for a person to use (tests/grading/test_formgrade.py starts it)
        args = shlex.split(line.replace("~/Downloads/lab01-submissions.zip", str(archive)).replace("lab01-scoping", LAB))[1:]
        result = cli(course, *args)
        assert result.returncode == 0, (line, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
    assert sorted(p.parent.parent.name for p in (course / "autograder" / "feedback").glob(f"*/{LAB}/*.html")) == ["ana", "bo"]
    assert (course / "autograder" / "export" / "grades-lms.csv").is_file()
    assert (course / "autograder" / "reports" / "index.html").is_file()
    due = [line for block in bash_blocks() for line in block if line.startswith("nbgrader db assignment add")]
    assert len(due) == 1
    nbgrader = Path(sys.executable).parent / "nbgrader"  # this environment's, as the guide's reader has it on PATH
    result = subprocess.run([str(nbgrader), *shlex.split(due[0].replace("lab01-scoping", LAB))[1:]],
                            check=False, cwd=course, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
