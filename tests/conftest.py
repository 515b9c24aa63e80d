"""Fixtures shared by the whole suite: the course folder, throwaway course copies, artifacts."""

from __future__ import annotations

import os
import shutil
import sys
import threading
from pathlib import Path

import pytest

from mlops_course.course.kernel import KERNEL_NAME, OFFLINE_ENV

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
KERNEL = KERNEL_NAME

# Tests must not phone home either (the Makefile sets these too; pytest may be run directly).
for _name, _value in OFFLINE_ENV.items():
    os.environ.setdefault(_name, _value)
# nbgrader runs `alembic` and MLflow runs `uvicorn` by name: this environment's bin/ must come first.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
# Throwaway courses get their own SQLite gradebook; tests of a shared database pass its URL explicitly.
os.environ.pop("MLOPS_COURSE_DB_URL", None)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--lab", action="append", default=[], metavar="LAB",
                     help="prove one lab alone (repeatable): its release, run, grading both ways, wrong answers, "
                          "self-check and quiz; `make test LAB=<lab>`")


def pytest_configure(config: pytest.Config) -> None:
    from mlops_course.course.layout import lab_names

    known = [lab for lab in lab_names(ROOT) if lab.startswith("lab")]
    unknown = [lab for lab in config.getoption("lab") if lab not in known]
    if unknown:
        pytest.exit(f"no lab named {', '.join(unknown)}; the labs are: {', '.join(known)}", 4)


def lab_tokens(lab: str) -> tuple[str, str]:
    """How a lab's tests are named: by the lab (`lab03-modeling`, in parameters; `lab03`, in file names)
    and by its quiz's chapter (`03-modeling`)."""
    return lab, lab.split("-")[0]


@pytest.hookimpl(tryfirst=True)  # before the lab tests plan their background work on what is left
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With --lab, keep only the tests of the named labs and of their quizzes."""
    labs = config.getoption("lab")
    if not labs:
        return

    def belongs(item: pytest.Item) -> bool:
        params = item.nodeid.partition("[")[2]
        for lab in labs:
            name, short = lab_tokens(lab)
            chapter = name.removeprefix("lab")
            if chapter in params or short in Path(str(item.path)).name:
                return True
        return False

    kept = [item for item in items if belongs(item)]
    config.hook.pytest_deselected(items=[item for item in items if item not in kept])
    items[:] = kept


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


def lab_points(lab: str, root: Path = ROOT) -> tuple[float, float]:
    """(automatic points, all points) of a lab, read from its solution: what full marks are when it is graded."""
    from mlops_course.course import notebooks
    from mlops_course.course.layout import source_notebook

    cells = notebooks.graded_cells(notebooks.read(source_notebook(root, lab)))
    return sum(c.points for c in cells if c.is_autograded_test), sum(c.points for c in cells)


@pytest.fixture(scope="session")
def built_book() -> Path:
    """The course book built strictly (warnings are errors) from the repository, once for every test that reads it."""
    from mlops_course.book.build import build_book

    return build_book(ROOT, strict=True)


# Set when the lab tests' background proofs (tests/labs/conftest.py) are done, or at collection when none run.
PROOFS_DONE = threading.Event()


def import_before_threads() -> None:
    """Import nbgrader and the course's runners in the main thread, before a background thread starts.

    Two threads importing nbgrader at once can deadlock on its modules' import locks (seen: a test
    importing nbgrader.apps while a background check imported nbgrader.preprocessors).
    """
    import nbgrader.apps  # noqa: F401
    import nbgrader.preprocessors  # noqa: F401

    import mlops_course.learner.selfcheck  # noqa: F401
    import mlops_course.proof.shared_prefix  # noqa: F401


class BlankChecks:
    """`mlops-course check` of each untouched released lab (it runs the lab), once per lab.

    A background thread runs them once the shared-prefix proofs are done, while the rest of the suite
    uses one core; a test that asks first computes its lab itself (`make test LAB=...`, where the proof
    is still running when the blank check's tests come).
    """

    def __init__(self, labs: list[str]):
        self.results: dict[str, object] = {}
        self.locks = {lab: threading.Lock() for lab in labs}
        import_before_threads()
        self.thread = threading.Thread(target=self._work, args=(labs,), name="blank-checks", daemon=True)
        self.thread.start()

    def _work(self, labs: list[str]) -> None:
        PROOFS_DONE.wait()
        for lab in labs:
            self.get(lab, raise_error=False)

    def get(self, lab: str, raise_error: bool = True):
        from mlops_course.course.layout import release_notebook
        from mlops_course.learner.selfcheck import check_notebook

        with self.locks.setdefault(lab, threading.Lock()):
            if lab not in self.results:
                try:
                    self.results[lab] = check_notebook(release_notebook(ROOT, lab), quick=True)
                except Exception as exc:  # noqa: BLE001 (kept for the test that reads this lab, which raises it)
                    self.results[lab] = exc
        found = self.results[lab]
        if isinstance(found, Exception) and raise_error:
            raise found
        return found


@pytest.fixture(scope="session", autouse=True)
def blank_checks(request) -> BlankChecks:
    """Starts the blank labs' checks that the selected tests read (tests/labs/conftest.py runs those tests last)."""
    items = request.session.items
    if not any("proven" in getattr(item, "fixturenames", ()) for item in items):
        PROOFS_DONE.set()
    reading = [item for item in items if "blank_check" in getattr(item, "fixturenames", ())]
    return BlankChecks(list(dict.fromkeys(item.callspec.params["lab"] for item in reading)))


@pytest.fixture(scope="session")
def blank_check(blank_checks):
    """The check of an untouched released lab, by name (computed once, in the background when it can be)."""
    return blank_checks.get


@pytest.fixture(scope="session")
def postgres_cluster():
    """A private PostgreSQL cluster on a free loopback port, stopped at the end of the session.

    Skips (with the reason) only where PostgreSQL cannot be started: not installed, or no
    `postgres` user to run it as root.
    """
    import tempfile

    from mlops_course.classroom import postgres

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
