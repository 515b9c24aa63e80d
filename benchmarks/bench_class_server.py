"""A class logging in at once: N students start their servers and run Lab 01 (CI mode) on the class server.

    sudo .venv/bin/python benchmarks/bench_class_server.py                  # 30 students, one wave
    sudo .venv/bin/python benchmarks/bench_class_server.py --waves 10,30    # 10 at once, then 30 at once

Starts a private class server (mlops_course.classroom.server.start, test logins), then for each wave
every student, in a thread of their own and all at the same time: logs in through
the Hub's login form, starts their server through the REST API, fetches Lab 01,
answers it with the solution and runs it with papermill in CI mode inside their
own server, then hands it in and fetches its feedback (Lab 01 is graded on submit,
three an hour, as `mlops-course class-server grade-on-submit` switches it on; the
MLflow accounts, per-student limits and closed solutions of `start` hold too).
Meanwhile a probe times the Hub's REST API (GET /hub/api/users/<name>)
every 0.25 s and a sampler adds up the resident memory of each account's processes.

Reports: server start time p50/p95, Hub API latency p50/p99, Lab 01's wall time
under load (p50/max), the time from handing in to fetched feedback (p50/max), memory per student server (idle, and at its peak with the
lab's kernel), and every failure by kind, which says what gives first as the
count rises. Bounded: each wave has a deadline, the whole run a time limit, and
the class server, its accounts and its state are removed at the end whatever happens.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import pwd
import re
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from mlops_course.classroom import on_submit  # noqa: E402
from mlops_course.classroom import server as classserver  # noqa: E402
from mlops_course.classroom.accounts import INSTRUCTOR, can_create_accounts, roster  # noqa: E402
from mlops_course.course import notebooks  # noqa: E402
from mlops_course.course.config import COURSE_ID  # noqa: E402
from mlops_course.classroom.hub_client import HubClient  # noqa: E402
from mlops_course.course.layout import release_notebook, source_notebook  # noqa: E402

LAB = "lab01-scoping"
# Papermill in its own process in the student's server, as `papermill lab.ipynb lab.ipynb -p QUICK True` would
# run it, but with its kernel over Unix sockets like the server's kernels (kernel.ipc_kernel_config).
PAPERMILL = (f"import papermill; from mlops_course.course.kernel import ipc_kernel_config; "
             f"papermill.execute_notebook('{LAB}/{LAB}.ipynb', '{LAB}/{LAB}.ipynb', parameters={{'QUICK': True}}, "
             f"cwd='{LAB}', progress_bar=False, config=ipc_kernel_config())")
RUN_LAB = f"""
import subprocess, sys, time
t = time.monotonic()
done = subprocess.run([sys.executable, "-c", {PAPERMILL!r}], capture_output=True, text=True)
print(done.returncode, round(time.monotonic() - t, 2))
if done.returncode:
    print((done.stderr.strip().splitlines() or [""])[-1][:150])
"""


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(q / 100 * len(values) + 0.5) - 1))]


def answered() -> dict:
    nb = notebooks.read(release_notebook(ROOT, LAB))
    for cell in notebooks.read(source_notebook(ROOT, LAB)).cells:
        meta = notebooks.nbgrader_meta(cell)
        if meta.get("solution") and cell.cell_type == "code":
            nb = notebooks.with_answer(nb, meta["grade_id"], cell.source)
    return nb


def login(hub_url: str, name: str, password: str) -> float:
    """The Hub's login form, as a browser submits it; returns seconds."""
    started = time.monotonic()
    with httpx.Client(base_url=hub_url, follow_redirects=False, timeout=120) as browser:
        page = browser.get("/hub/login")
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
        form = {"username": name, "password": password, **({"_xsrf": xsrf.group(1)} if xsrf else {})}
        response = browser.post("/hub/login", data=form)
        if response.status_code != 302:
            raise RuntimeError(f"login: HTTP {response.status_code}")
    return time.monotonic() - started


class Sampler(threading.Thread):
    """Hub API latency and per-account memory, sampled until stopped."""

    def __init__(self, client: HubClient, accounts: list[str]):
        super().__init__(daemon=True)
        self.client, self.accounts = client, accounts
        self.uids = {pwd.getpwnam(a).pw_uid: a for a in accounts}
        self.latencies: list[float] = []
        self.api_errors = 0
        self.peak_rss: dict[str, int] = Counter()
        self.halt = threading.Event()

    def rss_by_account(self) -> dict[str, int]:
        totals: Counter = Counter()
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                status = (proc / "status").read_text()
            except OSError:
                continue
            uid = int(re.search(r"^Uid:\s+(\d+)", status, re.M).group(1))
            rss = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
            if uid in self.uids and rss:
                totals[self.uids[uid]] += int(rss.group(1)) * 1024
        return totals

    def run(self) -> None:
        i = 0
        while not self.halt.is_set():
            name = self.accounts[i % len(self.accounts)]
            started = time.monotonic()
            try:
                self.client.api("GET", f"/users/{name}")
                self.latencies.append(time.monotonic() - started)
            except Exception:  # noqa: BLE001 (counted: an overloaded Hub is a finding)
                self.api_errors += 1
            if i % 4 == 0:
                for account, rss in self.rss_by_account().items():
                    self.peak_rss[account] = max(self.peak_rss[account], rss)
            i += 1
            self.halt.wait(0.25)


def feedback_seconds(client: HubClient, state: Path, name: str, deadline: float) -> float:
    """Hand the lab in, then wait until its feedback is released; returns the seconds between.

    The wait looks for the page in the exchange (by the hand-in's secret, as nbgrader's fetch_feedback
    does), so 30 students polling do not load the machine they measure; one fetch then checks that
    the student gets it.
    """
    from nbgrader.utils import notebook_hash

    cache = state / "home" / name / ".local" / "share" / "jupyter" / "nbgrader_cache" / COURSE_ID
    known = set(cache.glob(f"{name}+{LAB}+*"))
    started = time.monotonic()
    client.assignment(name, "submit", LAB)
    [handed_in] = set(cache.glob(f"{name}+{LAB}+*")) - known
    secret = (handed_in / "submission_secret.txt").read_text()
    page = state / "exchange" / COURSE_ID / "feedback" / f"{notebook_hash(secret=secret, notebook_id=LAB)}.html"
    while not page.exists():
        if time.monotonic() > deadline:
            raise TimeoutError("no feedback before the wave's deadline")
        time.sleep(0.5)
    seconds = time.monotonic() - started
    folder = state / "home" / name / LAB / "feedback"
    fetched = len(list(folder.glob("*/")))
    client.assignment(name, "fetch_feedback", LAB)
    if len(list(folder.glob("*/"))) <= fetched:
        raise RuntimeError("the released feedback was not fetched")
    return seconds


def student(client: HubClient, hub_url: str, name: str, password: str, notebook: dict, deadline: float,
            state: Path) -> dict:
    out: dict = {"name": name}
    try:
        out["login"] = login(hub_url, name, password)
        out["start"] = client.start_server(name, timeout=max(10.0, deadline - time.monotonic()))
        client.assignment(name, "fetch", LAB)
        client.upload(name, f"{LAB}/{LAB}.ipynb", notebook)
        started = time.monotonic()
        done = client.run(name, RUN_LAB, timeout=max(10.0, deadline - time.monotonic()))
        if done.error:
            raise RuntimeError(f"kernel: {done.error}")
        code, papermill_seconds = done.stdout.splitlines()[0].split()
        if code != "0":
            raise RuntimeError(f"lab failed (papermill exit status {code}): {done.stdout.splitlines()[-1]}")
        out["lab"] = float(papermill_seconds)
        out["lab_with_kernel"] = time.monotonic() - started
        out["feedback"] = feedback_seconds(client, state, name, deadline)
    except Exception as exc:  # noqa: BLE001 (every failure is recorded, by kind)
        out["error"] = f"{type(exc).__name__}: {str(exc)[:200]}"
    return out


def release(client: HubClient) -> None:
    """The instructor releases Lab 01 from their own server, as in class."""
    client.start_server(INSTRUCTOR)
    done = client.run(INSTRUCTOR, (
        "import subprocess\n"
        f"d = subprocess.run(['nbgrader', 'release_assignment', '{LAB}', '--force'], cwd='course', capture_output=True, text=True)\n"
        "print(d.returncode, d.stderr[-1500:])"))
    if not done.stdout.startswith("0 "):
        raise SystemExit(f"error: the instructor could not release {LAB}: {done.stdout}{done.error or ''}")
    client.stop_server(INSTRUCTOR)


def run_wave(server, client: HubClient, password: str, accounts: list[str], deadline_seconds: float) -> dict:
    notebook = answered()
    sampler = Sampler(client, accounts)
    sampler.start()
    idle: dict[str, int] = {}
    started = time.monotonic()
    deadline = started + deadline_seconds
    with ThreadPoolExecutor(max_workers=len(accounts)) as pool:
        results = list(pool.map(lambda a: student(client, server.hub_url, a, password, notebook, deadline, server.state),
                                accounts))
    wall = time.monotonic() - started
    idle = sampler.rss_by_account()  # servers still up, kernels shut down
    sampler.halt.set()
    sampler.join()
    for account in accounts:
        client.stop_server(account)
    ok = [r for r in results if "error" not in r]
    return {
        "students": len(accounts), "ok": len(ok), "wall": wall, "load": os.getloadavg(),
        "start": [r["start"] for r in results if "start" in r],
        "login": [r["login"] for r in results if "login" in r],
        "lab": [r["lab"] for r in ok], "lab_with_kernel": [r["lab_with_kernel"] for r in ok],
        "feedback": [r["feedback"] for r in ok],
        "api": sampler.latencies, "api_errors": sampler.api_errors,
        "idle_rss": [idle[a] for a in accounts if idle.get(a)],
        "peak_rss": [sampler.peak_rss[a] for a in accounts if sampler.peak_rss.get(a)],
        "errors": Counter(re.sub(r"mc-[a-z0-9_-]+", "<student>", r["error"])[:160] for r in results if "error" in r),
    }


def report(wave: dict) -> list[str]:
    mib = 2**20
    lines = [
        f"{wave['students']} students at once: {wave['ok']} ran Lab 01, wave took {wave['wall']:.0f} s"
        f" (load average at its end {' '.join(f'{x:.2f}' for x in wave['load'])})",
        f"  login (Hub form)          p50 {pct(wave['login'], 50):6.2f} s   p95 {pct(wave['login'], 95):6.2f} s",
        f"  server start              p50 {pct(wave['start'], 50):6.1f} s   p95 {pct(wave['start'], 95):6.1f} s",
        f"  Hub API latency           p50 {pct(wave['api'], 50) * 1000:6.0f} ms  p99 {pct(wave['api'], 99) * 1000:6.0f} ms"
        f"  ({len(wave['api'])} requests, {wave['api_errors']} failed)",
        f"  Lab 01 (CI) under load    p50 {pct(wave['lab'], 50):6.1f} s   max {max(wave['lab'], default=float('nan')):6.1f} s"
        f"  (papermill; with kernel start p50 {pct(wave['lab_with_kernel'], 50):.1f} s)",
        f"  graded on submit          p50 {pct(wave['feedback'], 50):6.1f} s   max {max(wave['feedback'], default=float('nan')):6.1f} s"
        f"  (handing in to released feedback)",
        f"  memory per student        idle server {statistics.mean(wave['idle_rss'] or [0]) / mib:5.0f} MiB,"
        f" peak with the lab's kernel {statistics.mean(wave['peak_rss'] or [0]) / mib:5.0f} MiB"
        f" (max {max(wave['peak_rss'] or [0]) / mib:.0f} MiB)",
    ]
    if wave["errors"]:
        lines += [f"  failed: {count} x {kind}" for kind, count in wave["errors"].most_common()]
    else:
        lines.append("  failed: none")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waves", default="30", help="students per wave, comma-separated (default: 30)")
    parser.add_argument("--wave-deadline", type=float, default=600, help="seconds a wave may take (default: 600)")
    parser.add_argument("--json", help="also write the raw figures here")
    args = parser.parse_args()
    waves = [int(n) for n in args.waves.split(",")]
    reason = can_create_accounts()
    if reason:
        raise SystemExit(f"error: {reason}")
    base = Path(tempfile.mkdtemp(prefix="mlops-course-bench-class-"))
    base.chmod(0o711)
    state, password = base / "state", secrets.token_hex(8)
    accounts = roster(max(waves))
    print(f"# vm: {os.cpu_count()} cores, Python {platform.python_version()}, {dt.date.today()}, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    results = []
    try:
        started = time.monotonic()
        server = classserver.start(ROOT, accounts, state, test_password=password, log=lambda line: None)
        print(f"class server with {len(accounts)} accounts started in {time.monotonic() - started:.0f} s")
        client = HubClient(server.hub_url, server.token, timeout=120)
        release(client)
        on_submit.switch(state, LAB, 3)
        for count in waves:
            wave = run_wave(server, client, password, accounts[:count], args.wave_deadline)
            results.append(wave)
            print("\n".join(report(wave)), flush=True)
        client.close()
    finally:
        classserver.teardown(state)
        shutil.rmtree(base, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=list))


if __name__ == "__main__":
    main()
