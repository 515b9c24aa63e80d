"""Starting and stopping local HTTP servers: free ports, readiness, clean shutdown.

Lab 04 has learners build a prediction service and load-test it against
MLflow's scoring server. Starting a server on a port nothing else uses,
waiting until it answers and making sure it is gone afterwards is not what the
lab teaches, and it is easy to get wrong (a fixed port that is taken, a server
that outlives the test, a child process that keeps the port), so it lives
here. Every server binds to 127.0.0.1 only: the grading sandbox has nothing
but a private loopback, and a lab has no business listening on the network.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import httpx

from mlops_course.errors import MissingFileError, ServerError, ServerTimeoutError
from mlops_course.tracking import OFFLINE_ENV

HOST = "127.0.0.1"
# MLflow's scoring server takes a few seconds to import and load a model; on a busy machine more.
MLFLOW_START_TIMEOUT = 120.0


def free_port() -> int:
    """A port nothing listens on right now (the OS picks it; servers never use fixed ports)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_for(url: str, timeout: float, ok: Callable[[httpx.Response], bool] = lambda r: r.status_code == 200,
             proc: subprocess.Popen | None = None) -> httpx.Response:
    """Poll `url` until `ok(response)`; fail after `timeout` seconds, or at once when `proc` has exited."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ServerError(f"the server exited with status {proc.returncode} before {url} answered; its log says why")
        try:
            response = httpx.get(url, timeout=5)
            if ok(response):
                return response
            last = response.status_code
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.1)
    raise ServerTimeoutError(f"{url} did not answer within {timeout}s (last: {last}); check its log, or wait longer")


def stop_group(process: subprocess.Popen | int, grace: float = 10) -> None:
    """Stop a process started with `start_new_session=True` and every child it started (SIGTERM, then SIGKILL).

    `process` may be a process id rather than a Popen: a class server's Hub or MLflow, started
    by an earlier `mlops-course class-server start`, is stopped by a later command that only
    knows its id, and can only watch it end.
    """
    pid = process if isinstance(process, int) else process.pid
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        if _ended(process, grace):
            return


def _ended(process: subprocess.Popen | int, grace: float) -> bool:
    """Whether `process` ends within `grace` seconds."""
    if not isinstance(process, int):
        try:
            process.wait(timeout=grace)
            return True
        except subprocess.TimeoutExpired:
            return False
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            if os.waitpid(process, os.WNOHANG)[0] == process:  # a child of ours: reaped, or it stays a zombie
                return True
        except ChildProcessError:
            if not process_alive(process):
                return True
        time.sleep(0.1)
    return False


def process_alive(pid: int | None) -> bool:
    """Whether the process `pid` runs (a zombie, ended but not yet reaped, does not)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]  # after the command's name
    except FileNotFoundError:  # it ended between the two looks
        return False
    return state != "Z"


@contextmanager
def running(command: list[str], log: Path, cwd: Path, env: dict | None = None) -> Iterator[subprocess.Popen]:
    """Run a server in its own process group, output to `log`; the whole group is gone afterwards."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, **(env or {})})
        try:
            yield proc
        finally:
            stop_group(proc)


@contextmanager
def serve_app(app, port: int | None = None, timeout: float = 30.0, ready_path: str | None = None) -> Iterator[str]:
    """Serve an ASGI app (a FastAPI app) with uvicorn in a background thread; yields its base URL.

    A thread rather than a process, so the app keeps the model already loaded in
    the notebook. On leaving the block the server finishes its requests and
    stops, and the thread is joined: nothing keeps running. `ready_path`, when
    given, must answer 200 before the URL is handed out.
    """
    import uvicorn

    port = port or free_port()
    config = uvicorn.Config(app, host=HOST, port=port, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # a thread cannot take signals; the notebook's Ctrl-C stays the kernel's
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    url = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive():
                raise ServerError(f"the server on port {port} stopped while starting (is the port taken?); "
                                  "leave the port out to get a free one")
            if time.monotonic() > deadline:
                raise ServerTimeoutError(f"the server on port {port} did not start within {timeout}s; "
                                         "look for an error the app prints while starting")
            time.sleep(0.02)
        if ready_path is not None:
            wait_for(url + ready_path, timeout)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout)
        if thread.is_alive():
            server.force_exit = True
            thread.join(5)


def mlflow_command() -> list[str]:
    """The `mlflow` executable of this environment (the venv's, even when it is not on PATH)."""
    beside = Path(sys.executable).with_name("mlflow")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("mlflow")
    if found is None:
        raise MissingFileError("the `mlflow` command is not installed in this environment: run `make setup`")
    return [found]


@contextmanager
def mlflow_scoring_server(model_uri: str, log: Path, port: int | None = None, tracking_uri: str | None = None,
                          timeout: float = MLFLOW_START_TIMEOUT) -> Iterator[str]:
    """Run `mlflow models serve --env-manager local` for `model_uri`; yields its base URL once /ping answers.

    `--env-manager local` serves with this environment's packages: no virtualenv
    is built and nothing is downloaded, so it works offline and in the sandbox.
    One worker, bound to loopback. The server and its workers are stopped on exit.
    """
    import mlflow

    port = port or free_port()
    log = Path(log)
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {
        **OFFLINE_ENV,
        "MLFLOW_TRACKING_URI": tracking_uri or mlflow.get_tracking_uri(),
        # One thread per prediction, as in the lab's own service: OpenMP threads only slow down one-row requests.
        "OMP_NUM_THREADS": "1",
        # MLflow starts uvicorn by name; the environment's own bin folder must come first.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    command = [*mlflow_command(), "models", "serve", "-m", model_uri, "--env-manager", "local",
               "--host", HOST, "--port", str(port), "--workers", "1"]
    with running(command, log, cwd=log.parent, env=env) as proc:
        url = f"http://{HOST}:{port}"
        try:
            wait_for(url + "/ping", timeout, proc=proc)
        except ServerError as exc:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise ServerError(f"mlflow models serve did not start: {exc}\n--- last lines of {log} ---\n{tail}") from exc
        yield url
