"""The Jupyter kernel every lab runs in, and the environment that keeps it offline.

Labs name the kernel `mlops-course` in their metadata, so JupyterLab,
papermill and nbgrader all start the course's Python rather than whatever a
stale `python3` kernel points to.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

from mlops_course.tracking import OFFLINE_ENV  # the kernel's environment; callers import it from here too

KERNEL_NAME = "mlops-course"
DISPLAY_NAME = "Python (MLOps course)"


def install_kernel(prefix: str | None = None) -> str:
    """Install the course kernel into this environment (or `prefix`); returns the kernel's folder."""
    from ipykernel.kernelspec import install

    return install(
        kernel_name=KERNEL_NAME,
        display_name=DISPLAY_NAME,
        prefix=prefix or sys.prefix,
        env=dict(OFFLINE_ENV),
    )


def ipc_kernel_config(runtime_dir: str | Path | None = None):
    """Settings for a kernel that papermill or nbclient starts: Unix sockets, not TCP ports.

    jupyter_client picks a TCP port by binding port 0 and closing it; the kernel binds it a
    moment later, so kernels started at the same moment by different processes can get the
    same port and die ("Address already in use"), as a whole class pressing "Run all" does.
    Over Unix sockets each kernel has its own files, named after a fresh connection file in
    `runtime_dir` (default: Jupyter's runtime folder, on the class server a short one per
    account). Use: `papermill.execute_notebook(..., config=ipc_kernel_config())`.
    """
    from jupyter_core.paths import jupyter_runtime_dir
    from traitlets.config import Config

    folder = Path(runtime_dir or jupyter_runtime_dir())
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    connection = folder / f"kernel-{uuid.uuid4()}.json"
    return Config({"KernelManager": {"transport": "ipc", "connection_file": str(connection)}})
