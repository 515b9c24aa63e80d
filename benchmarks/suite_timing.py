"""A pytest plugin for bench_suite.py: when each test ran and how busy the machine's cores were meanwhile.

Loaded with `-p suite_timing` (bench_suite.py puts this folder on PYTHONPATH); writes the JSON file
named by $MLOPS_COURSE_SUITE_TIMING at the end of the session. Busy time is read from /proc/stat,
the same counters `vmstat` reads, so the figure does not depend on what a test's own process did:
it counts every process the test started (kernels, graders, servers).
"""

from __future__ import annotations

import json
import os
import time

import pytest

_RECORDS: list[dict] = []


def busy_seconds() -> float:
    """CPU-seconds the machine's cores have been busy since boot (user, nice, system, irq, softirq, steal)."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


_OUTCOMES: dict[str, str] = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    start, busy = time.time(), busy_seconds()
    yield
    _RECORDS.append({"nodeid": item.nodeid, "start": start, "end": time.time(), "busy": busy_seconds() - busy,
                     "markers": sorted({m.name for m in item.iter_markers()}),
                     "outcome": _OUTCOMES.get(item.nodeid, "passed")})


def pytest_runtest_logreport(report):
    """The worst outcome of a test's set-up, call and teardown, so a failure is named in the figures."""
    if report.failed:
        _OUTCOMES[report.nodeid] = "failed"
    elif report.skipped and report.nodeid not in _OUTCOMES:
        _OUTCOMES[report.nodeid] = "skipped"


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("MLOPS_COURSE_SUITE_TIMING")
    if path:
        with open(path, "w") as out:
            json.dump({"tests": _RECORDS, "exitstatus": int(exitstatus)}, out)
