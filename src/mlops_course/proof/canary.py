"""The dependency canary: does the course still run on the newest release of every direct dependency?

The course pins every package, which protects a term but says nothing about the
next upgrade. The canary installs the newest releases into a throwaway virtual
environment (ignoring constraints.txt, keeping only the upper bounds the course
holds on purpose, listed with their reasons in holds.toml), then runs there what
proves the course: every lab's solution in CI mode under papermill, every
solution and blank graded by real nbgrader (full marks, zero), the quizzes' keys
and the book build. `upgrade` then moves the pins to the versions a passing
canary proved, so that an upgrade is one command and one review.

Each proof runs as `python -m mlops_course.proof.canary STEP ...` with the canary
environment's interpreter, so the packages under test are the ones imported.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mlops_course.errors import CanaryError

HOLDS_FILE = "holds.toml"
PIN_FILES = ("pyproject.toml", "constraints.txt", "environment.yml", "binder/environment.yml")
STEPS = ("labs", "grading", "book")
MARKER = ".mlops-course-canary"
PROJECT = "mlops-course"  # the name in pyproject.toml
LAB_TIMEOUT = 300
STEP_TIMEOUT = 3600


@dataclass(frozen=True)
class Hold:
    """An upper bound the course keeps on purpose, and why."""

    package: str
    bound: str
    reason: str


@dataclass(frozen=True)
class Failure:
    """One thing that broke: which proof, which lab, which cell, and the first line of its error."""

    step: str
    lab: str
    cell: str
    error: str


@dataclass
class Report:
    """The canary's result: pinned and newest versions of each direct dependency, and every failure."""

    date: str
    pinned: dict[str, str]
    newest: dict[str, str]
    latest: dict[str, str]
    holds: list[Hold]
    failures: list[Failure]
    freeze: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=lambda: list(STEPS))

    @property
    def passed(self) -> bool:
        return not self.failures

    def note(self, package: str) -> str:
        hold = next((h for h in self.holds if h.package == package), None)
        if hold:
            return f"held {hold.bound}: {hold.reason}"
        latest, newest = self.latest.get(package, ""), self.newest.get(package, "")
        if latest and newest and latest != newest:
            return f"{latest} on the registry does not install with the others"
        return ""

    def rows(self) -> list[tuple[str, str, str, str]]:
        return [(p, v, self.newest.get(p, "not installed"), self.note(p)) for p, v in self.pinned.items()]

    def text(self) -> str:
        """The report for a terminal: the version table, then one line per failure."""
        width = max(len(p) for p in self.pinned) if self.pinned else 7
        lines = [f"Dependency canary, {self.date}: {self.verdict()}", ""]
        lines.append(f"{'package':<{width}}  {'pinned':<12} {'newest':<12} note")
        for package, pinned, newest, note in self.rows():
            mark = " " if pinned == newest else "*"
            lines.append(f"{package:<{width}}  {pinned:<12} {newest:<12}{mark}{note}")
        lines.append("(* newer than the pin)")
        for f in self.failures:
            lines.append(f"FAILED {f.step}: {f.lab}, {f.cell}: {f.error}")
        return "\n".join(lines)

    def markdown(self) -> str:
        """The same report as Markdown, for the README or an issue."""
        lines = [f"### Dependency canary, {self.date}", "", f"**{self.verdict()}** (proved: {', '.join(self.steps)})", "",
                 "| package | pinned | newest | note |", "|---|---|---|---|"]
        for package, pinned, newest, note in self.rows():
            newest = newest if newest == pinned else f"**{newest}**"
            lines.append(f"| {package} | {pinned} | {newest} | {_cell(note)} |")
        if self.failures:
            lines += ["", "| step | lab | cell | first line of the error |", "|---|---|---|---|"]
            lines += [f"| {f.step} | {f.lab} | {_cell(f.cell)} | {_cell(f.error)} |" for f in self.failures]
        return "\n".join(lines) + "\n"

    def verdict(self) -> str:
        return "passed" if self.passed else f"FAILED ({len(self.failures)} failure(s))"

    def save(self, folder: Path) -> tuple[Path, Path]:
        """Write report.md (to read) and report.json (what `upgrade` reads) into `folder`."""
        folder.mkdir(parents=True, exist_ok=True)
        md, data = folder / "report.md", folder / "report.json"
        md.write_text(self.markdown(), encoding="utf-8")
        data.write_text(json.dumps(asdict(self), indent=1), encoding="utf-8")
        return md, data

    @classmethod
    def load(cls, path: Path) -> Report:
        if not path.is_file():
            raise CanaryError(f"no canary report at {path}: run `make canary` first")
        data = json.loads(path.read_text(encoding="utf-8"))
        data["holds"] = [Hold(**h) for h in data["holds"]]
        data["failures"] = [Failure(**f) for f in data["failures"]]
        return cls(**data)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def load_holds(root: Path) -> list[Hold]:
    """The upper bounds in holds.toml: `[package]` tables with `bound` (a pip specifier) and `reason`."""
    path = Path(root) / HOLDS_FILE
    if not path.is_file():
        return []
    holds = []
    for package, entry in tomllib.loads(path.read_text(encoding="utf-8")).items():
        if not entry.get("bound") or not entry.get("reason"):
            raise CanaryError(f"{path}: [{package}] needs both `bound` (e.g. \"<2\") and `reason`")
        holds.append(Hold(normalize(package), entry["bound"], entry["reason"].strip()))
    return holds


def direct_pins(root: Path) -> dict[str, str]:
    """Every direct dependency of pyproject.toml (extras included) and its pinned version, in file order."""
    project = tomllib.loads((Path(root) / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = project.get("dependencies", []) + [
        r for group in project.get("optional-dependencies", {}).values() for r in group]
    pins = {}
    for requirement in requirements:
        name, sep, version = requirement.partition("==")
        if not sep:
            raise CanaryError(f"pyproject.toml: '{requirement}' is not pinned with ==; pin it, then run the canary")
        pins[normalize(name.split("[")[0].strip())] = version.strip()
    return pins


def wanted(pins: dict[str, str], holds: list[Hold]) -> list[str]:
    """What the canary asks pip for: each package unpinned, or below its held bound."""
    bounds = {h.package: h.bound for h in holds}
    return [f"{name}{bounds.get(name, '')}" for name in pins]


def environment(python: Path) -> dict[str, str]:
    """The canary environment's tools first on PATH, its kernel first among kernels, and no telemetry."""
    from mlops_course.course.kernel import OFFLINE_ENV

    prefix = Path(python).parent.parent
    env = {**os.environ, **OFFLINE_ENV}
    env["PATH"] = f"{Path(python).parent}{os.pathsep}{env.get('PATH', '')}"
    env["JUPYTER_PATH"] = str(prefix / "share" / "jupyter")
    env.pop("PYTHONPATH", None)
    env.pop("VIRTUAL_ENV", None)
    return env


def make_venv(folder: Path) -> Path:
    """A fresh canary folder with a virtual environment in `venv/` (an earlier canary's is replaced); its python."""
    folder = Path(folder)
    if folder.exists():
        if not (folder / MARKER).exists():
            raise CanaryError(f"{folder} exists and is not a canary's folder; give another path with --folder")
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / MARKER).write_text("made by `mlops-course canary`; deleted by the next canary\n")
    subprocess.run([sys.executable, "-m", "venv", str(folder / "venv")], check=True)
    return folder / "venv" / "bin" / "python"


def site_packages(python: Path) -> Path:
    out = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def install_newest(python: Path, root: Path, requirements: list[str], pip_options: Sequence[str] = ()) -> list[Failure]:
    """Install the newest releases (no constraints.txt) and make the course package from `root` importable."""
    env = environment(python)
    command = [str(python), "-m", "pip", "install", "--quiet", "--upgrade", *pip_options, *requirements]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        return [Failure("install", "-", "pip install", first_error_line(done.stderr or done.stdout))]
    # The course's own code from this folder, without its pins (a .pth file, as an editable install does).
    (site_packages(python) / "mlops_course_canary.pth").write_text(f"{Path(root).resolve() / 'src'}\n")
    return []


def installed_versions(python: Path) -> dict[str, str]:
    """Every distribution in the environment of `python`, normalized name -> version."""
    code = ("import importlib.metadata as m, json; "
            "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))")
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    return {normalize(k): v for k, v in json.loads(out.stdout).items()}


def freeze(python: Path) -> list[str]:
    out = subprocess.run([str(python), "-m", "pip", "freeze", "--exclude-editable"], capture_output=True, text=True,
                         check=True, env=environment(python))
    own = normalize(PROJECT)  # installed from its folder, not the registry: constraints pin what the course installs
    return [line for line in out.stdout.splitlines()  # pip's order, as `make constraints` writes
            if "==" in line and normalize(line.split("==")[0]) != own]


def latest_versions(python: Path, packages: list[str], pip_options: Sequence[str] = ()) -> dict[str, str]:
    """The newest release of each package on the registry (or the given --find-links), installable or not."""
    found = {}
    for package in packages:
        out = subprocess.run([str(python), "-m", "pip", "index", "versions", package, *pip_options],
                             capture_output=True, text=True, env=environment(python), check=False)
        match = re.match(r"\S+ \(([^)]+)\)", out.stdout.strip())
        if match:
            found[package] = match.group(1)
    return found


# pip on machines with a local wheel folder in its configuration warns about it on every run.
NOISE = re.compile(r"Location '.*' is ignored")


def first_error_line(text: str) -> str:
    """The first line that names an error (an ERROR, then a WARNING, then an exception), else the last line."""
    lines = [line.strip() for line in text.splitlines() if line.strip() and not NOISE.search(line)]
    for pattern in (r"\bERROR\b", r"\bWARNING\b", r"\w*(Error|Exception)\b"):
        for line in lines:
            if re.search(pattern, line):
                return line[:300]
    return lines[-1][:300] if lines else "no output"


# --- What proves the course (each step runs inside the canary environment) ---------------------------------

def prove(python: Path, root: Path, work: Path, steps: Sequence[str] = STEPS) -> list[Failure]:
    """Run what proves the course with the interpreter `python`; every failure, with its lab and cell.

    `work` receives copies of the labs, the graded class and the book; the course folder is not written.
    """
    from mlops_course.course.layout import lab_names
    from mlops_course.quiz.model import is_quiz

    # The labs name the course kernel: install it into this environment, so that its python runs them.
    done = subprocess.run([str(python), "-m", "mlops_course", "install-kernel"], capture_output=True, text=True,
                          env=environment(python), check=False)
    if done.returncode != 0:
        return [Failure("install", "-", "install-kernel", first_error_line(done.stderr))]
    failures: list[Failure] = []
    labs = lab_names(root)
    for step in steps:
        targets = {"labs": [lab for lab in labs if not is_quiz(lab)], "grading": labs, "book": ["book"]}[step]
        for target in targets:
            print(f"canary: {step} {target}", flush=True)
            failures += _run_step(python, step, root, target, Path(work))
    return failures


def _run_step(python: Path, step: str, root: Path, target: str, work: Path) -> list[Failure]:
    out = work / "results" / f"{step}-{target}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [str(python), "-m", "mlops_course.proof.canary", step, str(Path(root).resolve()), target, str(work), str(out)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=environment(python),
                              timeout=STEP_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        return [Failure(step, target, "-", f"did not finish in {STEP_TIMEOUT} s")]
    (work / "results" / f"{step}-{target}.log").write_text(done.stdout + done.stderr)
    if not out.exists():
        return [Failure(step, target, "-", first_error_line(done.stderr or done.stdout))]
    return [Failure(**f) for f in json.loads(out.read_text())]


def cell_name(cell, source) -> str:
    """How the report names a cell: its number in the source notebook (from 1) and its nbgrader id or first line.

    Numbers count the notebook as the author wrote it, without the cells papermill adds.
    """
    index = next((i + 1 for i, c in enumerate(source.cells) if c.get("id") == cell.get("id")), "?")
    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    if grade_id:
        return f"cell {index} ({grade_id})"
    first = next((line for line in cell.get("source", "").splitlines() if line.strip()), "")
    return f"cell {index} ({first[:50]})"


def run_lab(root: Path, lab: str, work: Path) -> list[Failure]:
    """The lab's solution under papermill with the CI parameters, as the lab tests run it."""
    import papermill as pm

    from mlops_course.course import notebooks
    from mlops_course.course.kernel import KERNEL_NAME

    folder = work / "labs" / lab
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(root / "solutions" / lab, folder, ignore=shutil.ignore_patterns("artifacts", "mlflow.db"))
    out = work / "labs" / f"{lab}.executed.ipynb"
    try:
        pm.execute_notebook(str(folder / f"{lab}.ipynb"), str(out), parameters=notebooks.CI_PARAMETERS,
                            kernel_name=KERNEL_NAME, cwd=str(folder), execution_timeout=LAB_TIMEOUT,
                            progress_bar=False)
    except pm.PapermillExecutionError as exc:
        failed = next((c for c in notebooks.read(out).cells if _errors(c)), {})
        line = (exc.evalue or "").strip().splitlines()
        where = cell_name(failed, notebooks.read(folder / f"{lab}.ipynb")) if failed else f"cell {exc.exec_count}"
        return [Failure("lab run", lab, where, f"{exc.ename}: {line[0] if line else ''}")]
    except Exception as exc:  # noqa: BLE001 (a kernel that died or timed out: still a failure of this lab, named)
        return [Failure("lab run", lab, "-", f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}")]
    return []


def _errors(cell) -> list[str]:
    """The first line of each error a cell printed (nbgrader also fails a test cell for stderr output)."""
    found = []
    for output in cell.get("outputs", []):
        if output.output_type == "error":
            lines = (output.evalue or "").strip().splitlines()
            found.append(f"{output.ename}: {lines[0] if lines else ''}")
    return found


def grade_lab(root: Path, lab: str, work: Path) -> list[Failure]:
    """Grade the solution and the blank lab with the course's autograder: full marks and zero, or failures."""
    from mlops_course.course import notebooks
    from mlops_course.course.config import GRADING_DIR
    from mlops_course.course.layout import release_notebook, source_notebook
    from mlops_course.grading import nbgrader_runs as grading
    from mlops_course.grading.autograde import autograde
    from mlops_course.quiz.model import is_quiz

    course = work / "grading" / lab
    if course.exists():
        shutil.rmtree(course)
    course.mkdir(parents=True)
    shutil.copy(root / "nbgrader_config.py", course / "nbgrader_config.py")
    shutil.copytree(root / "solutions" / lab, course / "solutions" / lab,
                    ignore=shutil.ignore_patterns("artifacts", ".ipynb_checkpoints", "__pycache__", "mlflow.db"))
    grading.generate_assignment(course, lab)
    prepare = (lambda nb: nb) if is_quiz(lab) else (lambda nb: notebooks.with_parameters(nb, notebooks.CI_PARAMETERS))
    submissions = {"solution": source_notebook(course, lab), "blank": release_notebook(course, lab)}
    for student, path in submissions.items():
        grading.submit(course, lab, student, {lab: prepare(notebooks.read(path))})
    step = "quiz key" if is_quiz(lab) else "grading"
    failures, graded = [], set()
    for result in autograde(course, lab, jobs=2, progress=False):
        if result.status == "not graded":
            failures.append(Failure(step, lab, result.student, "not graded: " + "; ".join(result.reasons)[:300]))
        else:
            graded.add(result.student)
    if "solution" in graded:
        nb = notebooks.read(course / GRADING_DIR / "autograded" / "solution" / lab / f"{lab}.ipynb")
        source = notebooks.read(source_notebook(course, lab))
        lost = [notebooks.find_cell(nb, grade_id) for grade_id, score in grading.cell_scores(course, lab, "solution").items()
                if score.autograded and score.score < score.max_score]
        # The first cell that failed may be an ungraded one (loading data, say): the test cells after it then
        # fail with NameErrors, and only the first error says what broke.
        first = next((cell for cell in nb.cells if _errors(cell)), None)
        if lost and first is not None and first not in lost:
            failures.append(Failure(step, lab, f"solution: {cell_name(first, source)}, the first error", _errors(first)[0]))
        for cell in lost:
            errors = _errors(cell) or ["lost points without an error output"]
            failures.append(Failure(step, lab, f"solution: {cell_name(cell, source)}", errors[0]))
    if "blank" in graded:
        earned = [k for k, v in grading.cell_scores(course, lab, "blank").items() if v.score > 0]
        if earned:
            failures.append(Failure(step, lab, f"blank: {', '.join(earned)}", "the untouched lab earned points"))
    return failures


def build_book_copy(root: Path, target: str, work: Path) -> list[Failure]:
    """Build a copy of the book (and the labs it links to) with warnings as errors."""
    from mlops_course.book.build import build_book
    from mlops_course.errors import BookBuildError

    copy = work / "book-build"
    if copy.exists():
        shutil.rmtree(copy)
    copy.mkdir(parents=True)
    for folder in ("book", "labs"):
        if (root / folder).is_dir():
            shutil.copytree(root / folder, copy / folder, ignore=shutil.ignore_patterns("_build"))
    log = work / "book-build.log"
    try:
        with _output_to(log):
            build_book(copy, strict=True)
    except BookBuildError:
        output = log.read_text(errors="replace")
        where = re.search(r"(book/\S+?):(\d+)?:? ?(ERROR|WARNING)", output)
        page = where.group(1) + (f", line {where.group(2)}" if where and where.group(2) else "") if where else "-"
        return [Failure("book", "book", page, first_error_line(output))]
    return []


@contextlib.contextmanager
def _output_to(path: Path):
    """Send this process's stdout and stderr, and its children's, to `path` (Sphinx's output names each problem)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "w") as out:
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


INSIDE = {"labs": run_lab, "grading": grade_lab, "book": build_book_copy}


def _inside(argv: Sequence[str]) -> None:
    """`python -m mlops_course.proof.canary STEP ROOT TARGET WORK OUT`: one proof, its failures written to OUT as JSON."""
    step, root, target, work, out = argv
    failures = INSIDE[step](Path(root), target, Path(work))
    Path(out).write_text(json.dumps([asdict(f) for f in failures]))


# --- The canary and the upgrade ------------------------------------------------------------------------------

def canary(root: Path, folder: Path, pip_options: Sequence[str] = (), steps: Sequence[str] = STEPS,
           create: bool = True) -> Report:
    """Install the newest releases into `folder`/venv (made afresh unless `create` is False) and prove the course.

    The proofs work in `folder`/work, beside the environment and not inside it: the grading sandbox shows the
    kernel its environment read-only, with the real folders' permissions, which a working copy inside it would inherit.
    """
    root, folder = Path(root).resolve(), Path(folder)
    pins, holds = direct_pins(root), load_holds(root)
    python = make_venv(folder) if create else folder / "venv" / "bin" / "python"
    if create:
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip>=24", *pip_options],
                       check=True, env=environment(python))
    failures = install_newest(python, root, wanted(pins, holds), pip_options)
    versions = installed_versions(python)
    report = Report(
        date=dt.date.today().isoformat(), pinned=pins,
        newest={p: versions[p] for p in pins if p in versions},
        latest=latest_versions(python, list(pins), pip_options), holds=holds, failures=failures,
        freeze=freeze(python), steps=list(steps))
    if not failures:
        report.failures = prove(python, root, folder / "work", steps)
    return report


def upgrade(root: Path, report: Report) -> dict[str, tuple[str, str]]:
    """Move the pins to the versions a passing canary proved; returns package -> (old, new) for what moved."""
    if not report.passed:
        raise CanaryError("the last canary failed: fix the labs or hold the package back in holds.toml, "
                          "then run `make canary` again before `make upgrade`")
    if set(report.steps) != set(STEPS):
        raise CanaryError(f"the last canary proved only {', '.join(report.steps)}; run the full `make canary`")
    root = Path(root)
    pins = direct_pins(root)
    if pins != report.pinned:
        raise CanaryError("pyproject.toml changed since the canary ran; run `make canary` again")
    moved = {p: (old, report.newest[p]) for p, old in pins.items() if report.newest.get(p, old) != old}
    for name in ("pyproject.toml", "environment.yml", "binder/environment.yml"):
        path = root / name
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        for package, (old, new) in moved.items():
            pattern = re.compile(rf"(?im)(^\s*(?:-\s*|\"){_loose(package)}(?:\[[^\]]*\])?==){re.escape(old)}\b")
            text, count = pattern.subn(rf"\g<1>{new}", text)
            if count != 1:
                raise CanaryError(f"{name}: found {count} pins of {package}=={old}, expected one; edit it by hand")
        path.write_text(text, encoding="utf-8")
    path = root / "constraints.txt"
    header = [line for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("#")] if path.exists() else []
    path.write_text("\n".join(header + report.freeze) + "\n", encoding="utf-8")
    return moved


def _loose(package: str) -> str:
    """A pattern matching the package's name however it is spelled (jupyter-book, jupyter_book)."""
    return "[-_.]".join(re.escape(part) for part in package.split("-"))


if __name__ == "__main__":
    _inside(sys.argv[1:])
