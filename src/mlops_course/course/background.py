"""How a process runs behind other work: it ends with its parent and takes only CPU time nothing else wants.

The test suite proves the labs' wrong answers in the background while its other tests run
(`mlops_course.proof.shared_prefix`); those runs must neither outlive a killed suite nor slow the
tests in front of them, which would only move the same work later.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

# How nice a background run is. Not 19: some lab cells measure wall-clock time (Lab 04's load tests
# bound a call's duration), and at 19 such a cell could wait seconds for a turn while the suite's
# grading keeps both cores busy. At 10 Linux gives the run about a tenth of the time of a busy
# neighbour, and the whole of an idle core.
NICENESS = 10


def die_with_parent() -> None:
    """Ask Linux to end this process when its parent ends (a killed caller leaves no run behind)."""
    import ctypes

    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux: the caller's timeout still applies
        pass


def session_niceness() -> int | None:
    """The nice value of this process's session (autogroup), or None where Linux schedules no sessions.

    Some kernels and sandboxes have the file but leave it empty or unreadable; they schedule no sessions either.
    """
    try:
        fields = Path("/proc/self/autogroup").read_text().split()
        return int(fields[-1])
    except (OSError, IndexError, ValueError):
        return None


def yield_the_cpu(niceness: int = NICENESS) -> None:
    """Make this process, and every process it starts, `niceness` nice.

    With autogroup scheduling on, Linux first shares the CPU between sessions, and a nice value only
    counts inside its session; so a process that leads its own session makes the session nice too.
    A process that does not lead its session leaves the session alone: that would slow its caller.
    """
    os.nice(max(0, niceness - os.nice(0)))
    if os.getsid(0) != os.getpid():
        return
    try:
        Path("/proc/self/autogroup").write_text(str(niceness))
    except OSError:  # no autogroup scheduling (or not Linux): the process's nice value alone applies
        pass
