"""Do the shared-prefix route and real nbgrader give every test cell the same score?

The wrong answers are proven on the shared prefix (`mlops_course.proof.shared_prefix`), which is
cheaper than grading each one with nbgrader. This proof keeps the cheap route honest: on every
lab, the solution's score in every test cell and the scores of the wrong answers real nbgrader
grades (`mistakes.graded_for_real`) must be the same by both routes. A toy lab whose test can tell
the two apart shows that the comparison fails when they differ.
"""

from __future__ import annotations

import pytest

from mlops_course.grading import nbgrader_runs as grading
from mlops_course.course import notebooks
from mlops_course.proof import shared_prefix
from mlops_course.grading.autograde import autograde
from mlops_course.course.layout import source_notebook

from .. import nbfactory as nbf
from ..conftest import ROOT
from .mistakes import LABS, ci_submission, graded_for_real


def disagreements(route: dict[str, shared_prefix.CellVerdict], real: dict[str, grading.CellScore]) -> list[str]:
    """One line per test cell the shared prefix judged differently from real nbgrader."""
    found = []
    for cell, verdict in route.items():
        if cell not in real:
            found.append(f"'{cell}': judged on the shared prefix, missing from nbgrader's grades")
        elif (verdict.score, verdict.max_score) != (real[cell].score, real[cell].max_score):
            found.append(f"'{cell}': shared prefix {verdict.score}/{verdict.max_score} ({verdict.error or 'no error'}), "
                         f"nbgrader {real[cell].score}/{real[cell].max_score}")
    return found


@pytest.mark.slow
@pytest.mark.parametrize("lab", LABS)
def test_shared_prefix_and_real_grading_agree(lab, proven, graded):
    """Do both routes give the solution, and each wrong answer graded for real, the same score in every test cell?"""
    proof, real = proven(lab), graded(lab)
    autograded = {k for k, v in real["solution"].items() if v.autograded}
    assert set(proof.solution) == autograded, f"{lab}: the shared prefix judged {sorted(proof.solution)}, nbgrader {sorted(autograded)}"
    problems = {"solution": disagreements(proof.solution, real["solution"])}
    for wrong in graded_for_real(lab, notebooks.read(source_notebook(ROOT, lab))):
        problems[wrong.student] = disagreements(proof.variants[wrong.student].cells, real[wrong.student])
    problems = {student: found for student, found in problems.items() if found}
    assert not problems, f"{lab}: the shared prefix and nbgrader disagree: {problems}"


def test_the_comparison_fails_where_the_routes_differ(tmp_path):
    """Is a test cell that passes in a real kernel but not on the shared prefix reported as a disagreement?"""
    nb = nbf.toy_lab()
    nb.cells.append(nbf.graded_test('import sys\nassert "ipykernel.kernelapp" in sys.modules, "runs in a Jupyter kernel"',
                                    "test_kernel", 1))
    course = nbf.toy_course(tmp_path / "course")
    notebooks.write(nb, source_notebook(course, nbf.TOY_LAB))
    grading.generate_assignment(course, nbf.TOY_LAB)
    grading.submit(course, nbf.TOY_LAB, "solution", {nbf.TOY_LAB: ci_submission(nb)})
    autograde(course, nbf.TOY_LAB, jobs=1, progress=False)
    real = grading.cell_scores(course, nbf.TOY_LAB, "solution")
    (tmp_path / "work").mkdir()
    proof = shared_prefix.prove(ci_submission(nb), tmp_path / "work", [])
    assert real["test_kernel"].score == 1 and proof.solution["test_kernel"].score == 0
    found = disagreements(proof.solution, real)
    assert len(found) == 1 and found[0].startswith("'test_kernel': shared prefix 0.0/1.0"), found
    assert disagreements({k: v for k, v in proof.solution.items() if k != "test_kernel"}, real) == []
