"""Does `mlflow ui`, pointed at the store Lab 03 produced, show the lab's runs?

The lab tells learners to run `mlflow ui --backend-store-uri sqlite:///artifacts/mlflow.db`.
This test takes the store the solution wrote in the shared prefix's whole run (`built_project`:
the lab run top to bottom in CI mode, the store a learner would have), starts `mlflow ui` on it
on a free loopback port, asks the REST API for the experiments and the lab's runs, and stops the
server, checking that no process is left behind.
"""

from __future__ import annotations

import sys

import httpx
import pytest

from mlops_course.tracking import TRACKING_SERVER_ENV

from ..servers import free_port, running, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.server]

LAB = "lab03-modeling"
EXPERIMENT = "lab03-modeling"


@pytest.fixture(scope="module")
def lab_store(built_project):
    """The folder of the solution of Lab 03 as its whole run left it, with its artifacts/mlflow.db."""
    work = built_project(LAB)
    assert (work / "artifacts" / "mlflow.db").is_file(), "the lab did not write its tracking store to artifacts/mlflow.db"
    return work


@pytest.mark.parametrize("lab", [LAB])
def test_mlflow_ui_lists_the_labs_experiment_and_runs(lab, lab_store, tmp_path):
    """Does `mlflow ui` on the lab's store list the lab's experiment and its champion run, and stop cleanly?"""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", "sqlite:///artifacts/mlflow.db", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    # Without the server-side job consumers (tracking.TRACKING_SERVER_ENV): the listing is the same, the start cheaper.
    with running(command, tmp_path / "mlflow-ui.log", cwd=lab_store, env=TRACKING_SERVER_ENV) as proc:
        wait_for(f"{base}/health", timeout=300, proc=proc)
        found = httpx.get(f"{base}/api/2.0/mlflow/experiments/search", params={"max_results": 100}, timeout=10).json()
        names = {e["name"]: e["experiment_id"] for e in found.get("experiments", [])}
        assert EXPERIMENT in names, f"the experiments API lists {sorted(names)}, not '{EXPERIMENT}'"
        runs = httpx.post(f"{base}/api/2.0/mlflow/runs/search", json={"experiment_ids": [names[EXPERIMENT]], "max_results": 500},
                          timeout=10).json().get("runs", [])
        run_names = {r["info"].get("run_name") for r in runs}
        assert {"baseline-majority", "baseline-rate", "logistic-regression", "gradient-boosting", "tuning-gradient-boosting"} <= run_names, (
            f"the lab's runs are not all listed: {sorted(n for n in run_names if n)}")
        model = httpx.get(f"{base}/api/2.0/mlflow/registered-models/alias", params={"name": "flight-delay", "alias": "champion"},
                          timeout=10).json()
        assert model.get("model_version", {}).get("run_id") in {r["info"]["run_id"] for r in runs}, "the champion alias is not served"
        page = httpx.get(base, timeout=10)
        assert page.status_code == 200 and "<html" in page.text.lower(), "the UI's page is not served"
    assert proc.poll() is not None, "the mlflow ui server is still running after the test"
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{base}/health", timeout=2)
