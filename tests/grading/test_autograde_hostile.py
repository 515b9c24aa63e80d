"""Does a broken or hostile submission get a clear result of its own, without harming anyone or anything else?

Every case of tests/hostile.py is graded in one batch with two jobs, beside an
honest student, with short time limits. Each test checks what that student
got (score and reason); the last ones check that nothing outside the sandbox
changed: the course's files, the honest student's grade and files, the
network listener, the host's /tmp, and no process left running.
"""

from __future__ import annotations

import hashlib
import os
import socket
from contextlib import contextmanager

import pytest

from mlops_course.grading import autograde
from mlops_course.grading import nbgrader_runs as grading
from mlops_course.course import notebooks
from mlops_course.grading.sandbox import UIDS_PER_BATCH, Limits, Sandbox

from .. import hostile
from ..conftest import copy_course, lab_points

LAB = hostile.LAB
AUTOGRADED, TOTAL = lab_points(LAB)  # Lab 01's automatic points, and all of them (manual ones included)
BEFORE_ANSWER = {"test_leaking_columns": 2}  # the tests that run before the hostile cell

pytestmark = [
    pytest.mark.slow,
    pytest.mark.alone,
    pytest.mark.skipif(not Sandbox.detect().isolates_files,
                       reason="hostile submissions are only graded inside bubblewrap (apt-get install bubblewrap); "
                              "see tests/grading/test_sandbox.py for the warning given without it"),
]


def tree_digest(path) -> str:
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(path)).encode() + file.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    course = copy_course(tmp_path_factory.mktemp("hostile"), [LAB])
    grading.generate_assignment(course, LAB)
    marker = tmp_path_factory.mktemp("host") / "escaped.txt"
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    context = dict(port=listener.getsockname()[1], solutions=str(course / "solutions"),
                   gradebook=str(course / "autograder" / "gradebook.db"),
                   other_student=str(course / "autograder" / "submitted" / "honest"), marker=str(marker),
                   course=str(course), solution_notebook=str(course / "solutions" / LAB / f"{LAB}.ipynb"))
    for case in hostile.CASES:
        folder = course / "autograder" / "submitted" / case.student / LAB
        folder.mkdir(parents=True)
        for name, data in case.build(course, context).items():
            (folder / name).write_bytes(data)
    before = {"solutions": tree_digest(course / "solutions"), "labs": tree_digest(course / "labs"),
              "honest": tree_digest(course / "autograder" / "submitted" / "honest")}
    # The cell limit stops the endless loop quickly (it spins until then), yet leaves an honest cell room on a busy
    # machine: Lab 01's slowest cell takes about a second, the 30 MB of printing about as long.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(autograde, "reserved_uids", recording(uids := []))
        results = autograde.autograde(course, LAB, jobs=2, limits=Limits(cell_timeout=10, notebook_timeout=180), progress=False)
    try:
        connection = listener.accept()
    except OSError:
        connection = None
    listener.close()
    answer = notebooks.find_cell(hostile.solution(course), hostile.ANSWER)
    answer_cell = hostile.solution(course).cells.index(answer) + 1
    return {"course": course, "results": {r.student: r for r in results}, "before": before, "marker": marker,
            "connection": connection, "cell": answer_cell, "first_uid": uids[0]}


def recording(used: list[int]):
    """`reserved_uids` that also notes the block it gave, so a check can tell this batch's processes from
    those of a batch graded beside it."""
    real = autograde.reserved_uids

    @contextmanager
    def reserve():
        with real() as first:
            used.append(first)
            yield first

    return reserve


def result(batch, student):
    return batch["results"][student]


def scores(batch, student):
    return {k: v.score for k, v in grading.cell_scores(batch["course"], LAB, student).items() if v.autograded}


def outputs(batch, student) -> str:
    path = batch["course"] / "autograder" / "autograded" / student / LAB / f"{LAB}.ipynb"
    nb = notebooks.read(path)
    return "\n".join(str(o) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


def reasons(batch, student) -> str:
    return "; ".join(result(batch, student).reasons)


def test_every_submission_has_a_result(batch):
    """Did the batch finish with one result per submission, none missing?"""
    assert set(batch["results"]) == {c.student for c in hostile.CASES}


def test_honest_student_is_unaffected(batch):
    """Does the honest student graded beside them all get every automatic point and no complaint?"""
    r = result(batch, "honest")
    assert (r.score, r.status, r.reasons) == (AUTOGRADED, "graded", [])


def test_infinite_loop_times_out_and_keeps_points(batch):
    """Is an endless loop stopped at the cell time limit, named, and the rest of the notebook still graded?"""
    assert f"timed out in cell {batch['cell']}" in reasons(batch, "infinite-loop")
    assert result(batch, "infinite-loop").score == AUTOGRADED


def test_memory_bomb_hits_the_memory_limit(batch):
    """Does a memory bomb end in a MemoryError for that student, with the points earned before it kept?"""
    assert f"ran out of memory in cell {batch['cell']}" in reasons(batch, "memory-bomb")
    assert scores(batch, "memory-bomb")["test_leaking_columns"] == 2


def test_fork_bomb_hits_the_process_limit(batch):
    """Is a fork bomb stopped by the process limit and named, with the points earned before it kept?"""
    assert f"hit the process limit in cell {batch['cell']}" in reasons(batch, "fork-bomb")
    assert scores(batch, "fork-bomb")["test_leaking_columns"] == 2


def test_sys_exit_is_harmless(batch):
    """Does sys.exit() leave the kernel running, so the student loses nothing, and is it mentioned?"""
    assert f"called sys.exit() in cell {batch['cell']}" in reasons(batch, "sys-exit")
    assert result(batch, "sys-exit").score == AUTOGRADED


def test_kernel_death_scores_the_cells_before_it(batch):
    """When the kernel dies, do the tests before keep their points and the rest score zero, with the cell named?"""
    assert f"the kernel died in cell {batch['cell']}" in reasons(batch, "kernel-death")
    got = scores(batch, "kernel-death")
    assert got == {cell: BEFORE_ANSWER.get(cell, 0.0) for cell in got}


def test_network_is_unreachable(batch):
    """Does a connection to the grader's loopback fail inside the sandbox, with nothing reaching the listener?"""
    assert batch["connection"] is None
    assert "create_connection" in outputs(batch, "network") and "Error" in outputs(batch, "network")
    assert result(batch, "network").score == AUTOGRADED


@pytest.mark.parametrize("student", ["reads-solutions", "reads-gradebook"])
def test_solutions_and_gradebook_are_invisible(batch, student):
    """Are the solutions and the gradebook absent from the sandbox (FileNotFoundError), so nothing leaks?"""
    text = outputs(batch, student)
    assert "FileNotFoundError" in text
    assert "BEGIN HIDDEN TESTS" not in text and "SQLite format" not in text


def test_escape_attempts_change_nothing_outside(batch):
    """Do attempts to delete the solutions, gradebook and another student's work, or to write outside, all fail?"""
    text = outputs(batch, "escape")
    assert text.count("blocked:") == 5
    visible = text.split("visible:", 1)[1]
    assert "solutions" not in visible and "gradebook" not in visible and "honest" not in visible
    assert not batch["marker"].exists()


def test_edited_test_cells_are_restored(batch):
    """Does a blank lab whose test cells were replaced by `pass` still score zero (nbgrader restores locked cells)?"""
    assert sum(scores(batch, "tests-edited").values()) == 0


def test_deleted_test_cell_scores_zero_and_is_named(batch):
    """Does deleting a test cell lose exactly its points, with the cell named in the result?"""
    assert "test_add_target" in reasons(batch, "test-deleted")
    got = scores(batch, "test-deleted")
    assert got["test_add_target"] == 0 and sum(got.values()) == AUTOGRADED - 2


def test_edited_metadata_gains_nothing(batch):
    """Do unlocked, re-pointed or stripped test cells still score zero and keep their real points?"""
    r = result(batch, "metadata-edited")
    assert r.score == 0 and r.max_score == TOTAL and r.status != "not graded"
    assert "nbgrader metadata" in reasons(batch, "metadata-edited")


def test_silencing_failures_is_caught(batch):
    """Does an IPython hook that turns the tests into `pass` get the blank lab zero, with the reason?"""
    assert result(batch, "silences-failures").score == 0
    assert "stops failed tests from being reported" in reasons(batch, "silences-failures")


def test_monkey_patched_helpers_are_caught(batch):
    """After the notebook replaces builtins.abs and numpy.allclose, are the remaining tests refused and the patches named?"""
    text = reasons(batch, "patches-helpers")
    assert "builtins.abs" in text and "numpy.allclose" in text
    got = scores(batch, "patches-helpers")
    assert got["test_leaking_columns"] == 2 and got["test_add_target"] == 0


@pytest.mark.parametrize("student, reason", [
    ("not-json", "is not valid JSON"),
    ("wrong-name", "wrong file name? (found: lab01-scoping (1).ipynb)"),
    ("empty-file", "is empty (0 bytes)"),
    ("no-cells", "has no cells"),
])
def test_unreadable_submissions_score_zero_with_the_reason(batch, student, reason):
    """Does a submission nbgrader cannot open score zero out of the lab's points, with the reason named?"""
    r = result(batch, student)
    assert (r.score, r.max_score) == (0, TOTAL)
    assert reason in reasons(batch, student)


def test_huge_output_is_truncated(batch):
    """Is a flood of output cut to the per-cell limit, named, and the student's points kept?"""
    assert f"huge output in cell {batch['cell']}" in reasons(batch, "huge-output")
    path = batch["course"] / "autograder" / "autograded" / "huge-output" / LAB / f"{LAB}.ipynb"
    assert path.stat().st_size < 5 * 2**20
    assert result(batch, "huge-output").score == AUTOGRADED


def test_course_files_are_unchanged(batch):
    """Are solutions/, labs/ and the honest student's submission byte for byte what they were before grading?"""
    course = batch["course"]
    after = {"solutions": tree_digest(course / "solutions"), "labs": tree_digest(course / "labs"),
             "honest": tree_digest(course / "autograder" / "submitted" / "honest")}
    assert after == batch["before"]


def test_no_sandbox_process_is_left(batch):
    """Is every process the submissions started (fork bombs included) gone once the batch is over?"""
    left = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            uid = os.stat(f"/proc/{pid}").st_uid
        except FileNotFoundError:
            continue
        if batch["first_uid"] <= uid < batch["first_uid"] + UIDS_PER_BATCH:
            left.append(pid)
    assert not left, f"sandbox processes still running: {left}"
