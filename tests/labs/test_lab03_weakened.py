"""Does a weakened test cell make the lab's tests fail, naming the wrong answer and the cell it no longer catches?"""

from __future__ import annotations

import shutil

import pytest

from mlops_course.course import notebooks
from mlops_course.course.layout import source_notebook

from ..conftest import ROOT
from .conftest import prove_lab
from .mistakes import not_lost, wrong_answers

LAB = "lab03-modeling"


@pytest.mark.slow
def test_a_weakened_test_cell_is_named_with_the_mistake_it_lets_through(tmp_path):
    """With test_choose_threshold cut to its first assertion in a scratch copy, is '>' for '>=' reported as
    still earning that cell's points, by the same proof and message the lab's wrong-answer test uses?"""
    root = tmp_path / "course"
    shutil.copytree(ROOT / "solutions" / LAB, root / "solutions" / LAB, ignore=shutil.ignore_patterns("artifacts"))
    path = source_notebook(root, LAB)
    nb = notebooks.read(path)
    cell = notebooks.find_cell(nb, "test_choose_threshold")
    cell.source = "\n".join(cell.source.splitlines()[:4])  # the three set-up lines and the type check
    assert cell.source.endswith('assert isinstance(_t, float), "Return the threshold as a float"'), cell.source
    notebooks.write(nb, path)
    wrong = next(w for w in wrong_answers(LAB) if w.student == "wrong-01")
    assert wrong.loses == ("test_choose_threshold",) and ">=" in wrong.mistake

    proof = prove_lab(LAB, tmp_path / "work", root=root, students=[wrong.student], whole=False)

    cells = proof.variants[wrong.student].cells
    failures = not_lost(wrong, {c: cells[c].score for c in wrong.loses}, {c: cells[c].max_score for c in wrong.loses})
    assert failures == [f"{LAB} wrong-01 ('{wrong.mistake}' in 'choose_threshold') still earned "
                        f"{cells['test_choose_threshold'].max_score}/{cells['test_choose_threshold'].max_score} "
                        "in 'test_choose_threshold'"], failures
