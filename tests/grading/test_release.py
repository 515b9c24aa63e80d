"""Is labs/ exactly what nbgrader makes of solutions/, and does a broken lab get a clear error?"""

from __future__ import annotations

import filecmp
import json
import subprocess
import sys

import pytest

from mlops_course.course import notebooks
from mlops_course.errors import NotebookMetadataError, UnknownLabError
from mlops_course.course.layout import lab_names, source_notebook
from mlops_course.grading.release import release

from ..conftest import ROOT, copy_course

LABS = lab_names(ROOT)


def _comparable(path):
    nb = json.loads(path.read_text())
    return {"metadata": nb["metadata"], "cells": [{k: c.get(k) for k in ("cell_type", "source", "metadata")} for c in nb["cells"]]}


@pytest.fixture(scope="module")
def fresh_release(tmp_path_factory):
    out = tmp_path_factory.mktemp("release")
    release(ROOT, release_dir=out)
    return out


@pytest.mark.parametrize("lab", LABS)
def test_committed_lab_matches_a_fresh_release(lab, fresh_release):
    """Is labs/<lab> what `make release` makes of solutions/<lab> today (run it and commit if not)?"""
    committed, fresh = ROOT / "labs" / lab, fresh_release / lab
    assert committed.is_dir(), f"labs/{lab} is missing: run `make release LAB={lab}` and commit it"
    diff = filecmp.dircmp(committed, fresh, ignore=["artifacts", ".ipynb_checkpoints", "__pycache__"])
    assert not diff.left_only and not diff.right_only, f"labs/{lab} and a fresh release differ in files: run `make release LAB={lab}`"
    for name in diff.common_files:
        if name.endswith(".ipynb"):
            assert _comparable(committed / name) == _comparable(fresh / name), f"labs/{lab}/{name} is out of date: run `make release LAB={lab}`"
        else:
            assert (committed / name).read_bytes() == (fresh / name).read_bytes(), f"labs/{lab}/{name} is out of date"


@pytest.mark.parametrize("lab", LABS)
def test_released_lab_holds_no_solution_or_hidden_test(lab, fresh_release):
    """Does the student version leave out every solution and every hidden test?"""
    solution = notebooks.read(source_notebook(ROOT, lab))
    released = (fresh_release / lab / f"{lab}.ipynb").read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in released
    hidden_blocks = [cell.source.split("### BEGIN HIDDEN TESTS")[1].split("### END HIDDEN TESTS")[0]
                     for cell in solution.cells if "### BEGIN HIDDEN TESTS" in cell.source]
    # A line that a visible cell also holds (cleaning up runs, starting a server) is public anyway.
    visible = "\n".join(cell.source.split("### BEGIN HIDDEN TESTS")[0] + cell.source.split("### END HIDDEN TESTS")[-1]
                        for cell in solution.cells if not notebooks.nbgrader_meta(cell).get("solution"))
    for hidden in hidden_blocks:
        for line in hidden.strip().splitlines():
            if len(line.strip()) > 25 and line.strip() not in visible:
                assert line.strip() not in released, f"hidden test line released: {line.strip()}"


def _first(nb, predicate) -> int:
    return next(i for i, c in enumerate(nb.cells) if predicate(c, notebooks.nbgrader_meta(c)))


def _is_test(cell, meta) -> bool:
    return bool(meta.get("grade")) and not meta.get("solution")


def drop_points(nb) -> int:
    i = _first(nb, _is_test)
    del nb.cells[i].metadata["nbgrader"]["points"]
    return i


def unlock_test(nb) -> int:
    i = _first(nb, _is_test)
    nb.cells[i].metadata["nbgrader"]["locked"] = False
    return i


def duplicate_grade_id(nb) -> int:
    answer = _first(nb, lambda c, m: m.get("solution"))
    i = _first(nb, _is_test)
    nb.cells[i].metadata["nbgrader"]["grade_id"] = nb.cells[answer].metadata["nbgrader"]["grade_id"]
    return i


def solution_in_plain_cell(nb) -> int:
    i = _first(nb, lambda c, m: c.cell_type == "code" and not m)
    nb.cells[i].source += "\n### BEGIN SOLUTION\nanswer = 42\n### END SOLUTION"
    return i


def _break(course, lab, mutate):
    path = source_notebook(course, lab)
    nb = notebooks.read(path)
    index = mutate(nb)
    notebooks.write(nb, path)
    return path, index


@pytest.mark.parametrize("mutate", [drop_points, unlock_test, duplicate_grade_id, solution_in_plain_cell])
def test_broken_metadata_names_the_notebook_and_cell(mutate, tmp_path):
    """Does a release with broken nbgrader metadata fail with the notebook and cell named?"""
    lab = LABS[0]
    course = copy_course(tmp_path / "course", [lab])
    path, index = _break(course, lab, mutate)
    with pytest.raises(NotebookMetadataError) as excinfo:
        release(course, lab)
    message = str(excinfo.value)
    assert str(path) in message and f"cell {index + 1}" in message, message
    assert not (course / "labs" / lab).exists(), "nothing should be released from a broken lab"


def test_notebook_that_is_not_json_is_named(tmp_path):
    """Is a solution notebook that is not valid JSON reported by name?"""
    lab = LABS[0]
    course = copy_course(tmp_path / "course", [lab])
    source_notebook(course, lab).write_text("{ not json")
    with pytest.raises(NotebookMetadataError, match=str(source_notebook(course, lab))):
        release(course, lab)


def test_unknown_lab_lists_the_labs_that_exist():
    """Does asking for a lab that does not exist list the ones that do?"""
    with pytest.raises(UnknownLabError) as excinfo:
        release(ROOT, "lab99-nope")
    assert all(name in str(excinfo.value) for name in LABS)


def test_make_release_with_an_unknown_lab_says_which_labs_exist():
    """Does `make release LAB=...` with a wrong name print the known labs and fail?"""
    result = subprocess.run(["make", "-s", "release", "LAB=lab99-nope"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "there is no lab named 'lab99-nope'" in result.stderr and LABS[0] in result.stderr


def test_cli_release_of_a_broken_notebook_prints_one_clear_line(tmp_path):
    """Does the command line print the notebook and cell, without a traceback?"""
    lab = LABS[0]
    course = copy_course(tmp_path / "course", [lab])
    path, index = _break(course, lab, drop_points)
    result = subprocess.run([sys.executable, "-m", "mlops_course", "--root", str(course), "release", lab], capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and f"cell {index + 1}" in result.stderr and "Traceback" not in result.stderr
