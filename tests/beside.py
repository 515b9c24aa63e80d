"""The self-contained test files `make test` runs in a second pytest process, beside the first.

pytest runs one test at a time. The suite's first process is its longest chain: the background
proofs fill the other core while they last, and after them, for the last minutes, one core was
idle. The files below need nothing the first process builds (the proofs, the labs' graded classes,
the built book, a PostgreSQL cluster), so a second process runs them at the same time. It starts
with the background, after the `alone` tests; its report is shown at the end of the first's, and
a failure there fails the run. `make test LAB=<lab>` and a plain `pytest` run everything in one
process, as before.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .conftest import ARTIFACTS, ROOT

LOG = ARTIFACTS / "beside-pytest.log"
# When the second process ran and the CPU it and everything it started used, for `make bench`.
TIMING = ARTIFACTS / "beside.json"

BESIDE = (
    "tests/test_pipeline.py",
    "tests/test_serving.py",
    "tests/test_mutation.py",
    "tests/test_gate.py",
    "tests/test_instructor_guide.py",
    "tests/proof/test_canary.py",
    "tests/proof/test_mutants.py",
    "tests/proof/test_shared_prefix.py",
    "tests/book/test_launch.py",
    "tests/learner/test_verdict.py",
    "tests/learner/test_validate.py",
    # Self-contained grading tests: here, the first process reaches its last tests (those that wait for the
    # proofs) sooner, and fewer of them run with the other core idle.
    "tests/grading/test_autograde_regrade.py",
    "tests/grading/test_grading.py",
    "tests/grading/test_plain_nbgrader_course.py",
    "tests/grading/test_release.py",
    "tests/grading/test_sandbox.py",
)


def runs_beside(path: Path) -> bool:
    return Path(path).resolve().relative_to(ROOT).as_posix() in BESIDE


class Beside:
    """The second pytest process: started once, waited for at the end of the first."""

    def __init__(self, files: list[str], options: list[str], log: Path = LOG, timing: Path = TIMING):
        self.files, self.options, self.log, self.timing = files, options, log, timing
        self.process: subprocess.Popen | None = None
        self.started = 0.0
        self.code: int | None = None

    def start(self) -> None:
        if self.process is not None:
            return
        self.log.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        if env.get("MLOPS_COURSE_SUITE_TIMING"):  # bench_suite's per-test figures, in a file of their own
            env["MLOPS_COURSE_SUITE_TIMING"] += ".beside"
        base = tempfile.mkdtemp(prefix="mlops-course-beside-")  # pytest's temporary folders, apart from the first's
        command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--basetemp={base}", *self.options,
                   *self.files]
        self.started = time.time()
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

    def finish(self, start: bool = True) -> int | None:
        """Wait for the second process; if nothing started it yet, start it first, or with `start=False` (the
        first process stopped early: -x, an interruption) leave it unrun (None)."""
        if self.code is not None:
            return self.code
        if self.process is None and not start:
            return None
        self.start()
        _, status, usage = os.wait4(self.process.pid, 0)  # its CPU-seconds and its children's, once ended
        self.process.returncode = self.code = os.waitstatus_to_exitcode(status)
        ended = self.log.stat().st_mtime  # its report's last line, written as it ended (maybe long before this wait)
        self.timing.write_text(json.dumps({"start": self.started, "end": ended,
                                      "cpu_seconds": usage.ru_utime + usage.ru_stime, "exit": self.code}))
        return self.code

    @property
    def failed(self) -> bool:
        """Ended with failures or errors (no test collected is no failure: -k or -m may leave none here)."""
        return self.code not in (None, 0, 5)  # 5: pytest.ExitCode.NO_TESTS_COLLECTED

    def stop(self) -> None:
        """A first process that ends early (interrupted, crashed) leaves no second one behind."""
        if self.process is not None and self.code is None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def report(self) -> list[str]:
        """What to show at the end of the first process's report: the summary line, or everything on failure."""
        if self.process is None:
            return [f"tests beside (second process): not run, the first process stopped early ({len(self.files)} files)"]
        lines = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        if self.code == 0:
            return [f"tests beside (second process): {lines[-1].strip('= ') if lines else ''}"]
        return [f"tests beside (second process) FAILED (exit {self.code}); its report ({self.log}):", *lines]
