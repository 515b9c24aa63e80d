"""Fixtures shared by the whole suite: the course folder, throwaway course copies, artifacts."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from mlops_course.kernel import KERNEL_NAME, OFFLINE_ENV
from mlops_course.layout import lab_names

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
KERNEL = KERNEL_NAME
LAB_NAMES = lab_names(ROOT)

# Tests must not phone home either (the Makefile sets these too; pytest may be run directly).
for _name, _value in OFFLINE_ENV.items():
    os.environ.setdefault(_name, _value)
# nbgrader runs `alembic` and MLflow runs `uvicorn` by name: this environment's bin/ must come first.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
# Throwaway courses get their own SQLite gradebook; tests of a shared database pass its URL explicitly.
os.environ.pop("MLOPS_COURSE_DB_URL", None)


def pytest_sessionstart(session: pytest.Session) -> None:
    """Fail fast, with the fix, when the notebooks' kernel would not run this environment's Python."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL)
    except NoSuchKernel:
        pytest.exit(f"the '{KERNEL}' Jupyter kernel is not installed; run `make setup` (or `make test`).", 2)
    python = Path(spec.argv[0])
    if python.is_absolute() and python.resolve() != Path(sys.executable).resolve():
        pytest.exit(
            f"the '{KERNEL}' kernel runs {python}, not this environment's {sys.executable}. "
            f"Remove the stale kernel with `jupyter kernelspec remove {KERNEL}` and run `make setup`.",
            2,
        )


def worker_group(nodeid: str) -> str:
    """The tests that must run on one pytest-xdist worker (`make test` runs two): a session fixture lives
    once per worker, so a lab's tests stay together or the lab would be graded (or run) twice.

    Under tests/labs/ that is each lab's tests, named by their parameter or their file
    (test_lab06_ci.py reuses Lab 06's papermill run); every other test stays with its module, whose
    fixtures it shares. The scheduler sees test ids only, so this reads ids, not fixtures.
    """
    path, _, name = nodeid.partition("::")
    if path.startswith("tests/labs/"):
        for lab in LAB_NAMES:
            if f"[{lab}" in name or Path(path).stem.startswith(f"test_{lab.split('-')[0]}_"):
                return lab
    return path


def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """pytest-xdist's scope scheduler, with worker_group as the scope (its `--dist loadgroup` marks no
    longer reach the scheduler with pytest 9's node ids)."""
    from xdist.scheduler import LoadScopeScheduling

    class ByWorkerGroup(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return worker_group(nodeid)

    return ByWorkerGroup(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Start with the groups that grade labs or start a class server, so that no long group is left for
    the end while the other worker idles (the scheduler hands groups out in this order)."""
    first = {}
    for item in items:
        group = worker_group(item.nodeid)
        rank = 0 if group in LAB_NAMES or item.get_closest_marker("classserver") else 1
        first[group] = min(first.get(group, 1), rank)
    items.sort(key=lambda item: first[worker_group(item.nodeid)])  # stable: the order within a group is kept


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where tests keep what a person may want to look at afterwards (executed notebooks, screenshots)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def copy_course(dest: Path, labs: list[str]) -> Path:
    """A throwaway course folder: the nbgrader config and the given labs' sources, nothing graded yet."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "nbgrader_config.py", dest / "nbgrader_config.py")
    ignore = shutil.ignore_patterns("artifacts", ".ipynb_checkpoints", "__pycache__", "mlflow.db")
    for lab in labs:
        shutil.copytree(ROOT / "solutions" / lab, dest / "solutions" / lab, ignore=ignore)
    return dest


@pytest.fixture(scope="session")
def postgres_cluster():
    """A private PostgreSQL cluster on a free loopback port, stopped at the end of the session.

    Skips (with the reason) only where PostgreSQL cannot be started: not installed, or no
    `postgres` user to run it as root.
    """
    import tempfile

    from mlops_course import postgres

    reason = postgres.unavailable_reason()
    if reason:
        pytest.skip(f"PostgreSQL tests need a local server: {reason}")
    # Not under pytest's tmp_path: as root the server runs as `postgres`, which cannot enter root's folders.
    base = Path(tempfile.mkdtemp(prefix="mlops-course-pg-"))
    base.chmod(0o755)
    try:
        with postgres.running_cluster(base / "data") as cluster:
            yield cluster
    finally:
        shutil.rmtree(base, ignore_errors=True)
