"""Do a student's processes stay under their limits, so that a fork bomb or a memory bomb harms nobody else?"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from mlops_course.classroom import limits

from ..conftest import fork_bomb, memory_bomb

SMALL = limits.StudentLimits(processes=64, memory_bytes=256 * 1024**2)


def _run_limited(code: str, procs: list, student_limits: limits.StudentLimits) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False,
                          preexec_fn=lambda: limits.join(procs, student_limits))


def test_status_says_which_limits_hold_and_which_cannot():
    """Does the description name the cgroup limits when groups are writable, and what is missing when they are not?"""
    with_groups = " ".join(limits.describe(SMALL, "v1"))
    assert "64 processes" in with_groups and "0.2 GiB of memory in all" in with_groups and "equal share of the CPU" in with_groups
    without = " ".join(limits.describe(SMALL, None))
    assert "per process" in without and "not enforced here" in without and "fair CPU share" in without


@pytest.fixture
def student_group():
    """Control groups for a made-up account, removed afterwards (needs root and writable control groups)."""
    mode = limits.cgroup_mode() if os.geteuid() == 0 else None
    if mode is None:
        pytest.skip("needs root and writable control groups (v1 or v2)")
    account = f"mc-limits-test-{os.getpid()}"
    procs = limits.prepare(account, SMALL, mode)
    yield procs
    limits.remove(account)
    assert not any(p.parent.exists() for p in procs), "the account's groups were left behind"


def test_the_class_weighs_one_process_per_student_on_the_cpu(student_group):
    """Does the class's CPU group weigh one ordinary process per student, not one for the whole class?"""
    group = next((p.parent for p in student_group if "cpu" in p.parts), student_group[0].parent)  # v1 cpu, else v2
    name, per_student = ("cpu.shares", 1024) if (group / "cpu.shares").exists() else ("cpu.weight", 100)
    students = sum(1 for child in group.parent.iterdir() if child.is_dir())
    assert int((group.parent / name).read_text()) == per_student * students
    assert int((group / name).read_text()) == per_student


def test_a_fork_bomb_stops_at_the_students_process_cap(student_group):
    """Does a fork bomb inside a student's group fail to fork past the cap (even as root, whom RLIMIT_NPROC spares)?"""
    done = _run_limited(fork_bomb(), student_group, SMALL)
    assert done.returncode == 0, done.stderr
    forked = json.loads(done.stdout.strip().splitlines()[-1])["forked"]
    assert 0 < forked < SMALL.processes, f"forked {forked} processes with a cap of {SMALL.processes}"


def test_a_memory_bomb_stops_at_the_students_memory_cap(student_group):
    """Is a process that allocates past the student's memory cap stopped (killed or refused) near the cap?"""
    done = _run_limited(memory_bomb(), student_group, SMALL)
    reached = [int(line) for line in done.stdout.split() if line.isdigit()]
    assert done.returncode != 0 or "memory_error_at_mib" in done.stdout, done.stdout[-300:]
    assert max(reached, default=0) <= SMALL.memory_bytes / 1024**2, f"allocated {max(reached)} MiB"


def test_without_groups_each_process_gets_a_memory_cap():
    """Without control groups, does the fallback refuse a process more memory than the cap (MemoryError)?"""
    done = _run_limited(memory_bomb(), [], SMALL)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["memory_error_at_mib"] <= 256
