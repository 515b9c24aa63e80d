"""Does the shared prefix judge each variant as the grader would, and leave the solution's run untouched?

One run of a toy lab (a few seconds) with several variants, each in a fork: a wrong answer, one that
writes, changes and deletes files in the lab folder, one that writes to stderr and warns, one whose
child dies, and one that never ends. The solution's own verdicts, judged after all of them, show
that no fork leaked into the run it was forked from.
"""

from __future__ import annotations

import nbformat
import pytest

from mlops_course.proof import shared_prefix
from mlops_course.errors import GradingError

from .. import nbfactory as nbf


def toy_with_files():
    """The toy lab with a data file it reads after the first question, and a test that it is still the same."""
    nb = nbf.toy_lab()
    nb.cells.insert(1, nbformat.v4.new_code_cell('from pathlib import Path\nDATA = Path("data.txt").read_text()'))
    nb.cells.append(nbf.graded_test('assert Path("data.txt").read_text() == DATA == "flights\\n", "the data file changed"\n'
                                    'assert not Path("extra.txt").exists(), "a file appeared"', "test_files", 1))
    return nb


VARIANTS = [
    shared_prefix.Variant("wrong", {"double": "def double(x):\n    return x + 2"}, ("test_double",), check="double"),
    shared_prefix.Variant("files", {"double": 'def double(x):\n    return 2 * x\nPath("data.txt").write_text("changed")\n'
                                              'Path("extra.txt").write_text("new")'}, ("test_files",)),
    shared_prefix.Variant("noisy", {"limit": 'import sys, warnings\nprint("a note", file=sys.stderr)\n'
                                             'warnings.warn("careful", FutureWarning)\nLIMIT = 10'}, ("test_limit_value",)),
    shared_prefix.Variant("dies", {"limit": "import os\nos._exit(3)"}, ("test_limit_value",)),
    shared_prefix.Variant("hangs", {"limit": "import time\ntime.sleep(600)"}, ("test_limit_value",)),
    # A child that saves a model through MLflow imports skops; the children forked after it find it imported.
    shared_prefix.Variant("saves-a-model", {"double": "def double(x):\n    return 2 * x\nimport skops.io"}, ("test_double",)),
    shared_prefix.Variant("after-a-model", {"limit": 'import sys\nLIMIT = 10 if "skops.io" in sys.modules else 0'},
                          ("test_limit_value",)),
]


@pytest.fixture(scope="module")
def proof(tmp_path_factory):
    folder = tmp_path_factory.mktemp("toy") / nbf.TOY_LAB
    folder.mkdir()
    (folder / "data.txt").write_text("flights\n")
    return shared_prefix.prove(toy_with_files(), folder, VARIANTS, child_timeout=10)


def scores(cells) -> dict[str, float]:
    return {k: v.score for k, v in cells.items()}


def test_the_solution_keeps_every_point_after_all_the_forks(proof):
    """Does the solution earn every test cell's points, its data file unchanged by the children that wrote to it?"""
    assert scores(proof.solution) == {"test_double": 2, "test_limit_type": 1, "test_limit_value": 1, "test_files": 1}


def test_a_wrong_answer_loses_the_cell_and_the_self_check_sees_what_learners_see(proof):
    """Does x + 2 for 2 * x lose test_double (its hidden test catches it) while check() passes it on visible tests?"""
    assert scores(proof.variants["wrong"].cells) == {"test_double": 0}
    assert "HIDDEN-SECRET" in proof.variants["wrong"].cells["test_double"].error
    assert proof.variants["wrong"].check == ("passed", "")


def test_the_whole_run_self_checks_the_finished_notebook_as_check_would(proof):
    """Does the whole run end with check()'s report: every question passed on visible tests, the answer in words to write?"""
    from mlops_course.learner.selfcheck import Report, Status

    report = Report.from_json(proof.self_check)
    statuses = {r.question.id: r.status for r in report.results}
    assert statuses == {"double": Status.PASSED, "limit": Status.PASSED, "why": Status.TO_WRITE,
                        "test_files": Status.PASSED}, statuses
    assert report.all_passed and "HIDDEN-SECRET" not in report.text()


def test_a_child_that_changes_files_is_judged_on_its_own_changes(proof):
    """Does the child see its own files (and fail test_files), while the parent keeps its own (see the solution's test)?"""
    cells = proof.variants["files"].cells
    assert cells["test_double"].score == 2 and cells["test_files"].score == 0
    assert "the data file changed" in cells["test_files"].error


def test_stderr_and_warnings_cost_nothing(proof):
    """Does an answer that writes to stderr and warns keep its points, as in the grader (only errors fail)?"""
    assert scores(proof.variants["noisy"].cells) == {"test_limit_type": 1, "test_limit_value": 1}


def test_a_child_that_dies_or_hangs_is_reported_and_the_run_goes_on(proof):
    """Is a child that exits or never ends named with the reason, without verdicts, and the rest still proven?"""
    assert "exit code 3" in proof.problems["dies"] and "timed out" in proof.problems["hangs"]
    assert not {"dies", "hangs"} & set(proof.variants)
    assert proof.cpu_seconds > 0


def test_what_a_childs_model_saving_cost_is_paid_once_for_the_children_after_it(proof):
    """After a child that saved a model (it imported skops), do the children forked later find skops already
    imported, and keep the verdicts they would have earned anyway?"""
    assert scores(proof.variants["saves-a-model"].cells) == {"test_double": 2}
    assert scores(proof.variants["after-a-model"].cells) == {"test_limit_type": 1, "test_limit_value": 1}


def test_a_variant_naming_unknown_or_untested_cells_is_refused(tmp_path):
    """Is a variant that names a cell the notebook lacks, or judges an answer cell, refused before anything runs?"""
    with pytest.raises(GradingError, match="nope"):
        shared_prefix.prove(nbf.toy_lab(), tmp_path, [shared_prefix.Variant("x", {"nope": ""}, ("test_double",))])
    with pytest.raises(GradingError, match="not test cells: \\['double'\\]"):
        shared_prefix.prove(nbf.toy_lab(), tmp_path, [shared_prefix.Variant("x", {"double": ""}, ("double",))])
