"""Does regrading after a resubmission keep manual grades of unchanged answers and flag changed ones? (issue #20)

A toy class of two is collected, autograded and graded by hand (as the formgrader
does: a manual score, "graded"). Then ana resubmits with a changed written answer and
bo with the same written answer but a changed code answer; both are collected again
and regraded.
"""

from __future__ import annotations

import pytest
from nbgrader.api import Gradebook

from mlops_course.grading import autograde
from mlops_course.course import notebooks
from mlops_course.grading.collect import collect_folder
from mlops_course.course.config import load_config

from .. import nbfactory as nbf

LAB = nbf.TOY_LAB


def hand_in(inbox, answers: dict[str, dict]) -> None:
    for student, kwargs in answers.items():
        (inbox / student / LAB).mkdir(parents=True)
        notebooks.write(nbf.toy_submission(**kwargs), inbox / student / LAB / f"{LAB}.ipynb")


def grade_by_hand(course, student: str, score: float, comment: str) -> None:
    """What the formgrader does when an instructor scores an answer in words."""
    cd = load_config(course).CourseDirectory
    with Gradebook(cd.db_url, cd.course_id) as gb:
        grade = gb.find_grade("why", LAB, LAB, student)
        grade.manual_score, grade.needs_manual_grade = score, False
        gb.find_comment("why", LAB, LAB, student).manual_comment = comment
        gb.db.commit()


def state(course, student: str) -> dict:
    cd = load_config(course).CourseDirectory
    with Gradebook(cd.db_url, cd.course_id) as gb:
        grade = gb.find_grade("why", LAB, LAB, student)
        return {"manual": grade.manual_score, "needs_manual": grade.needs_manual_grade,
                "comment": gb.find_comment("why", LAB, LAB, student).manual_comment,
                "total": float(gb.find_submission(LAB, student).score)}


@pytest.fixture(scope="module")
def regraded(tmp_path_factory):
    base = tmp_path_factory.mktemp("regrade")
    course = nbf.toy_course(base / "course")
    hand_in(base / "first", {"ana": {"why": "Because it is linear."}, "bo": {"why": "Because of the tests."}})
    collect_folder(course, base / "first")
    autograde.autograde(course, LAB, jobs=2, progress=False)
    grade_by_hand(course, "ana", 2, "Well argued.")
    grade_by_hand(course, "bo", 1, "Half right.")
    hand_in(base / "second", {"ana": {"why": "Because I changed my mind."}, "bo": {"why": "Because of the tests.", "limit": 3}})
    report = collect_folder(course, base / "second")
    results = {r.student: r for r in autograde.autograde(course, LAB, jobs=2, progress=False)}
    return course, report, results


def test_does_collect_say_which_submissions_replace_earlier_ones_and_keep_them(regraded):
    """Does collect name each replaced submission and keep the earlier copy, with the earlier answer in it?"""
    course, report, _ = regraded
    lines = "\n".join(report.lines())
    for student in ("ana", "bo"):
        kept = course / report.replaced[(student, LAB)]
        assert f"collected {LAB} for {student} (replaces an earlier submission, kept in {report.replaced[(student, LAB)]})" in lines
        assert (kept / f"{LAB}.ipynb").is_file() and (kept / "timestamp.txt").is_file()
    earlier = notebooks.read(course / report.replaced[("ana", LAB)] / f"{LAB}.ipynb")
    assert notebooks.find_cell(earlier, "why").source == "Because it is linear."


def test_is_a_changed_written_answer_marked_for_regrading_with_its_old_score_shown_as_old(regraded):
    """Does ana's changed answer lose its manual score (kept in the comment as the old one) and wait for grading,
    with the batch and the gradebook agreeing on her total?"""
    course, _, results = regraded
    ana = state(course, "ana")
    assert ana["manual"] is None and ana["needs_manual"]
    assert ana["comment"].startswith("Old score 2 / 2 was for the earlier answer") and "Old comment: Well argued." in ana["comment"]
    assert ana["total"] == results["ana"].score == 4  # the automatic points only: 2 + 1 + 1
    assert results["ana"].regrade == ["why"] and results["ana"].pending == 2
    assert "old score kept as old: why" in autograde.summary_table(list(results.values()))


def test_does_an_unchanged_written_answer_keep_its_grade_and_graded_state(regraded):
    """Does bo's unchanged answer keep its manual score and stay graded, while his changed code is rescored?"""
    course, _, results = regraded
    bo = state(course, "bo")
    assert bo["manual"] == 1 and not bo["needs_manual"] and bo["comment"] == "Half right."
    assert bo["total"] == results["bo"].score == 3 + 1  # LIMIT = 3 fails one test cell; the manual point stays
    assert results["bo"].regrade == [] and results["bo"].pending == 0
