"""Time every lab in CI mode (and optionally in full mode); bench_suite.py times the test suite.

    python benchmarks/bench_labs.py            # labs in CI mode
    python benchmarks/bench_labs.py --full     # also each lab on all of 2013
    python benchmarks/bench_labs.py --lab lab05-monitoring --full  # one lab

Each figure is one wall-clock run on this machine, printed beside its budget
as a ratio, so a run on a slower or busier machine is read against the same
targets. The README records the latest output.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from mlops_course.course.kernel import KERNEL_NAME, OFFLINE_ENV  # noqa: E402
from mlops_course.course.layout import lab_names  # noqa: E402
from mlops_course.course.notebooks import CI_PARAMETERS  # noqa: E402

# Budgets in seconds, from the issues: labs in CI mode, labs on all of 2013, the suite after install.
CI_BUDGET = {"lab01-scoping": 60, "lab02-data": 60}
CI_BUDGET_DEFAULT = 90
FULL_BUDGET = {"lab02-data": 180}
FULL_BUDGET_DEFAULT = 300


def run_lab(lab: str, parameters: dict) -> float:
    import papermill as pm

    with tempfile.TemporaryDirectory(prefix=f"bench-{lab}-") as tmp:
        work = Path(tmp) / lab
        shutil.copytree(ROOT / "solutions" / lab, work, ignore=shutil.ignore_patterns("artifacts"))
        start = time.perf_counter()
        pm.execute_notebook(str(work / f"{lab}.ipynb"), str(work / "out.ipynb"), parameters=parameters,
                            kernel_name=KERNEL_NAME, cwd=str(work), progress_bar=False)
        return time.perf_counter() - start


def row(name: str, seconds: float, budget: float) -> str:
    verdict = "ok" if seconds <= budget else "OVER BUDGET"
    return f"{name:<34} {seconds:8.1f} s   budget {budget:5.0f} s   {seconds / budget:6.1%} of budget   {verdict}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="also run every lab on all of 2013")
    parser.add_argument("--no-suite", action="store_true", help="(kept for old command lines: the suite is timed by bench_suite.py)")
    parser.add_argument("--lab", action="append", choices=lab_names(ROOT), help="time only this lab (repeatable)")
    args = parser.parse_args()
    os.environ.update(OFFLINE_ENV)

    print(f"# {platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}")
    for lab in args.lab or lab_names(ROOT):
        print(row(f"{lab} (CI mode)", run_lab(lab, CI_PARAMETERS), CI_BUDGET.get(lab, CI_BUDGET_DEFAULT)), flush=True)
        if args.full:
            print(row(f"{lab} (full 2013)", run_lab(lab, {}), FULL_BUDGET.get(lab, FULL_BUDGET_DEFAULT)), flush=True)


if __name__ == "__main__":
    main()
