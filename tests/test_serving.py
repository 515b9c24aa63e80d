"""Tests of mlops_course.serving: servers on free loopback ports that start, answer and are gone afterwards."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from mlops_course import serving


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((serving.HOST, port))
            return True
        except OSError:
            return False


def _tiny_app():
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/health")
    def health():
        return {"status": "ok"}

    return app


def test_free_port_is_free_and_on_loopback():
    """Is the port free_port returns one a server can bind on 127.0.0.1?"""
    port = serving.free_port()
    assert 1024 <= port <= 65535
    assert _port_is_free(port)


def test_serve_app_answers_then_stops():
    """Does serve_app serve the app on a free port, and leave no thread or listening socket behind?"""
    threads_before = set(threading.enumerate())
    with serving.serve_app(_tiny_app(), ready_path="/health") as url:
        assert url.startswith("http://127.0.0.1:")
        assert httpx.get(url + "/health").json() == {"status": "ok"}
        port = int(url.rsplit(":", 1)[1])
    assert not any(t.name == f"uvicorn-{port}" for t in threading.enumerate()), "the server thread is still running"
    # Helper threads of the server's event loop (anyio's worker for sync endpoints) wind down on their own, quickly.
    for leftover in set(threading.enumerate()) - threads_before:
        leftover.join(timeout=10)
        assert not leftover.is_alive(), f"thread {leftover.name} is still running after the server stopped"
    assert _port_is_free(port)
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/health", timeout=2)


def test_serve_app_stops_when_the_block_raises():
    """Is the server stopped even when the code using it fails?"""
    with pytest.raises(RuntimeError, match="boom"):
        with serving.serve_app(_tiny_app()) as url:
            port = int(url.rsplit(":", 1)[1])
            raise RuntimeError("boom")
    assert _port_is_free(port)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_serve_app_reports_a_taken_port():
    """Does serve_app fail clearly, instead of hanging, when its port is taken?"""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind((serving.HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises((RuntimeError, TimeoutError, SystemExit)):
            with serving.serve_app(_tiny_app(), port=port, timeout=10):
                pass


def test_wait_for_times_out_on_a_closed_port():
    """Does wait_for give up after its timeout when nothing listens?"""
    start = time.monotonic()
    with pytest.raises(TimeoutError, match="did not answer"):
        serving.wait_for(f"http://127.0.0.1:{serving.free_port()}/", timeout=0.5)
    assert time.monotonic() - start < 5


def test_wait_for_notices_a_dead_process():
    """Does wait_for stop waiting as soon as the server's process has exited?"""
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    proc.wait()
    with pytest.raises(RuntimeError, match="status 3"):
        serving.wait_for(f"http://127.0.0.1:{serving.free_port()}/", timeout=30, proc=proc)


def test_running_stops_the_whole_process_group(tmp_path):
    """Does running() stop the server and the children it started?"""
    child_pid_file = tmp_path / "child.pid"
    script = (
        "import subprocess, sys, time, pathlib\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        f"pathlib.Path({str(child_pid_file)!r}).write_text(str(child.pid))\n"
        "time.sleep(600)\n"
    )
    with serving.running([sys.executable, "-c", script], tmp_path / "log.txt", cwd=tmp_path) as proc:
        deadline = time.monotonic() + 30
        while not child_pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        child = int(child_pid_file.read_text())
    assert proc.poll() is not None
    assert not _alive(child), "the server's child process outlived it"


def _alive(pid: int) -> bool:
    """Whether a process runs (a zombie waiting for its new parent to reap it does not count)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return False
        if state in ("Z", "X"):
            return False
        time.sleep(0.05)
    return True


@pytest.fixture(scope="module")
def registered_model(mlflow_store):
    """A tiny reference model registered as flight-delay@champion in a private SQLite store."""
    import mlflow

    from mlops_course import datasets, models, tracking

    work = mlflow_store.folder
    tracking.use_experiment("test-serving", workdir=work)
    frame = datasets.build_dataset(months=[1, 2, 3], fraction=0.02, seed=1)[0]
    splits = datasets.split_by_months(frame, train=[1, 2], validation=[3])
    model = models.train(splits["train"], splits["validation"], max_iter=10)
    with mlflow.start_run():
        version = models.log_and_register(model, splits["validation"])
    return {"uri": mlflow_store.uri, "work": work, "version": version,
            "record": models.input_example(splits["validation"], rows=1).iloc[0].to_dict()}


@pytest.mark.slow
def test_mlflow_scoring_server_serves_offline_and_stops(registered_model):
    """Does `mlflow models serve --env-manager local` serve the registered model, offline, and stop afterwards?"""
    record = {k: (None if v != v else v) for k, v in registered_model["record"].items()}
    with serving.mlflow_scoring_server("models:/flight-delay@champion", log=registered_model["work"] / "serve.log",
                                       tracking_uri=registered_model["uri"]) as url:
        port = int(url.rsplit(":", 1)[1])
        answer = httpx.post(url + "/invocations", json={"dataframe_records": [record]}, timeout=30)
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"][0] in (0, 1)
    time.sleep(0.5)
    assert _port_is_free(port)
    log = (registered_model["work"] / "serve.log").read_text()
    assert "virtualenv" not in log.lower() and "pip install" not in log.lower()


@pytest.mark.slow
def test_mlflow_scoring_server_reports_a_missing_model(registered_model):
    """Does a server that cannot start fail with its log, instead of hanging until the timeout?"""
    with pytest.raises(RuntimeError, match="did not start"):
        with serving.mlflow_scoring_server("models:/no-such-model@champion", log=registered_model["work"] / "bad.log",
                                           tracking_uri=registered_model["uri"], timeout=120):
            pass
