"""Does Lab 06's CI script do what a CI server would, on the project the lab built?

The project is the one the shared prefix's whole run of the solution built (`built_project`): the
same cells, in the grader's environment, with every fork's changes undone.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml

from mlops_course.tracking import REGISTRY_URI_ENV, TRACKING_URI_ENV

LAB = "lab06-pipelines"


def run_ci(folder) -> subprocess.CompletedProcess:
    """The CI script as a CI server runs it: in the project, with no MLflow server named by the environment
    (earlier tests in this process may have left one there; the project tracks into its own store)."""
    env = {k: v for k, v in os.environ.items() if k not in (TRACKING_URI_ENV, REGISTRY_URI_ENV)}
    return subprocess.run([sys.executable, "artifacts/ci.py"], cwd=folder, capture_output=True, text=True,
                          timeout=600, check=False, env=env)


def run_ci_with(folder, path, text: str) -> subprocess.CompletedProcess:
    """CI on the lab's project with one file changed to ``text``; the file is put back afterwards."""
    honest = path.read_text()
    path.write_text(text)
    try:
        return run_ci(folder)
    finally:
        path.write_text(honest)


@pytest.mark.slow
@pytest.mark.parametrize("lab", [LAB])
def test_ci_script_passes_on_the_labs_project(lab, built_project):
    """Does `python artifacts/ci.py` lint, pass the unit tests, find nothing to reproduce, pass the ML tests and exit 0?"""
    folder = built_project(lab)
    run = run_ci(folder)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "lint: ok" in run.stdout and "unit tests: ok" in run.stdout
    assert "stages run: []" in run.stdout, "the lab left its pipeline up to date: nothing to reproduce"
    assert "ML tests: all passed" in run.stdout
    assert "already the champion" in run.stdout, "the lab promoted its candidate, so there is nothing to decide"
    workflow = folder / ".github" / "workflows" / "pipeline.yml"
    assert workflow.exists() and "python artifacts/ci.py" in workflow.read_text()


@pytest.mark.slow
@pytest.mark.parametrize("lab", [LAB])
def test_ci_script_stops_at_lint(lab, built_project):
    """Does a lint error fail CI before the pipeline or the tests run?"""
    folder = built_project(lab)
    tests = folder / "artifacts" / "test_ml.py"
    run = run_ci_with(folder, tests, tests.read_text() + "\n\ndef test_uses_a_typo(dataset):\n    assert len(datset) > 0\n")
    assert run.returncode != 0
    assert "F821" in run.stdout and "datset" in run.stdout, run.stdout + run.stderr
    assert "lint: failed" in run.stderr
    assert "stages run" not in run.stdout


@pytest.mark.slow
@pytest.mark.parametrize("lab", [LAB])
def test_ci_script_stops_at_a_failing_unit_test(lab, built_project):
    """Do overlapping split windows in params.yaml fail the unit tests, before the pipeline runs?"""
    folder = built_project(lab)
    params = folder / "artifacts" / "pipeline" / "params.yaml"
    broken = yaml.safe_load(params.read_text())
    broken["split"]["validation_months"] = [8, 9]
    run = run_ci_with(folder, params, yaml.safe_dump(broken, sort_keys=False))
    assert run.returncode != 0
    assert "unit tests: failed" in run.stderr and "a later month would leak" in run.stdout, run.stdout + run.stderr
    assert "stages run" not in run.stdout
