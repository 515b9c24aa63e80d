"""Does the parallel, sandboxed autograde give a whole class the grades plain nbgrader gives, with SQLite and PostgreSQL?

A synthetic class of Lab 01 (solutions, a blank lab, known wrong answers, one
late submission, one student who never submits) is graded three ways: plain
nbgrader one notebook at a time (the reference; the late student handed in the
same notebook as another, which it grades once), then `autograde` with two jobs
into SQLite (the whole class) and into PostgreSQL (a solution, the blank lab and
a wrong answer: the gradebook is what that route changes). Every student's every
cell must match the reference, and the reference itself must be right (solutions
full marks, blank zero, each wrong answer loses its cells). The SQLite course is
then used for feedback, export and the cohort report.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from mlops_course.grading import autograde, plan
from mlops_course.grading import nbgrader_runs as grading
from mlops_course.course import notebooks
from mlops_course.course.layout import release_notebook, source_notebook
from mlops_course.grading.sandbox import Limits

from ..conftest import ROOT, copy_course, lab_points
from ..labs.mistakes import wrong_answers

LAB = "lab01-scoping"
DUE = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
# Two answer cells, one mistake each (the cohort report reads the first's question, the feedback test the
# second's page). More proved nothing more here: the lab tests grade every wrong answer of Lab 01.
WRONG = [w for w in wrong_answers(LAB) if w.number in (1, 3)]
ROSTER = ["absent"]  # on the roster, never submits


def ci(nb):
    return notebooks.with_parameters(nb, notebooks.CI_PARAMETERS)


def class_submissions(course) -> dict[str, tuple]:
    """student -> (notebook, hand-in time)."""
    solution = ci(notebooks.read(source_notebook(course, LAB)))
    on_time = DUE - dt.timedelta(hours=1)
    subs = {"ana": (solution, on_time), "late-lea": (solution, DUE + dt.timedelta(hours=5)),
            "blank-bo": (ci(notebooks.read(release_notebook(ROOT, LAB))), on_time)}
    for w in WRONG:
        subs[w.student] = (ci(notebooks.with_answer(notebooks.read(source_notebook(course, LAB)), w.answer_cell, w.code)), on_time)
    return subs


# Who hands in the same notebook as another (their grades must be that other's).
SAME_NOTEBOOK = {"late-lea": "ana"}
# The PostgreSQL class: one of each kind of submission, two jobs at once.
POSTGRES_CLASS = ["ana", "blank-bo", WRONG[0].student]


def make_class(tmp_path_factory, name: str, students: list[str] | None = None):
    course = copy_course(tmp_path_factory.mktemp(name), [LAB])
    for student, (nb, when) in class_submissions(course).items():
        if students is None or student in students:
            grading.submit(course, LAB, student, {LAB: nb}, when=when)
    return course


def set_due_date(course, db_url=None):
    from nbgrader.api import Gradebook

    from mlops_course.course.config import load_config

    plan.ensure_assignment(plan.CourseSettings.read(course, db_url), LAB)
    cd = load_config(course, db_url).CourseDirectory
    with Gradebook(cd.db_url, cd.course_id) as gb:
        gb.update_or_create_assignment(LAB, duedate=DUE.replace(tzinfo=None))


def all_scores(course, students, db_url=None):
    return {s: {k: v.score for k, v in grading.cell_scores(course, LAB, s, db_url=db_url).items()} for s in students}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Plain nbgrader, one notebook after another, no sandbox."""
    submissions = class_submissions(ROOT)
    assert all(submissions[s][0] == submissions[same][0] for s, same in SAME_NOTEBOOK.items())
    graded = sorted(s for s in submissions if s not in SAME_NOTEBOOK)
    course = make_class(tmp_path_factory, "reference", graded)
    grading.generate_assignment(course, LAB)
    for student in graded:
        grading.autograde_one(course, LAB, student)
    scores = all_scores(course, graded)
    return {**scores, **{student: scores[same] for student, same in SAME_NOTEBOOK.items()}}


@pytest.fixture(scope="module")
def sqlite_class(tmp_path_factory):
    course = make_class(tmp_path_factory, "sqlite")
    set_due_date(course)
    results = autograde.autograde(course, LAB, jobs=2, limits=Limits(cell_timeout=60), progress=False)
    return course, results


@pytest.mark.slow
def test_reference_grades_are_right(reference):
    """Does plain nbgrader give the solutions full marks, the blank lab zero and each wrong answer zero on its cells?"""
    course_tests = {c.grade_id: c.points for c in notebooks.autograded_tests(notebooks.read(source_notebook(ROOT, LAB)))}
    for student in ("ana", "late-lea"):
        assert all(reference[student][cell] == points for cell, points in course_tests.items()), student
    assert sum(reference["blank-bo"].values()) == 0
    for w in WRONG:
        assert all(reference[w.student][cell] == 0 for cell in w.loses), (w.student, w.mistake)


@pytest.mark.slow
def test_parallel_sqlite_matches_plain_nbgrader(reference, sqlite_class):
    """With SQLite and two jobs, does every student get exactly the cell scores plain nbgrader gives?"""
    course, results = sqlite_class
    assert sorted(r.student for r in results) == sorted(reference)
    assert all_scores(course, sorted(reference)) == reference
    for r in results:
        assert r.score == sum(reference[r.student].values()), r.student
        assert r.status == "graded", (r.student, r.reasons)


@pytest.mark.slow
def test_parallel_postgres_matches_plain_nbgrader(reference, postgres_cluster, tmp_path_factory):
    """With a PostgreSQL gradebook and two jobs, does each kind of submission get exactly the cell scores plain nbgrader gives?"""
    from mlops_course.classroom import postgres

    db_url = postgres.create_database(postgres_cluster, "class_gradebook")
    course = make_class(tmp_path_factory, "postgres", POSTGRES_CLASS)
    set_due_date(course, db_url)
    results = autograde.autograde(course, LAB, jobs=2, limits=Limits(cell_timeout=60), db_url=db_url, progress=False)
    assert {r.student for r in results} == set(POSTGRES_CLASS)
    assert all_scores(course, POSTGRES_CLASS, db_url=db_url) == {s: reference[s] for s in POSTGRES_CLASS}
    assert not (course / "autograder" / "gradebook.db").exists(), "grades went to SQLite instead of PostgreSQL"


@pytest.mark.slow
def test_late_submission_is_reported(sqlite_class):
    """Is the submission handed in five hours after the due date reported late, and only that one?"""
    _, results = sqlite_class
    late = {r.student: r.seconds_late for r in results if r.seconds_late > 0}
    assert late == {"late-lea": 5 * 3600}


@pytest.mark.slow
def test_summary_table_lists_every_student(sqlite_class):
    """Does the summary table have a line per student with the score, and say who was late?"""
    _, results = sqlite_class
    table = autograde.summary_table(results)
    for r in results:
        assert any(line.split()[1] == r.student and f"{r.score:g}/{r.max_score:g}" in line for line in table.splitlines())
    assert "late by 5.0 h" in table


@pytest.mark.slow
def test_feedback_hides_hidden_tests(sqlite_class):
    """Does each student's feedback page exist and show no line of any hidden test, even where a hidden test failed?"""
    from mlops_course.grading.feedback import HIDDEN_BLOCK, HIDDEN_FAILURE, generate_feedback

    course, results = sqlite_class
    pages = generate_feedback(course, LAB)
    assert {p.parent.parent.name for p in pages} == {r.student for r in results}
    hidden = [line.strip() for cell in notebooks.read(source_notebook(course, LAB)).cells
              for block in HIDDEN_BLOCK.findall(cell.source) for line in block.splitlines()[1:-1] if len(line.strip()) > 12]
    assert hidden, "Lab 01 should have hidden tests for this check to mean anything"
    import html

    for page in pages:
        text = html.unescape(page.read_text())
        leaked = [line for line in hidden if line in text]
        assert not leaked, f"{page} shows hidden tests: {leaked[:2]}"
    failed = [w for w in WRONG if w.answer_cell == "add_target"]
    page = course / "autograder" / "feedback" / failed[0].student / LAB / f"{LAB}.html"
    assert "hidden tests" in html.unescape(page.read_text())
    assert any(HIDDEN_FAILURE in html.unescape(p.read_text()) for p in pages), "no page explains a failed hidden test"


@pytest.mark.slow
def test_export_writes_nbgrader_and_lms_csv(sqlite_class, tmp_path):
    """Are the grades exported in nbgrader's CSV format and as one row per student with a column per lab?"""
    from mlops_course.grading.export import export_grades

    course, results = sqlite_class
    long, wide = export_grades(course, tmp_path)
    long_df = pd.read_csv(long, dtype={"student_id": str})
    assert list(long_df.columns[:4]) == ["assignment", "duedate", "timestamp", "student_id"]
    wide_df = pd.read_csv(wide, dtype={"student_id": str}).set_index("student_id")
    _, total = lab_points(LAB)
    column = f"{LAB} (out of {total:g})"
    for r in results:
        assert wide_df.loc[r.student, column] == pytest.approx(r.score)
        assert wide_df.loc[r.student, "total"] == pytest.approx(r.score)


@pytest.mark.slow
def test_cohort_report(sqlite_class, tmp_path):
    """Does the cohort report show the score plot, every question's difficulty, the late student and the absent one?"""
    from mlops_course.grading.cohort import question_stats, read_gradebook, write_report

    course, _ = sqlite_class
    page = write_report(course, tmp_path, roster=ROSTER)
    text = page.read_text()
    assert (tmp_path / "scores.png").stat().st_size > 5000
    assert (tmp_path / f"questions-{LAB}.png").stat().st_size > 5000
    assert "late-lea" in text and "absent" in text
    stats = question_stats(read_gradebook(course).questions).set_index("question")
    # Every student passes the leaking-columns test but the blank lab and the one wrong answer there.
    students = len(class_submissions(course))
    assert stats.loc["test_leaking_columns", "difficulty"] == pytest.approx((students - 2) / students)
    assert stats.loc["test_leaking_columns", "discrimination"] > 0
    for question in stats.index:
        assert question in text


@pytest.mark.slow
def test_cli_export_and_report(sqlite_class, tmp_path):
    """Do `mlops-course export` and `mlops-course report` run on a graded course and say where they wrote?"""
    course, _ = sqlite_class
    for command in (["export", "--out", str(tmp_path / "x")], ["report", "--out", str(tmp_path / "r")]):
        result = subprocess.run([sys.executable, "-m", "mlops_course", "--root", str(course), *command],
                                capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr
    assert (tmp_path / "x" / "grades-lms.csv").exists() and (tmp_path / "r" / "index.html").exists()


def test_collect_without_submissions_grades_nothing(tmp_path):
    """Does autograde on a course with no submissions say so instead of failing?"""
    course = copy_course(tmp_path / "empty", [LAB])
    assert autograde.autograde(course, LAB, progress=False) == []
    assert autograde.summary_table([]) == "No submissions to grade."
    shutil.rmtree(course)
