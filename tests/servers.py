"""Starting and stopping local servers in tests: free ports, readiness polling, clean shutdown."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import httpx


def free_port() -> int:
    """A port nothing listens on right now (the OS picks it; tests never use fixed ports)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, timeout: float, ok: Callable[[httpx.Response], bool] = lambda r: r.status_code == 200, proc: subprocess.Popen | None = None) -> httpx.Response:
    """Poll `url` until `ok(response)` or fail after `timeout` seconds (or when `proc` dies)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with status {proc.returncode} before {url} answered")
        try:
            response = httpx.get(url, timeout=5)
            if ok(response):
                return response
            last = response.status_code
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.25)
    raise TimeoutError(f"{url} did not answer within {timeout}s (last: {last})")


@contextmanager
def running(command: list[str], log: Path, cwd: Path, env: dict | None = None) -> Iterator[subprocess.Popen]:
    """Run a server in its own process group and make sure the whole group is gone afterwards."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, **(env or {})})
        try:
            yield proc
        finally:
            stop_group(proc)


def stop_group(proc: subprocess.Popen, grace: float = 10) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue
