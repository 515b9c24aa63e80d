"""Lab 06's DVC pipeline: a first `dvc repro` against a second one with nothing changed.

    python benchmarks/bench_pipeline.py                  # the CI sample (5% of the flights of each month)
    python benchmarks/bench_pipeline.py --fraction 1     # all of 2013

In a fresh DVC project in a temporary folder (private MLflow store, no remote):
the first `dvc repro` runs all six stages (ingest, validate, split, train,
evaluate, register); the second, with nothing changed, must run no stage and
finish in under 3 s (issue 9): DVC only hashes the dependencies and compares
them with dvc.lock. A third run after changing one training parameter shows what
the cache saves: only train, evaluate and register run again. The README records
the latest output.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
NOOP_TARGET_SECONDS = 3.0


def timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - start, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fraction", type=float, default=0.05, help="share of each month's flights (CI sample: 0.05)")
    args = parser.parse_args()
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        os.environ.pop(name, None)  # the pipeline registers into its own folder's store

    from mlops_course import pipeline

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        folder = pipeline.write_project(Path(tmp) / "project", {"data": {"fraction": args.fraction}})
        rows.append(("first dvc repro", *timed(pipeline.repro, folder)))
        rows.append(("second dvc repro, nothing changed", *timed(pipeline.repro, folder)))
        pipeline.set_params(folder, {"train": {"learning_rate": 0.2}})
        rows.append(("dvc repro after train.learning_rate changed", *timed(pipeline.repro, folder)))

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"# {platform.node() or 'machine'}: {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{dt.date.today()}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"# {args.fraction:.0%} of each month's flights, reference stages (python -m mlops_course.stages)")
    print(f"{'run':<46}{'seconds':>9}  stages run")
    for name, seconds, ran in rows:
        print(f"{name:<46}{seconds:>9.2f}  {', '.join(ran) or '(none)'}")
    first, noop, changed = (seconds for _, seconds, _ in rows)
    noop_ok = noop < NOOP_TARGET_SECONDS and rows[1][2] == []
    print(f"no-op / first: {noop / first:.1%} of the time ({first / noop:.0f}x faster); "
          f"one parameter changed: {changed / first:.0%} of the first run")
    print(f"second repro {noop:.2f} s, {len(rows[1][2])} stages run (target < {NOOP_TARGET_SECONDS:.0f} s, none): "
          f"{'ok' if noop_ok else 'ABOVE TARGET'}")
    return 0 if noop_ok else 1


if __name__ == "__main__":
    sys.exit(main())
