"""Does `mlops-course autograde` grade an instructor's own nbgrader course as `nbgrader autograde` does?

The course is nbgrader's own example, made as `nbgrader quickstart` makes it
(`quickstart_course`: its example assignment and the two settings it adds to
the config; the commented-out defaults it also writes take 30 s to generate
and set nothing). Its folders
are nbgrader's defaults (`source/`, `release/`, `submitted/`, `autograded/`,
`gradebook.db` at the top), its config names none of them, and its one
assignment (`ps1`) holds two notebooks named unlike the assignment. Three
students hand it in: one solved, one blank, and one with two slips (an answer
that is off by one, and an answer that writes a note to stderr, which plain
nbgrader scores zero). The same folder is graded by `nbgrader autograde` and by
`mlops-course autograde`, each in its own copy, and every cell's score and
manual-grading state must agree.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import nbgrader
import pytest

from mlops_course.grading import nbgrader_runs as grading

BIN = Path(sys.executable).parent
ASSIGNMENT = "ps1"
SOLVED = {  # answer cell -> code
    "squares": "def squares(n):\n    if n < 1:\n        raise ValueError('n must be at least 1')\n"
               "    return [i ** 2 for i in range(1, n + 1)]",
    "sum_of_squares": "def sum_of_squares(n):\n    return sum(squares(n))",
}
SLIPS = {
    "squares": "import sys\n\ndef squares(n):\n    if n < 1:\n        raise ValueError('n must be at least 1')\n"
               "    print('computing squares', file=sys.stderr)\n    return [i ** 2 for i in range(1, n + 1)]",
    "sum_of_squares": "def sum_of_squares(n):\n    return sum(squares(n)) + 1",
}


def run(args: list[str], cwd: Path, home: Path) -> subprocess.CompletedProcess:
    env = {"HOME": str(home), "PATH": f"{BIN}:/usr/bin:/bin", "MLFLOW_DISABLE_TELEMETRY": "true"}
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


def quickstart_course(course: Path) -> None:
    """What `nbgrader quickstart` makes: nbgrader's example assignment in source/, and its config additions."""
    example = Path(nbgrader.__file__).parent / "docs" / "source" / "user_guide" / "source"
    shutil.copytree(example, course / "source", ignore=shutil.ignore_patterns("*.html", "autotests.yml", "ps1_autotest"))
    (course / "nbgrader_config.py").write_text(
        'c = get_config()\n\nc.CourseDirectory.course_id = "demo"\n\nc.IncludeHeaderFooter.header = "source/header.ipynb"\n')


def hand_in(course: Path, student: str, answers: dict[str, str]) -> None:
    """Copy the released assignment into submitted/<student>/, with `answers` written into its cells."""
    folder = course / "submitted" / student / ASSIGNMENT
    shutil.copytree(course / "release" / ASSIGNMENT, folder)
    for path in folder.glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id in answers:
                cell.source = answers[grade_id]
        nbformat.write(nb, path)


def scores(course: Path, student: str) -> dict[str, tuple[float, bool]]:
    return {name: (s.score, s.needs_manual_grade)
            for name, s in grading.cell_scores(course, ASSIGNMENT, student).items()}


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> tuple[Path, Path]:
    """One quickstart course with three submissions, graded by plain nbgrader and by the course's grader."""
    top = tmp_path_factory.mktemp("plain-course")
    home = top / "home"
    home.mkdir()
    course = top / "demo"
    quickstart_course(course)
    run([str(BIN / "nbgrader"), "generate_assignment", ASSIGNMENT], course, home)
    hand_in(course, "solved", SOLVED)
    hand_in(course, "blank", {})
    hand_in(course, "slips", SLIPS)
    plain, ours = top / "plain", top / "ours"
    shutil.copytree(course, plain)
    shutil.copytree(course, ours)
    run([str(BIN / "nbgrader"), "autograde", ASSIGNMENT], plain, home)
    run([str(BIN / "mlops-course"), "autograde", "--root", str(ours), ASSIGNMENT, "--no-progress"], top, home)
    return plain, ours


@pytest.mark.parametrize("student", ["solved", "blank", "slips"])
def test_the_course_grader_gives_plain_nbgraders_scores(graded, student):
    """Does every cell get the same score and manual-grading state from both graders?"""
    plain, ours = graded
    expected = scores(plain, student)
    assert len(expected) == 9, f"nbgrader's quickstart should have 9 graded cells, found {sorted(expected)}"
    assert scores(ours, student) == expected


def test_the_submissions_tell_the_graders_apart(graded):
    """Do the three submissions score differently (so agreeing is no accident), the stderr slip included?"""
    plain, _ = graded
    solved, blank, slips = (scores(plain, s) for s in ("solved", "blank", "slips"))
    assert solved["correct_squares"][0] == 1 and solved["correct_sum_of_squares"][0] == 0.5
    assert blank["correct_squares"][0] == 0 and blank["squares_invalid_input"][0] == 0
    # Right answer, but it writes to stderr: plain nbgrader's rule scores the test zero.
    assert slips["correct_squares"][0] == 0 and slips["squares_invalid_input"][0] == 1
    assert slips["correct_sum_of_squares"][0] == 0 and slips["sum_of_squares_uses_squares"][0] == 0.5
