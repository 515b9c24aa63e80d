"""Does the second pytest process of `make test` report a failure as a failure, with its report and its CPU?"""

from __future__ import annotations

import ast
import json
import time

from .beside import BESIDE, Beside, ROOT, runs_beside


def test_a_failing_test_beside_fails_with_its_report(tmp_path):
    """Does a failing test in the second process give a failing exit, its report, and the process's CPU-seconds?"""
    scratch = tmp_path / "test_scratch.py"
    scratch.write_text("def test_passes():\n    pass\n\n\ndef test_fails():\n    assert 1 == 2, 'a scratch failure'\n")
    beside = Beside([str(scratch)], ["-q"], log=tmp_path / "beside.log", timing=tmp_path / "beside.json")
    assert beside.finish() == 1 and beside.failed
    report = "\n".join(beside.report())
    assert "FAILED" in report and "a scratch failure" in report and "1 failed, 1 passed" in report
    figures = json.loads((tmp_path / "beside.json").read_text())
    assert figures["exit"] == 1 and figures["cpu_seconds"] > 0 and figures["start"] < figures["end"] <= time.time()


def test_a_passing_run_beside_is_one_summary_line(tmp_path):
    """Does a passing second process show only its summary line, and its figures the time it ended?"""
    scratch = tmp_path / "test_scratch.py"
    scratch.write_text("def test_passes():\n    pass\n")
    beside = Beside([str(scratch)], ["-q"], log=tmp_path / "beside.log", timing=tmp_path / "beside.json")
    beside.start()
    deadline = time.time() + 60
    while "1 passed" not in (tmp_path / "beside.log").read_text() and time.time() < deadline:
        time.sleep(0.1)  # (not poll(): finish() reaps it, to count its CPU)
    time.sleep(2)  # the first process waits for it later: its figures must say when it ended
    waited = time.time()
    assert beside.finish() == 0 and not beside.failed
    [line] = beside.report()
    assert line.startswith("tests beside (second process): 1 passed in "), line
    assert json.loads((tmp_path / "beside.json").read_text())["end"] < waited - 1.5


def test_the_files_beside_exist_and_need_nothing_the_first_process_builds():
    """Does every file listed run beside exist, and use none of the first process's shared fixtures?"""
    shared = {"proven", "blank_check", "built_book", "built_project", "proof_pool", "executed_lab", "postgres_cluster"}
    for name in BESIDE:
        path = ROOT / name
        assert path.exists() and runs_beside(path), name
        functions = [node for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.FunctionDef)]
        used = sorted(shared & {arg.arg for f in functions for arg in f.args.args})
        assert not used, f"{name} uses {used}, which the first process builds: it cannot run beside"


def test_a_first_process_that_stopped_early_leaves_the_second_unrun(tmp_path):
    """When the first process stops before starting it (-x, an interruption), is the second left unrun, and said so?"""
    beside = Beside([str(tmp_path / "test_never.py")], [], log=tmp_path / "beside.log", timing=tmp_path / "beside.json")
    assert beside.finish(start=False) is None and beside.process is None and not beside.failed
    assert beside.report() == ["tests beside (second process): not run, the first process stopped early (1 files)"]
