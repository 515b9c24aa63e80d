"""Fixtures of the lab tests: each lab's solution executed once, for every test that needs its outputs."""

from __future__ import annotations

import shutil

import pytest

from mlops_course import notebooks

from ..conftest import KERNEL, ROOT

EXECUTION_TIMEOUT = 300


@pytest.fixture(scope="session")
def executed_lab(tmp_path_factory, artifacts):
    """The working folder of a lab whose solution ran under papermill with the CI parameters (once per lab).

    The executed notebook goes to the test artifacts (`executed/<lab>.ipynb`), for tests and for a person to read.
    """
    import papermill as pm

    done = {}

    def execute(lab: str):
        if lab not in done:
            work = tmp_path_factory.mktemp(f"executed-{lab}") / lab
            shutil.copytree(ROOT / "solutions" / lab, work, ignore=shutil.ignore_patterns("artifacts"))
            out = artifacts / "executed" / f"{lab}.ipynb"
            out.parent.mkdir(parents=True, exist_ok=True)
            pm.execute_notebook(str(work / f"{lab}.ipynb"), str(out), parameters=notebooks.CI_PARAMETERS,
                                kernel_name=KERNEL, cwd=str(work), execution_timeout=EXECUTION_TIMEOUT,
                                progress_bar=False)
            done[lab] = work
        return done[lab]

    return execute
