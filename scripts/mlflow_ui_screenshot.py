"""Regenerate book/images/mlflow-ui-lab03.png: the MLflow UI showing Lab 03's runs.

    .venv/bin/python scripts/mlflow_ui_screenshot.py            # executes Lab 03 in CI mode first
    .venv/bin/python scripts/mlflow_ui_screenshot.py --lab-dir D  # reuses D/artifacts/mlflow.db

Executes the solution in CI mode with papermill (unless given a folder that already
holds its store), starts `mlflow ui` on a free loopback port, opens the experiment in
Debian's Chromium (Playwright, no browser download, every non-local request blocked),
expands the tuning run's trials, saves the screenshot, and stops the server.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from mlops_course.course.kernel import KERNEL_NAME, OFFLINE_ENV  # noqa: E402
from mlops_course.course.notebooks import CI_PARAMETERS  # noqa: E402

LAB = "lab03-modeling"
OUT = ROOT / "book" / "images" / "mlflow-ui-lab03.png"
CHROMIUM = "/usr/bin/chromium"


def execute_lab(dest: Path) -> Path:
    import papermill as pm

    work = dest / LAB
    shutil.copytree(ROOT / "solutions" / LAB, work, ignore=shutil.ignore_patterns("artifacts"))
    pm.execute_notebook(str(work / f"{LAB}.ipynb"), str(dest / "executed.ipynb"), parameters=CI_PARAMETERS,
                        kernel_name=KERNEL_NAME, cwd=str(work), progress_bar=False)
    return work


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("mlflow ui exited before it answered")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


def screenshot(lab_dir: Path, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", "sqlite:///artifacts/mlflow.db",
                             "--host", "127.0.0.1", "--port", str(port), "--workers", "1"], cwd=lab_dir, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_up(f"{base}/health", proc)
        import json

        with urllib.request.urlopen(f"{base}/api/2.0/mlflow/experiments/get-by-name?experiment_name={LAB}") as r:
            experiment_id = json.load(r)["experiment"]["experiment_id"]
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1400, "height": 800})
            page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(("http://127.0.0.1", "data:", "blob:"))
                       else route.abort())
            page.goto(f"{base}/#/experiments/{experiment_id}/runs", wait_until="networkidle")
            try:
                page.get_by_text("baseline-rate").first.wait_for(timeout=120_000)  # long names are truncated in the table
            except Exception:
                page.screenshot(path=str(out.with_suffix(".debug.png")))
                raise
            expand = page.locator("[data-testid='experiment-view-runs-expand-button'], button[aria-label*='xpand']")
            if expand.count():
                expand.first.click()
            page.wait_for_timeout(1500)
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out))
            browser.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lab-dir", type=Path, help="a folder holding artifacts/mlflow.db from a run of Lab 03")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    os.environ.update(OFFLINE_ENV)
    if args.lab_dir:
        screenshot(args.lab_dir.resolve(), args.out)
    else:
        with tempfile.TemporaryDirectory(prefix="mlflow-ui-") as tmp:
            screenshot(execute_lab(Path(tmp)), args.out)
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
