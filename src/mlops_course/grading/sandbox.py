"""The sandbox student code runs in while nbgrader grades it.

nbgrader runs every submission's kernel with the grader's own permissions, so
a notebook could read the solutions and the gradebook, reach the network or
take the machine down. Here only the *kernel* is sandboxed (nbgrader itself is
trusted), with what Linux provides:

- bubblewrap (`bwrap`): a private filesystem that holds the system's and the
  course environment's files read-only plus the student's working copy, and
  nothing else (no solutions/, gradebook or other students); a private
  network namespace (no network at all), PID namespace (every process the
  notebook starts dies with it) and /tmp;
- `prlimit`: an address-space (memory) limit, a process-count limit, a file
  size limit and no core dumps;
- `setpriv`: when we are root, the kernel runs as an unprivileged user of its
  own (the process-count limit does not apply to root);
- `unshare -n`: no network, when bubblewrap is missing but we are root.

What is missing is reported as a warning naming what is *not* enforced and how
to get it, and grading goes on with what is there.

The kernel talks to nbgrader over Unix sockets (ZeroMQ's ipc transport) in a
per-submission folder bound into the sandbox: a kernel in its own network
namespace cannot reach the grader over TCP loopback.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from traitlets import Int, List, Unicode

from mlops_course.course.kernel import OFFLINE_ENV
from mlops_course.grading.limits import Limits

TOOLS = ("bwrap", "prlimit", "setpriv", "unshare")
# Unprivileged user ids the kernels run as when we are root: one per parallel job, so
# that one student's processes never count against another's process limit.
FIRST_SANDBOX_UID = 61000
# Each grading batch running on the machine gets a block of its own (see reserved_uids).
UIDS_PER_BATCH = 256
UID_BLOCKS = 8
# What a Python kernel needs from /etc; everything else there stays out of reach.
ETC_FILES = (
    "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/timezone",
    "/etc/nsswitch.conf", "/etc/passwd", "/etc/group", "/etc/hosts", "/etc/ssl", "/etc/ca-certificates",
    "/etc/alternatives", "/etc/fonts", "/etc/mime.types",
)
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


@contextmanager
def reserved_uids(lock_dir: Path | None = None) -> Iterator[int]:
    """The first of UIDS_PER_BATCH sandbox user ids that no other grading batch on this machine is using.

    The process-count limit counts every process of a user id, machine-wide. Two batches graded
    at the same time (two graders of one machine, two test runs) must not share ids, or a
    fork bomb in one batch would leave the other's kernels unable to start a process. The block is
    held with a file lock for as long as the batch runs; the lock dies with the process.
    """
    # Under /run, which only root can write to (only root runs kernels as other users), so that
    # nobody else can take the locks; /tmp where there is no /run.
    lock_dir = lock_dir or Path("/run" if Path("/run").is_dir() else tempfile.gettempdir()) / "mlops-course-sandbox-uids"
    lock_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with ExitStack() as stack:
        handles = [stack.enter_context(open(lock_dir / f"block-{block}.lock", "a")) for block in range(UID_BLOCKS)]
        for block, handle in enumerate(handles):
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            yield FIRST_SANDBOX_UID + block * UIDS_PER_BATCH
            return
        # Every block is taken: wait for the first one rather than share it.
        fcntl.flock(handles[0], fcntl.LOCK_EX)
        yield FIRST_SANDBOX_UID


@dataclass(frozen=True)
class Sandbox:
    """The isolation tools found on this machine, and what they let us enforce."""

    tools: dict[str, str] = field(default_factory=dict)
    is_root: bool = False

    @classmethod
    def detect(cls, missing: tuple[str, ...] | list[str] = ()) -> "Sandbox":
        """Find the tools; `missing` pretends some are absent (to test the warnings)."""
        tools = {name: shutil.which(name) for name in TOOLS if name not in missing}
        return cls(tools={k: v for k, v in tools.items() if v}, is_root=os.geteuid() == 0)

    @property
    def isolates_files(self) -> bool:
        return "bwrap" in self.tools

    @property
    def isolates_network(self) -> bool:
        return "bwrap" in self.tools or ("unshare" in self.tools and self.is_root)

    @property
    def limits_resources(self) -> bool:
        return "prlimit" in self.tools

    @property
    def separate_user(self) -> bool:
        # Switching user inside bubblewrap only: without it, the kernel could not read a
        # course environment that lives in root's home folder.
        return self.is_root and self.isolates_files and "setpriv" in self.tools

    @property
    def limits_processes(self) -> bool:
        return self.limits_resources and self.separate_user

    def enforced(self) -> list[str]:
        """One line per protection in force, for `mlops-course sandbox` and the logs."""
        lines = ["a time limit per cell and per notebook (nbgrader and the course's executor)"]
        if self.isolates_files:
            lines.append("filesystem: only the student's working copy is writable; solutions/, the gradebook "
                         "and other students' files are not visible (bubblewrap)")
        if self.isolates_network:
            lines.append("no network (a private network namespace)")
        if self.isolates_files:
            lines.append("every process the notebook starts ends with it (a private PID namespace)")
        if self.limits_resources:
            lines.append("memory, file size and core dumps limited (prlimit)")
        if self.limits_processes:
            lines.append("process count limited; the kernel runs as an unprivileged user of its own (setpriv)")
        return lines

    def warnings(self) -> list[str]:
        """What is NOT enforced here, with how to fix it."""
        out = []
        if not self.isolates_files:
            out.append("bubblewrap (bwrap) is not available: student code can read every file you can, "
                       "including solutions/ and the gradebook, and processes it starts may outlive it. "
                       "Install it (Debian/Ubuntu: apt-get install bubblewrap).")
        if not self.isolates_network:
            out.append("student code can reach the network: neither bubblewrap nor `unshare -n` (as root) "
                       "is available.")
        if not self.limits_resources:
            out.append("prlimit is not available: no memory, file-size or process limits "
                       "(Debian/Ubuntu: apt-get install util-linux).")
        elif not self.limits_processes:
            out.append("no process-count limit (a fork bomb is not stopped): it needs root, bubblewrap and "
                       "setpriv to run the kernel as a user of its own.")
        return out

    def command(self, argv: list[str], *, workdir: Path, runtime_dir: Path, uid: int | None, limits: Limits) -> list[str]:
        """`argv` (the kernel's command) wrapped in every tool available."""
        cmd: list[str] = []
        if self.limits_resources:
            cmd += [self.tools["prlimit"], f"--as={limits.memory_bytes}", f"--fsize={limits.max_file_bytes}", "--core=0"]
            if self.limits_processes and uid is not None:
                cmd.append(f"--nproc={limits.max_processes}")
            cmd.append("--")
        if self.isolates_files:
            cmd += [self.tools["bwrap"], *self._bwrap_args(workdir, runtime_dir), "--"]
            if self.separate_user and uid is not None:
                cmd += [self.tools["setpriv"], f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"]
        elif self.isolates_network:
            cmd += [self.tools["unshare"], "--net", "--"]
        return cmd + list(argv)

    def _bwrap_args(self, workdir: Path, runtime_dir: Path) -> list[str]:
        args = ["--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent",
                "--new-session", "--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp"]
        for path in SYSTEM_DIRS:
            if os.path.islink(path):
                args += ["--symlink", os.readlink(path), path]
            elif os.path.isdir(path):
                args += ["--ro-bind", path, path]
        read_only = sorted({str(p) for p in python_paths()})
        read_write = [str(Path(workdir).resolve()), str(Path(runtime_dir).resolve())]
        # bubblewrap creates missing parent folders readable by root only; the kernel's
        # user must be able to walk down to what is bound.
        made: set[str] = {"/", "/tmp"}
        for target in [*read_only, *read_write, *ETC_FILES]:
            for parent in reversed(Path(target).parents):
                if str(parent) not in made and not str(parent).startswith(("/usr", "/proc", "/dev")):
                    made.add(str(parent))
                    args += ["--perms", "0755", "--dir", str(parent)]
        for path in ETC_FILES:
            args += ["--ro-bind-try", path, path]
        for path in read_only:
            args += ["--ro-bind", path, path]
        for path in read_write:
            args += ["--bind", path, path]
        args += ["--chdir", read_write[0], "--unsetenv", "JPY_PARENT_PID"]
        return args


def python_paths() -> list[Path]:
    """What the course kernel's Python needs to read: the environment, its base Python, the package."""
    import mlops_course

    paths = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), Path(mlops_course.__file__).resolve().parent}
    # A class server's shared environment loads the course's packages from another folder (classroom.shared_python.ensure_runtime).
    paths |= {Path(p).resolve() for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()}
    return [p for p in paths if not any(p != q and p.is_relative_to(q) for q in paths)]


THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def kernel_environment() -> dict[str, str]:
    """A clean environment for the kernel: none of the grader's variables (database URLs, tokens)."""
    venv_bin = str(Path(sys.executable).parent)
    return {
        "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp",
        # The kernel's user id has no /etc/passwd entry in the sandbox; MLflow tags runs with $USER.
        "USER": "student",
        "LOGNAME": "student",
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "MPLBACKEND": "Agg",
        **OFFLINE_ENV,
    }


def warm_matplotlib_cache(folder: Path) -> Path | None:
    """A matplotlib configuration folder with its font list already built, for kernels to copy.

    A sandboxed kernel starts with an empty home folder, so matplotlib would scan the system's
    fonts again for every submission, about a second each. Built once per process instead
    (`process_matplotlib_cache`), and copied into each kernel's own writable folder. None when it
    could not be built: kernels then build their own, as before.
    """
    import subprocess

    folder.mkdir(parents=True, exist_ok=True)
    env = {**kernel_environment(), "MPLCONFIGDIR": str(folder)}
    done = subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"], env=env,
                          capture_output=True, timeout=120, check=False)
    return folder if done.returncode == 0 and any(folder.glob("fontlist-*.json")) else None


_FONT_LIST: dict[str, Path] = {}  # the process's built font list (process_matplotlib_cache)


def process_matplotlib_cache() -> Path | None:
    """A built font list for this process's batches (`warm_matplotlib_cache`), made on first need.

    The list depends only on the system's fonts and matplotlib, so a process that grades batch
    after batch (the test suite, a class server's grading on submit) builds it once, not per batch.
    It is removed when the process that made it ends.
    """
    found = _FONT_LIST.get("folder")
    if found is not None and found.is_dir():
        return found
    folder = Path(tempfile.mkdtemp(prefix="mlops-course-fonts-"))
    owner = os.getpid()
    atexit.register(lambda: os.getpid() == owner and shutil.rmtree(folder, ignore_errors=True))  # not in a fork
    built = warm_matplotlib_cache(folder)
    if built is not None:
        _FONT_LIST["folder"] = built
    return built


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager that starts the kernel inside the sandbox, over Unix sockets.

    nbgrader's executor creates it from the configuration the grading worker
    writes (`SandboxedKernelManager.runtime_dir`, the limits, the user id).
    """

    runtime_dir = Unicode("", help="folder for the connection file and sockets, bound into the sandbox").tag(config=True)
    run_as_uid = Int(-1, help="unprivileged user id for the kernel (-1: keep ours)").tag(config=True)
    memory_bytes = Int(Limits.memory_bytes).tag(config=True)
    max_processes = Int(Limits.max_processes).tag(config=True)
    max_file_bytes = Int(Limits.max_file_bytes).tag(config=True)
    missing_tools = List(Unicode(), help="tools to treat as absent (tests of the fallbacks)").tag(config=True)
    matplotlib_cache = Unicode("", help="a folder from warm_matplotlib_cache, copied for the kernel").tag(config=True)
    threads = Int(0, help="threads for OpenMP and BLAS in the kernel (0: the libraries' default)").tag(config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if self.runtime_dir:
            self.transport = "ipc"
            self.connection_file = str(Path(self.runtime_dir) / "kernel.json")
            self.ip = str(Path(self.runtime_dir) / "kernel-ipc")

    @property
    def kernel_spec(self):
        spec = super().kernel_spec
        # A signal to the kernel's process group would reach bubblewrap, not the kernel;
        # an interrupt message is handled by the kernel itself.
        if spec is not None:
            spec.interrupt_mode = "message"
        return spec

    async def _async_pre_start_kernel(self, **kw):
        kw["env"] = kernel_environment()
        if self.threads > 0:
            kw["env"].update(dict.fromkeys(THREAD_VARIABLES, str(self.threads)))
        cmd, kw = await super()._async_pre_start_kernel(**kw)
        sandbox = Sandbox.detect(self.missing_tools)
        uid = self.run_as_uid if self.run_as_uid >= 0 and sandbox.separate_user else None
        workdir = Path(kw.get("cwd") or os.getcwd())
        runtime = Path(self.runtime_dir or Path(self.connection_file).parent)
        owned = [runtime, Path(self.connection_file), workdir, *workdir.rglob("*")]
        if self.matplotlib_cache and Path(self.matplotlib_cache).is_dir():
            fonts = runtime / "matplotlib"
            shutil.copytree(self.matplotlib_cache, fonts, dirs_exist_ok=True)
            kw["env"]["MPLCONFIGDIR"] = str(fonts)
            owned += [fonts, *fonts.rglob("*")]
        if uid is not None:
            # The kernel's own user owns the working copy and its sockets' folder, nothing else.
            for path in owned:
                os.chown(path, uid, uid, follow_symlinks=False)
        limits = Limits(memory_bytes=self.memory_bytes, max_processes=self.max_processes, max_file_bytes=self.max_file_bytes)
        return sandbox.command(cmd, workdir=workdir, runtime_dir=runtime, uid=uid, limits=limits), kw

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        await super()._async_launch_kernel(kernel_cmd, **kw)
        if self.runtime_dir and self.provisioner is not None:
            # Lets the batch kill this kernel's process group if the grading process itself hangs.
            (Path(self.runtime_dir) / "kernel.pgid").write_text(str(getattr(self.provisioner, "pgid", "") or ""))
