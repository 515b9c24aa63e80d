"""The Jupyter kernel every lab runs in, and the environment that keeps it offline.

Labs name the kernel `mlops-course` in their metadata, so JupyterLab,
papermill and nbgrader all start the course's Python rather than whatever a
stale `python3` kernel points to.
"""

from __future__ import annotations

import sys

KERNEL_NAME = "mlops-course"
DISPLAY_NAME = "Python (MLOps course)"
# MLflow and DVC send usage telemetry unless told not to; the course runs offline.
OFFLINE_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DVC_NO_ANALYTICS": "1",
    "DO_NOT_TRACK": "1",
    "PYDEVD_DISABLE_FILE_VALIDATION": "1",
}


def install_kernel(prefix: str | None = None) -> str:
    """Install the course kernel into this environment (or `prefix`); returns the kernel's folder."""
    from ipykernel.kernelspec import install

    return install(
        kernel_name=KERNEL_NAME,
        display_name=DISPLAY_NAME,
        prefix=prefix or sys.prefix,
        env=dict(OFFLINE_ENV),
    )
