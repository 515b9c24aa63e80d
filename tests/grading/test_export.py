"""Does the export say which scores still miss manual grading, and open in spreadsheets? (issue #20, items 5 and 9)"""

from __future__ import annotations

import codecs

import pandas as pd
import pytest

from mlops_course.grading.autograde import summary_table
from mlops_course.grading.export import export_grades

from .. import nbfactory as nbf
from ..conftest import cli as run_cli

LAB = nbf.TOY_LAB


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    return nbf.graded_toy_class(tmp_path_factory.mktemp("export") / "course")


def test_does_the_summary_table_show_points_waiting_for_manual_grading(graded):
    """Does the summary name the points of ana's ungraded written answer, and not bo's blank one (scored zero)?"""
    _, results = graded
    lines = {line.split()[1]: line for line in summary_table(results).splitlines()[1:-1]}
    assert "2 point(s) wait for manual grading" in lines["ana"]
    assert "manual grading" not in lines["bo"]


def test_is_the_header_of_the_summary_table_aligned_with_its_columns(graded):
    """Does each column title start where its column starts, even for names shorter than 'student'?"""
    _, results = graded
    header, first = summary_table(results).splitlines()[:2]
    assert header.index("student") == first.index("ana")
    assert header.index("status") == first.index("graded")
    score = first.split()[2]
    assert header.index("score") <= first.index(score) + len(score) - 1 and header.index("score") + 5 >= first.index(score)


def test_does_the_lms_file_mark_pending_points_and_start_with_a_byte_order_mark(graded, tmp_path):
    """Does grades-lms.csv have a pending-manual column (2 for ana, 0 for bo) and a UTF-8 byte-order mark?"""
    course, _ = graded
    _, lms = export_grades(course, tmp_path)
    assert lms.read_bytes().startswith(codecs.BOM_UTF8)
    table = pd.read_csv(lms, encoding="utf-8-sig", dtype={"student_id": str}).set_index("student_id")
    assert list(table.columns[:3]) == ["last_name", "first_name", "email"]
    assert table.loc["ana", f"{LAB} pending manual (points)"] == 2 and table.loc["bo", f"{LAB} pending manual (points)"] == 0
    assert table.loc["ana", f"{LAB} (out of 6)"] == 4 and table.loc["bo", f"{LAB} (out of 6)"] == 3


def test_do_export_and_feedback_warn_before_sending_provisional_scores(graded, tmp_path):
    """Do `export` and `feedback` warn that ana's score is provisional (and still do their job), and not for bo alone?"""
    course, _ = graded

    def cli(*args):
        return run_cli(course, *args)

    exported = cli("export", "--out", str(tmp_path / "x"))
    assert exported.returncode == 0 and (tmp_path / "x" / "grades-lms.csv").exists(), exported.stderr
    assert f"warning: {LAB}: scores are provisional, answers in words are not graded yet for ana (2 points)" in exported.stderr
    feedback = cli("feedback", LAB)
    assert feedback.returncode == 0 and "scores are provisional" in feedback.stderr and "ana (2 points)" in feedback.stderr
    assert "scores are provisional" not in cli("feedback", LAB, "--student", "bo").stderr
    pages = {who: (course / "autograder" / "feedback" / who / LAB / f"{LAB}.html").read_text() for who in ("ana", "bo")}
    assert "Not graded yet:" in pages["ana"] and "Not graded yet:" not in pages["bo"]
