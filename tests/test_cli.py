"""Does the mlops-course command list its work and fail with one clear line?"""

from __future__ import annotations

import subprocess
import sys

from mlops_course.course.layout import lab_names

from .conftest import ROOT


def run(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlops_course", *args], cwd=cwd, capture_output=True, text=True, check=False)


def test_help_lists_every_subcommand_with_what_it_does():
    """Does --help name every subcommand the parser has, each on a line of its own with a description?"""
    import argparse
    import re

    from mlops_course.cli import build_parser

    (commands,) = [a.choices for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    out = run("--help").stdout
    listed = dict(re.findall(r"^    (\S+)(?:  +| *\n {10,})(\S.*)$", out, re.MULTILINE))
    assert set(listed) == set(commands), f"--help lists {sorted(listed)}, the parser has {sorted(commands)}"
    assert {"labs", "release", "book", "collect", "autograde", "feedback", "export", "report", "sandbox"} <= set(listed)


def test_labs_lists_the_labs():
    """Does `mlops-course labs` print each lab on its own line?"""
    assert run("labs").stdout.split() == lab_names(ROOT)


def test_outside_a_course_folder_says_how_to_fix_it(tmp_path):
    """Run outside the course, does the command say where to run it instead of a traceback?"""
    result = run("labs", cwd=tmp_path)
    assert result.returncode == 1
    assert "no course folder found" in result.stderr and "Traceback" not in result.stderr
