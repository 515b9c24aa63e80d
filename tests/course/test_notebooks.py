"""Do the notebook helpers find nbgrader cells and prepare submissions like a student would?"""

from __future__ import annotations

import pytest

from mlops_course.course import notebooks
from mlops_course.course.layout import lab_names, source_notebook

from ..conftest import ROOT

LAB = lab_names(ROOT)[0]


@pytest.fixture
def solution():
    return notebooks.read(source_notebook(ROOT, LAB))


def test_graded_cells_are_found_in_order(solution):
    """Are answer, test and manual cells all found, in notebook order, with their points?"""
    cells = notebooks.graded_cells(solution)
    assert [c.index for c in cells] == sorted(c.index for c in cells)
    tests = notebooks.autograded_tests(solution)
    assert tests and all(c.points > 0 and c.locked for c in tests)
    assert any(c.is_manual for c in cells)


def test_parameters_are_injected_after_the_parameters_cell(solution):
    """Does the injected-parameters cell follow the parameters cell, leaving the original untouched?"""
    new = notebooks.with_parameters(solution, {"QUICK": True})
    index = next(i for i, c in enumerate(new.cells) if "parameters" in c.metadata.get("tags", []))
    assert "injected-parameters" in new.cells[index + 1].metadata["tags"]
    assert "QUICK = True" in new.cells[index + 1].source
    assert not any("injected-parameters" in c.metadata.get("tags", []) for c in solution.cells)


def test_an_answer_replaces_only_its_cell(solution):
    """Does simulating a student's answer change that cell and no other?"""
    answer = next(c for c in notebooks.graded_cells(solution) if c.solution and c.cell_type == "code")
    new = notebooks.with_answer(solution, answer.grade_id, "x = 1")
    assert notebooks.find_cell(new, answer.grade_id).source == "x = 1"
    assert len(new.cells) == len(solution.cells), (
        f"with_answer should keep the {len(solution.cells)} cells, it returned {len(new.cells)}")
    changed = [i for i, (a, b) in enumerate(zip(solution.cells, new.cells, strict=True)) if a.source != b.source]
    assert changed == [answer.index], f"only cell {answer.index} should change, these did: {changed}"


def test_unknown_cell_lists_the_cells(solution):
    """Does asking for a cell that does not exist list the ones that do?"""
    with pytest.raises(KeyError, match="no cell with grade_id 'nope'"):
        notebooks.find_cell(solution, "nope")


def test_skipping_after_keeps_everything_up_to_the_cell(solution):
    """Are the cells up to the tested one kept, and only editable code after it skipped?"""
    tests = notebooks.autograded_tests(solution)
    first = tests[0]
    new = notebooks.skipping_after(solution, [first.grade_id])
    assert len(new.cells) == len(solution.cells), (
        f"skipped cells stay in place, so cell numbers stay the same: {len(solution.cells)} cells became {len(new.cells)}")
    skipped = 0
    for i, (old, cell) in enumerate(zip(solution.cells, new.cells, strict=True)):
        locked = notebooks.nbgrader_meta(old).get("locked")
        if i <= first.index or old.cell_type != "code" or locked:
            assert cell.source == old.source, f"cell {i} should be kept as it was"
        else:
            assert cell.source.startswith("# (skipped"), f"cell {i}, editable code after the test, should be skipped"
            skipped += 1
    assert skipped, f"{LAB} has editable code after {first.grade_id}: some cell should have been skipped"
