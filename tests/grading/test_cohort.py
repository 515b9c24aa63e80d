"""Does the cohort report keep lab order, whole-student ticks, and leave ungraded answers out? (issue #20, items 5, 9)"""

from __future__ import annotations

import pytest

from mlops_course.grading.cohort import lab_order, plot_scores, question_stats, read_gradebook

from .. import nbfactory as nbf

LAB = nbf.TOY_LAB


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    course, _ = nbf.graded_toy_class(tmp_path_factory.mktemp("cohort") / "course")
    return read_gradebook(course)


def test_are_questions_listed_in_lab_order(data):
    """Are the questions in the order students meet them in the lab, not alphabetical by grade id?"""
    assert list(question_stats(data.questions)["question"]) == ["test_double", "test_limit_type", "test_limit_value", "why"]
    # The toy lab happens to be alphabetical too; the same rows with "why" placed first must follow the lab.
    reordered = data.questions.assign(order=data.questions["question"].map({"why": 0}).fillna(data.questions["order"] + 1))
    assert list(question_stats(reordered)["question"]) == ["why", "test_double", "test_limit_type", "test_limit_value"]


def test_is_the_lab_order_read_from_the_lab_notebook():
    """Does lab_order list Lab 01's graded cells as its notebook has them (which is not alphabetical)?"""
    from mlops_course.course import notebooks
    from mlops_course.course.layout import source_notebook

    from ..conftest import ROOT

    order = lab_order(ROOT, "lab01-scoping")
    assert order == [c.grade_id for c in notebooks.graded_cells(notebooks.read(source_notebook(ROOT, "lab01-scoping")))]
    assert order != sorted(order)


def test_is_an_answer_waiting_for_manual_grading_left_out_of_difficulty(data):
    """Is ana's ungraded written answer counted as pending, not as a zero, in the question's difficulty?"""
    stats = question_stats(data.questions).set_index("question")
    assert stats.loc["why", "pending manual"] == 1
    assert stats.loc["why", "difficulty"] == 0  # only bo's blank answer (scored zero by nbgrader) counts
    assert stats.loc["test_limit_value", "difficulty"] == pytest.approx(0.5)


def test_does_the_score_histogram_count_whole_students(data, tmp_path, monkeypatch):
    """Are the histogram's y ticks whole numbers of students (no 0.5 student)?"""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures = []
    monkeypatch.setattr(plt, "close", lambda fig=None: figures.append(fig))
    plot_scores(data, tmp_path / "scores.png")
    ticks = figures[0].axes[0].get_yticks()
    assert len(ticks) > 1 and all(float(t).is_integer() for t in ticks)
