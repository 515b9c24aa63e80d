"""Grade the same 20-submission class with plain `nbgrader autograde` and with `mlops-course autograde --jobs 2`.

    python benchmarks/bench_grading.py            # Lab 01, 20 submissions
    python benchmarks/bench_grading.py --students 40 --jobs 2

Both run in one go on identical copies of a throwaway course (solutions,
blank labs and the known wrong answers of tests/labs/wrong_answers), each as
the command an instructor would type. The figures are printed side by side
with the speed-up (target: at least 1.7x on 2 cores), and the grades of the
two runs are compared, since speed that loses a grade is worthless. Run it
on a quiet machine: the load average is printed first.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from mlops_course.course import notebooks  # noqa: E402
from mlops_course.grading import nbgrader_runs as grading  # noqa: E402
from mlops_course.course.kernel import OFFLINE_ENV  # noqa: E402
from mlops_course.course.layout import release_notebook, source_notebook  # noqa: E402
from tests.conftest import copy_course  # noqa: E402
from tests.labs.mistakes import wrong_answers  # noqa: E402

TARGET = 1.7


def make_class(course: Path, lab: str, size: int) -> list[str]:
    """`size` submissions: the wrong answers first, then solutions and blank labs in turn."""
    solution = notebooks.read(source_notebook(course, lab))
    ci = lambda nb: notebooks.with_parameters(nb, notebooks.CI_PARAMETERS)  # noqa: E731
    subs = {w.student: ci(notebooks.with_answer(solution, w.answer_cell, w.code)) for w in wrong_answers(lab)}
    blank = ci(notebooks.read(release_notebook(ROOT, lab)))
    i = 0
    while len(subs) < size:
        subs[f"student-{i:02d}"] = ci(solution) if i % 4 else blank
        i += 1
    for student in list(subs)[:size]:
        grading.submit(course, lab, student, {lab: subs[student]})
    return list(subs)[:size]


def timed(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env={**os.environ, **OFFLINE_ENV}, check=False)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lab", default="lab01-scoping")
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    bin_dir = Path(sys.executable).parent
    os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    print(f"# {platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        courses = {}
        for name in ("plain", "parallel"):
            course = copy_course(Path(tmp) / name, [args.lab])
            grading.generate_assignment(course, args.lab)
            students = make_class(course, args.lab, args.students)
            courses[name] = course
        plain = timed([str(bin_dir / "nbgrader"), "autograde", args.lab, "--force"], courses["plain"])
        parallel = timed([str(bin_dir / "mlops-course"), "autograde", args.lab, "--jobs", str(args.jobs), "--no-progress"],
                         courses["parallel"])
        differ = {}
        for s in students:
            a, b = ({k: v.score for k, v in grading.cell_scores(courses[n], args.lab, s).items()} for n in ("plain", "parallel"))
            if a != b:
                differ[s] = {k: (a.get(k), b.get(k)) for k in a.keys() | b.keys() if a.get(k) != b.get(k)}
        same = not differ
        for s, cells in differ.items():
            print(f"grades differ for {s} (plain, parallel): {cells}")
        shutil.rmtree(tmp, ignore_errors=True)
    speedup = plain / parallel
    print(f"{'nbgrader autograde (sequential, no sandbox)':<48} {plain:7.1f} s   {plain / args.students:5.2f} s/submission")
    print(f"{f'mlops-course autograde --jobs {args.jobs} (sandboxed)':<48} {parallel:7.1f} s   {parallel / args.students:5.2f} s/submission")
    verdict = "ok" if speedup >= TARGET else "BELOW TARGET"
    print(f"speed-up {speedup:.2f}x on {args.students} submissions of {args.lab} (target >= {TARGET}x): {verdict}; "
          f"grades identical: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
