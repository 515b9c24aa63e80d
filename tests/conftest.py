"""Fixtures and helpers shared by the whole suite: the course folder, throwaway course copies, artifacts,
a private MLflow store, the CLI run in-process, the built book's pages, pinned requirements, bounded bombs.

Test modules import helpers from here, never from one another.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from mlops_course.course.kernel import KERNEL_NAME, OFFLINE_ENV

if TYPE_CHECKING:  # tests/beside.py reads this module's ROOT, so it is imported where it is used
    from .beside import Beside

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
    parser.addoption("--beside", action="store_true",
                     help="run the self-contained files of tests/beside.py in a second pytest process beside this "
                          "one (`make test` does; ignored with --lab)")


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
    """With --lab, keep only the tests of the named labs and of their quizzes; the tests marked `alone` first."""
    items.sort(key=lambda item: item.get_closest_marker("alone") is None)  # stable: the order is kept otherwise
    labs = config.getoption("lab")
    if config.getoption("beside") and not labs and not config.option.collectonly:
        run_beside(config, items)
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


BESIDE: list[Beside] = []  # the second pytest process of `make test`, once its files are collected


def run_beside(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Take the files of tests/beside.py out of this run and start them in a second process with the background."""
    from .beside import Beside, runs_beside

    moved = [item for item in items if runs_beside(item.path)]
    if not moved:
        return
    items[:] = [item for item in items if item not in moved]
    options = [*(["-m", config.option.markexpr] if config.option.markexpr else []),
               *(["-k", config.option.keyword] if config.option.keyword else []),
               *(["-p", "suite_timing"] if config.pluginmanager.has_plugin("suite_timing") else [])]
    files = sorted({Path(str(item.path)).relative_to(ROOT).as_posix() for item in moved})
    BESIDE.append(Beside(files, options))
    BACKGROUND_STARTS.append(BESIDE[0].start)
    config.get_terminal_writer().line(f"{len(moved)} tests ({', '.join(Path(f).name for f in files)}) run in a second "
                                      f"process beside this one, after the `alone` tests; their report comes at the end")


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Wait for the tests beside; their failure fails the run."""
    if BESIDE:
        BESIDE[0].finish(start=not (session.shouldstop or session.shouldfail))
        if BESIDE[0].failed and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter) -> None:
    for line in BESIDE[0].report() if BESIDE else []:
        terminalreporter.write_line(line)


def pytest_unconfigure(config: pytest.Config) -> None:
    for beside in BESIDE:
        beside.stop()
        if beside.failed:
            config.get_terminal_writer().line(f"error: the tests beside failed (exit {beside.code}): their report is "
                                              f"above and in {beside.log}", red=True)


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
# How background work starts (registered at collection). The `alone` tests (class server, hostile batch: they
# judge fairness and time limits) run first. Nice work (the lab tests' proofs, tests/labs/conftest.py) starts
# with the first test, since it only takes CPU time the tests in front leave; work at normal priority (the
# second pytest process, tests/beside.py) starts with the first test that is not `alone`.
NICE_STARTS: list[Callable[[], object]] = []
BACKGROUND_STARTS: list[Callable[[], object]] = []


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    starting = NICE_STARTS[:]
    NICE_STARTS.clear()
    if item.get_closest_marker("alone") is None:
        starting += BACKGROUND_STARTS
        BACKGROUND_STARTS.clear()
    for start in starting:
        start()


def import_before_threads() -> None:
    """Import nbgrader and the course's runners in the main thread, before a background thread starts.

    Two threads importing nbgrader at once can deadlock on its modules' import locks (seen: a test
    importing nbgrader.apps while a background check imported nbgrader.preprocessors).
    """
    import nbgrader.apps  # noqa: F401
    import nbgrader.preprocessors  # noqa: F401

    import mlops_course.learner.selfcheck  # noqa: F401
    import mlops_course.proof.shared_prefix  # noqa: F401


# The environment the suite started in. A process a background thread starts gets this one, and the
# repository as its folder: meanwhile a foreground test may change os.environ or the working folder (one
# that is then deleted), and nbgrader's validator sets NBGRADER_EXECUTION while it runs in the suite's
# process, which a kernel started then inherits (its self-check cell then skips itself).
SESSION_ENV = dict(os.environ)
CHECK_A_LAB = ("import json, sys; from pathlib import Path; from mlops_course.course import background; "
               "from mlops_course.learner.selfcheck import check_notebook; "
               "background.die_with_parent(); sys.argv[2:] and background.yield_the_cpu(); "
               "print(json.dumps(check_notebook(Path(sys.argv[1]), quick=True).to_json()))")


class BlankChecks:
    """`mlops-course check` of each untouched released lab (it runs the lab), once per lab, each in a
    process of its own started with the suite's first environment.

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
            self.get(lab, raise_error=False, background=True)

    def get(self, lab: str, raise_error: bool = True, background: bool = False):
        """The lab's check; with `background`, run nice (mlops_course.course.background), as the proofs are."""
        from mlops_course.course.layout import release_notebook
        from mlops_course.learner.selfcheck import Report

        with self.locks.setdefault(lab, threading.Lock()):
            if lab not in self.results:
                done = subprocess.run([sys.executable, "-c", CHECK_A_LAB, str(release_notebook(ROOT, lab)),
                                       *(["background"] if background else [])], env=SESSION_ENV, cwd=ROOT,
                                      capture_output=True, text=True, check=False, start_new_session=background)
                try:
                    self.results[lab] = Report.from_json(json.loads(done.stdout.strip().splitlines()[-1]))
                except (IndexError, ValueError, KeyError):  # kept for the test that reads this lab, which raises it
                    self.results[lab] = AssertionError(f"`mlops-course check` of the blank {lab} failed:\n{done.stderr[-3000:]}")
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


# --- a private MLflow store --------------------------------------------------------------------------

MLFLOW_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_EXPERIMENT_ID")


@dataclass(frozen=True)
class MlflowStore:
    folder: Path
    uri: str


@pytest.fixture(scope="module")
def mlflow_store(tmp_path_factory):
    """A test module's own MLflow store: tracking and registry in a SQLite file in `folder`/artifacts/.

    No class server's URI from the environment reaches the module's code; afterwards MLflow's tracking
    URI, registry URI, active experiment and their environment variables are what they were (MLflow
    copies each into the environment for subprocesses, where a later test's would find them).
    """
    import mlflow
    from mlflow.tracking import fluent
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    from mlops_course import tracking

    before_env = {name: os.environ.get(name) for name in MLFLOW_ENV}
    before = (tracking_utils._tracking_uri, registry_utils._registry_uri, fluent._active_experiment_id)
    for name in MLFLOW_ENV:
        os.environ.pop(name, None)
    folder = tmp_path_factory.mktemp("mlflow-store")
    try:
        yield MlflowStore(folder, tracking.configure_tracking(folder))
    finally:
        mlflow.set_tracking_uri(before[0])
        registry_utils._registry_uri = before[1]  # set_registry_uri(None) would keep the one in use
        fluent._active_experiment_id = before[2]
        for name, value in before_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# --- the command line, run in this process -----------------------------------------------------------

def cli(course: Path, *args: str) -> subprocess.CompletedProcess:
    """`mlops-course --root COURSE ARGS...` run in this process (seconds faster than a new one): exit status and output."""
    from mlops_course.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(["--root", str(course), *args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def assert_one_line_failure(result: subprocess.CompletedProcess, *expected: str) -> None:
    """The command failed with exit status 1 and one `error: ` line holding every `expected` text, no traceback."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for text in expected:
        assert text in lines[0], (text, lines[0])


# --- the built book's pages --------------------------------------------------------------------------

class Links(HTMLParser):
    """Collects what a page loads (scripts, styles, images, frames) and the links it offers."""

    def __init__(self):
        super().__init__()
        self.loads: list[str] = []
        self.anchors: list[dict] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("script", "img", "iframe") and a.get("src"):
            self.loads.append(a["src"])
        if tag == "link" and a.get("href") and a.get("rel") in ("stylesheet", "preload", "icon", "modulepreload"):
            self.loads.append(a["href"])
        if tag == "a" and a.get("href"):
            self.anchors.append(a)


def parse(page: Path) -> Links:
    parser = Links()
    parser.feed(page.read_text())
    return parser


def pages(html: Path) -> list[Path]:
    """The built book's HTML pages, without the theme's and sources' files."""
    return sorted(p for p in html.rglob("*.html") if "_static" not in p.parts and "_sources" not in p.parts)


# --- pinned requirements -----------------------------------------------------------------------------

def requirement_name(requirement: str) -> str:
    """A requirement's package name, normalised (lower case, '-' for '_')."""
    return re.split(r"[=<>!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def pinned(requirements: list[str]) -> dict[str, str]:
    """{package: version} of requirements that must each be pinned with ==."""
    pins = {}
    for req in requirements:
        name, sep, version = req.partition("==")
        assert sep, f"'{req}' is not pinned with =="
        pins[requirement_name(name)] = version.strip()
    return pins


# --- bounded bombs, for the students' limits -----------------------------------------------------------

def fork_bomb(max_forks: int = 1000, seconds: float = 0.0, spin: bool = False, until: str | None = None) -> str:
    """A fork bomb, bounded on purpose: if a limit failed, the shared machine must still survive the test.

    It forks until fork fails (or `max_forks`), holds the children `seconds` (spinning on the CPU
    with `spin`, else asleep), or less once the file `until` exists, then ends them; it prints how
    many forks succeeded. A test that stops it with `until` as soon as it has measured pays no more
    spinning than it needs.
    """
    return f"""
import json, os, signal, time
deadline = time.monotonic() + {seconds}
children = []
for _ in range({max_forks}):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        while time.monotonic() < deadline + 60:
            if {spin}:
                sum(range(10000))
            else:
                time.sleep(1)
        os._exit(0)
    children.append(pid)
while time.monotonic() < deadline and not ({until!r} and os.path.exists({until!r})):
    time.sleep(0.2)
for pid in children:  # every kill first: waiting for each in turn, among hundreds of spinning children, takes a minute
    os.kill(pid, signal.SIGKILL)
for pid in children:
    os.waitpid(pid, 0)
print(json.dumps({{"forked": len(children)}}))
"""


def memory_bomb(max_mib: int = 2048) -> str:
    """Allocates (and touches) 50 MiB at a time up to `max_mib`, printing what it holds; a MemoryError is reported."""
    return f"""
import json
held = []
try:
    while len(held) * 50 < {max_mib}:
        held.append(b"x" * (50 * 1024**2))
        print(len(held) * 50, flush=True)
except MemoryError:
    print(json.dumps({{"memory_error_at_mib": len(held) * 50}}), flush=True)
"""
