"""Per-student limits on a class server: a process cap, a memory cap and a fair share of the CPU.

Student servers are plain processes (JupyterHub's LocalProcessSpawner), so one
student's fork bomb or 20 GB allocation would starve or kill everyone's work.
Where Linux's control groups can be written, each student account gets a group
of its own, nested under the Hub's own group (so the machine's accounting stays
whole), which every process of the student's server and kernels inherits:

- cgroup v2 (the unified hierarchy with the pids, memory and cpu controllers):
  `pids.max`, `memory.max` (and no swap) and an equal `cpu.weight`;
- cgroup v1 (separate pids, memory and cpu hierarchies, as in many containers):
  `pids.max`, `memory.limit_in_bytes` and an equal `cpu.shares`.

An equal weight gives each student the same share of a busy CPU, however many
processes they start, and the class's group weighs one ordinary process per
student against the rest of the machine. Without writable control groups the limits fall back to
resource limits (what `prlimit` sets for the grading sandbox): a process cap per account
(RLIMIT_NPROC, which the kernel counts per user) and a memory cap per *process*
(RLIMIT_AS); there is then no per-student memory total and no fair CPU share.
`describe` says which limits hold on this machine, for `class-server status`.
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
GROUP = "mlops-course"
V1_CONTROLLERS = ("pids", "memory", "cpu")
GIB = 1024**3


@dataclass(frozen=True)
class StudentLimits:
    """What each student's processes may use together (threads count as processes, as Linux counts them)."""

    processes: int = 512
    memory_bytes: int = 3 * GIB


def _own_group(controller: str | None) -> str:
    """This process's group path in a v1 controller's hierarchy (or v2's, for None), from /proc/self/cgroup."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if (controller is None and controllers == "") or (controller and controller in controllers.split(",")):
            return path.lstrip("/")
    return ""


def _writable(folder: Path) -> bool:
    probe = folder / f"{GROUP}-probe-{os.getpid()}"
    try:
        probe.mkdir()
        probe.rmdir()
        return True
    except OSError:
        return False


def cgroup_mode(root: Path = CGROUP_ROOT) -> str | None:
    """"v2" or "v1" when this process can create control groups with the pids, memory and cpu controllers."""
    unified = root / "cgroup.controllers"
    if (unified.exists() and set(V1_CONTROLLERS) <= set(unified.read_text().split())
            and _writable(root / _own_group(None))):
        return "v2"
    if all((root / c / "cgroup.procs").exists() and _writable(root / c / _own_group(c)) for c in V1_CONTROLLERS):
        return "v1"
    return None


def _group_folders(account: str, mode: str, root: Path) -> list[Path]:
    if mode == "v2":
        return [root / _own_group(None) / GROUP / account]
    return [root / c / _own_group(c) / GROUP / account for c in V1_CONTROLLERS]


def _write(path: Path, value: str) -> None:
    path.write_text(value)


def prepare(account: str, limits: StudentLimits, mode: str | None, root: Path = CGROUP_ROOT) -> list[Path]:
    """Create the account's control groups with their limits; returns the `cgroup.procs` files to join.

    Called as root in the Hub before a server starts; `join` then moves the new process in.
    """
    if mode is None:
        return []
    folders = _group_folders(account, mode, root)
    if mode == "v2":
        base = folders[0].parent
        base.mkdir(exist_ok=True)
        # The controllers must be enabled on the way down: in the Hub's group for ours, in ours for the accounts'.
        for parent in (base.parent, base):
            _write(parent / "cgroup.subtree_control", " ".join(f"+{c}" for c in V1_CONTROLLERS))
        folders[0].mkdir(exist_ok=True)
        _write(folders[0] / "pids.max", str(limits.processes))
        _write(folders[0] / "memory.max", str(limits.memory_bytes))
        if (folders[0] / "memory.swap.max").exists():
            _write(folders[0] / "memory.swap.max", "0")
        _write(folders[0] / "cpu.weight", "100")
        _weigh_class(base, "cpu.weight", 100, 10000)
    else:
        pids, memory, cpu = folders
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
        _write(pids / "pids.max", str(limits.processes))
        _write(memory / "memory.limit_in_bytes", str(limits.memory_bytes))
        if (memory / "memory.memsw.limit_in_bytes").exists():  # swap accounting on: no swapping past the cap
            _write(memory / "memory.memsw.limit_in_bytes", str(limits.memory_bytes))
        _write(cpu / "cpu.shares", "1024")
        _weigh_class(cpu.parent, "cpu.shares", 1024, 262144)
    return [folder / "cgroup.procs" for folder in folders]


def _weigh_class(parent: Path, name: str, per_student: int, most: int) -> None:
    """Give the class's group one ordinary process's CPU weight per student in it.

    Left at the default, the whole class would weigh as much as a single process of the
    Hub's, and on a busy machine every student's server would crawl (servers took over
    180 s to start beside other work); each student still gets one equal share.
    """
    students = sum(1 for child in parent.iterdir() if child.is_dir())
    _write(parent / name, str(min(most, per_student * max(1, students))))


def join(procs_files: list[Path], limits: StudentLimits) -> None:
    """Put the calling process in its groups, or else under per-process limits; for a spawner's child, before exec.

    Runs between fork and exec (as root, before the spawner switches to the account), so
    it only writes files and sets limits: no imports, no locks. The per-process limits are
    set in both cases: RLIMIT_NPROC, counted per account, also caps a student whose
    processes run outside the group (none should).
    """
    for procs in procs_files:
        with open(procs, "w") as out:
            out.write(str(os.getpid()))
    resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
    if not procs_files:
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))


def remove(account: str, root: Path = CGROUP_ROOT) -> None:
    """Remove an account's (empty) groups, and ours once no account has one; what is not ours is left alone."""
    for mode in ("v2", "v1"):
        for folder in _group_folders(account, mode, root):
            for path in (folder, folder.parent):
                try:
                    path.rmdir()
                except OSError:
                    pass


def describe(limits: StudentLimits, mode: str | None) -> list[str]:
    """Which limits hold on this machine, and which cannot, one line each."""
    memory = f"{limits.memory_bytes / GIB:.1f} GiB"
    if mode:
        return [(f"per-student limits (cgroup {mode}): at most {limits.processes} processes and threads, "
                 f"{memory} of memory in all, an equal share of the CPU")]
    return [(f"per-student limits (resource limits, as prlimit sets): at most {limits.processes} processes and "
             f"threads per account, {memory} of memory per process"),
            ("not enforced here (no writable control groups): a memory total per student and a fair CPU share; "
             "run the class server where /sys/fs/cgroup is writable by root (a VM or a host, not an unprivileged container)")]
