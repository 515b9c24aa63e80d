"""The test suite's cost: wall time and busy CPU-seconds, and where they go, beside the budgets.

    python benchmarks/bench_suite.py                        # the whole suite (what `make test` runs)
    python benchmarks/bench_suite.py --lab lab03-modeling   # one lab alone (`make test LAB=...`)

Run it on a quiet machine: busy CPU-seconds are read machine-wide from /proc/stat (the `vmstat`
method), so another program's work would count. The suite's wrong answers are proven on the shared
prefix in a background process while other tests run; their CPU is measured by that process itself
and taken out of the groups its run overlapped (at its average rate), so each group shows its own.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from suite_timing import busy_seconds  # noqa: E402

# From the suite-speed issue: the whole suite on 2 cores after install, and one lab alone.
SUITE_WALL_BUDGET = 15 * 60
SUITE_CPU_BUDGET = 1500
LAB_WALL_BUDGET = {"lab06-pipelines": 5 * 60}
LAB_WALL_BUDGET_DEFAULT = 3 * 60
SHARED_PREFIX = ROOT / "test-artifacts" / "shared-prefix.json"
# The tests `make test` runs in a second process beside the first (tests/beside.py): when, and their CPU.
BESIDE = ROOT / "test-artifacts" / "beside.json"
# Every test's wall and CPU time, kept for a closer look (`--durations` shows only the slowest).
TIMING = ROOT / "test-artifacts" / "suite-timing.json"
LOG = ROOT / "test-artifacts" / "suite-pytest.log"


def group(nodeid: str) -> str:
    """Where a test's time is reported: its lab's proofs, the quizzes, the class server, the browser, ..."""
    path = nodeid.split("::")[0]
    name = Path(path).name
    if path.startswith("tests/labs/"):
        lab = re.search(r"lab\d\d", nodeid)
        return f"{lab.group()}: run, real grading, checks" if lab else "labs: toy checks"
    if name.startswith("test_class_server"):
        return "class server"
    if name in ("test_browser.py", "test_make_lab.py", "test_launch.py"):
        return "browser and servers"
    if name == "test_quiz.py":
        return "quizzes"
    if name == "test_autograde_hostile.py":
        return "hostile batch"
    if name == "test_book.py":
        return "book"
    return "the rest"


def run_pytest(args: list[str], timing: Path) -> int:
    env = {**os.environ, "MLOPS_COURSE_SUITE_TIMING": str(timing),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))}
    python = ROOT / ".venv" / "bin" / "python"
    command = [str(python if python.exists() else sys.executable), "-m", "pytest", "-p", "suite_timing", "-q", *args]
    with open(LOG, "w") as log:  # pytest's own report, for the failures
        return subprocess.run(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, check=False).returncode


def breakdown(tests: list[dict], proofs: dict[str, dict], beside: dict | None = None) -> dict[str, list[float]]:
    """Wall and busy CPU-seconds per group, the background proofs' share and the second process's moved to lines
    of their own."""
    rows: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    rates = [(p["start"], p["end"], p["cpu_seconds"] / max(p["end"] - p["start"], 1e-9))
             for p in [*proofs.values(), *([beside] if beside else [])]]
    for test in tests:
        overlap = sum(max(0.0, min(end, test["end"]) - max(start, test["start"])) * rate for start, end, rate in rates)
        row = rows[group(test["nodeid"])]
        row[0] += test["end"] - test["start"]
        row[1] += max(0.0, test["busy"] - overlap)
    for lab, proof in proofs.items():
        rows[f"{lab[:5]}: wrong answers on the shared prefix (background)"][1] += proof["cpu_seconds"]
    if beside:
        rows["tests in the second process (tests/beside.py)"] = [beside["end"] - beside["start"], beside["cpu_seconds"]]
    return rows


def verdict(value: float, budget: float) -> str:
    return f"budget {budget:6.0f}   {'ok' if value <= budget else 'OVER BUDGET'}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lab", help="time one lab's tests alone, as `make test LAB=<lab>` runs them")
    args = parser.parse_args()
    SHARED_PREFIX.unlink(missing_ok=True)
    BESIDE.unlink(missing_ok=True)
    TIMING.parent.mkdir(exist_ok=True)
    TIMING.unlink(missing_ok=True)
    start, busy = time.time(), busy_seconds()
    code = run_pytest([f"--lab={args.lab}"] if args.lab else ["--beside"], TIMING)
    wall, busy = time.time() - start, busy_seconds() - busy
    tests = json.loads(TIMING.read_text())["tests"] if TIMING.exists() else []
    proofs = json.loads(SHARED_PREFIX.read_text()) if SHARED_PREFIX.exists() else {}
    beside = json.loads(BESIDE.read_text()) if BESIDE.exists() else None
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"# {platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d %H:%M')}, load average at the end {load}")
    status = "passed" if code == 0 else f"FAILED (exit {code})"
    name = f"make test LAB={args.lab}" if args.lab else "make test"
    print(f"{name} ({status}), {len(tests)} tests")
    for failed in (t["nodeid"] for t in tests if t.get("outcome") == "failed"):
        print(f"  failed: {failed}   (pytest's report: {LOG.relative_to(ROOT)})")
    wall_budget = LAB_WALL_BUDGET.get(args.lab, LAB_WALL_BUDGET_DEFAULT) if args.lab else SUITE_WALL_BUDGET
    print(f"  pytest wall time        {wall:8.0f} s    {verdict(wall, wall_budget)}")
    if not args.lab:
        print(f"  busy CPU-seconds        {busy:8.0f}      {verdict(busy, SUITE_CPU_BUDGET)}")
    print(f"  cores busy on average   {busy / max(wall, 1e-9):8.2f} of {os.cpu_count()}")
    print(f"{'where it goes':<64} {'wall s':>8} {'busy CPU-s':>11}")
    for label, (seconds, cpu) in sorted(breakdown(tests, proofs, beside).items(), key=lambda kv: kv[0]):
        print(f"  {label:<62} {seconds:8.0f} {cpu:11.0f}")
    return code


if __name__ == "__main__":
    sys.exit(main())
