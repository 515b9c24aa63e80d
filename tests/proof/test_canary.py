"""Does the dependency canary find and name a break, honour the holds, and move the pins only when it passed?

The canary is tried on a toy course whose one lab depends on `delaystats`, a
small package built here in two versions: 1.0 (the pin) returns a mean delay
in minutes, 2.0 (the "newest release", served from a local folder with
--no-index) returns hours, which breaks the lab's test cell. The canary's
environment is a child of the course's own (it sees the course's packages and
installs only `delaystats`), so the test needs no registry and little time.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest

from mlops_course.proof import canary
from mlops_course.course import notebooks
from mlops_course.proof.canary import CanaryError, Failure, Hold, Report

from .. import nbfactory
from ..conftest import ROOT, pinned

LAB = "lab01-toy"

DELAYSTATS = {
    "1.0": 'def mean_delay(minutes):\n    """The mean delay, in minutes."""\n    return sum(minutes) / len(minutes)\n',
    "2.0": 'def mean_delay(minutes):\n    """The mean delay, now in hours."""\n    return sum(minutes) / len(minutes) / 60\n',
}


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> Path:
    """A folder with delaystats 1.0 and 2.0 wheels, built here without the network."""
    tmp = tmp_path_factory.mktemp("delaystats")
    out = tmp / "wheels"
    for version, code in DELAYSTATS.items():
        src = tmp / f"src-{version}"
        (src / "delaystats").mkdir(parents=True)
        (src / "delaystats" / "__init__.py").write_text(code)
        (src / "pyproject.toml").write_text(
            '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
            f'[project]\nname = "delaystats"\nversion = "{version}"\n')
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                        "--no-index", "-w", str(out), str(src)], check=True)
    assert len(list(out.glob("delaystats-*.whl"))) == 2
    return out


def toy_lab() -> nbformat.NotebookNode:
    """A lab whose solution relies on delaystats returning minutes."""
    parameters = nbformat.v4.new_code_cell("QUICK = False")
    parameters.metadata["tags"] = ["parameters"]
    return nbfactory.notebook(
        nbformat.v4.new_markdown_cell("# Lab 01 — Toy: mean delays"),
        parameters,
        nbformat.v4.new_code_cell("import delaystats"),
        nbfactory.answer("### BEGIN SOLUTION\nmean = delaystats.mean_delay([10, 20])\n### END SOLUTION", "mean"),
        nbfactory.graded_test('assert mean == 15, f"the mean delay of 10 and 20 minutes is 15 minutes, not {mean}"',
                              "test_mean", 1),
        # Labs write artifacts in their folder: the sandboxed grader's kernel must be able to.
        nbformat.v4.new_code_cell("from pathlib import Path\nPath('artifacts').mkdir(exist_ok=True)\n"
                                  "Path('artifacts/mean.txt').write_text(str(mean))"),
    )


def toy_course(folder: Path, holds: str = "") -> Path:
    folder.mkdir(parents=True)
    (folder / "pyproject.toml").write_text('[project]\nname = "toy"\nversion = "0"\ndependencies = ["delaystats==1.0"]\n')
    shutil.copy(ROOT / "nbgrader_config.py", folder / "nbgrader_config.py")
    notebooks.write(toy_lab(), folder / "solutions" / LAB / f"{LAB}.ipynb")
    if holds:
        (folder / "holds.toml").write_text(holds)
    return folder


def child_venv(folder: Path) -> Path:
    """A venv that sees the course's packages (nbgrader, papermill, this package) and installs only what it is given."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    own = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              capture_output=True, text=True, check=True).stdout.strip())
    parent = sysconfig.get_paths()["purelib"]
    (own / "zz-course-environment.pth").write_text(f"import site; site.addsitedir({parent!r})\n")
    return python


def install(python: Path, wheels: Path, requirement: str) -> None:
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-index", "--find-links", str(wheels),
                    requirement], check=True)


@pytest.mark.slow
def test_canary_names_the_lab_and_cell_a_newer_release_breaks(tmp_path, wheels):
    """Does the toy lab pass on the pinned delaystats, and does the canary with 2.0 fail naming the lab and cell?"""
    course = toy_course(tmp_path / "course")
    python = child_venv(tmp_path / "canary" / "venv")
    install(python, wheels, "delaystats==1.0")
    assert canary.prove(python, course, tmp_path / "pinned", steps=("labs", "grading")) == []

    report = canary.canary(course, tmp_path / "canary", ["--no-index", "--find-links", str(wheels)],
                           steps=("labs", "grading"), create=False)
    assert (report.pinned, report.newest, report.latest) == ({"delaystats": "1.0"}, {"delaystats": "2.0"},
                                                             {"delaystats": "2.0"})
    assert not report.passed
    run = [f for f in report.failures if f.step == "lab run"]
    assert run == [Failure("lab run", LAB, "cell 5 (test_mean)",
                           "AssertionError: the mean delay of 10 and 20 minutes is 15 minutes, not 0.25")]
    graded = [f for f in report.failures if f.step == "grading"]
    assert graded == [Failure("grading", LAB, "solution: cell 5 (test_mean)",
                              "AssertionError: the mean delay of 10 and 20 minutes is 15 minutes, not 0.25")]
    text = report.text()
    assert "FAILED (2 failure(s))" in text and f"FAILED lab run: {LAB}, cell 5 (test_mean): AssertionError" in text
    assert "| delaystats | 1.0 | **2.0** |" in report.markdown()


@pytest.mark.slow
def test_a_held_package_stays_below_its_bound_and_the_report_gives_the_reason(tmp_path, wheels):
    """Does a hold in holds.toml keep the canary on delaystats 1.x, so it passes, and print the reason?"""
    holds = '[delaystats]\nbound = "<2"\nreason = "2.0 returns hours; Lab 01 expects minutes"\n'
    course = toy_course(tmp_path / "course", holds)
    child_venv(tmp_path / "canary" / "venv")
    report = canary.canary(course, tmp_path / "canary", ["--no-index", "--find-links", str(wheels)], steps=("labs",),
                           create=False)
    assert report.newest == {"delaystats": "1.0"} and report.latest == {"delaystats": "2.0"}
    assert report.passed, report.text()
    assert "held <2: 2.0 returns hours; Lab 01 expects minutes" in report.text()


def test_canary_asks_for_every_direct_dependency_unpinned_except_the_holds():
    """Does the canary ask pip for each direct dependency with no version, or below its held bound?"""
    holds = canary.load_holds(ROOT)
    asked = canary.wanted(canary.direct_pins(ROOT), holds)
    assert "jupyter-book<2" in asked and "mlflow" in asked and "pytest" in asked
    assert not [a for a in asked if "==" in a]
    assert all(h.reason for h in holds)


def test_a_hold_without_a_reason_is_refused(tmp_path):
    """Is a hold that gives no reason an error naming the fix?"""
    (tmp_path / "holds.toml").write_text('[pandas]\nbound = "<4"\n')
    with pytest.raises(CanaryError, match="needs both `bound`"):
        canary.load_holds(tmp_path)


def _copy_pin_files(dest: Path) -> Path:
    for name in canary.PIN_FILES:
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, dest / name)
    return dest


def _report(passed: bool, steps=canary.STEPS) -> Report:
    pins = canary.direct_pins(ROOT)
    newest = {**pins, "mlflow": "3.99.0", "jupyter-book": "1.0.5"}
    freeze = [f"{p}=={v}" for p, v in newest.items()] + ["mlflow-skinny==3.99.0"]
    failures = [] if passed else [Failure("lab run", "lab03-modeling", "cell 7 (train)", "TypeError: boom")]
    return Report("2026-12-06", pins, newest, newest, [Hold("jupyter-book", "<2", "offline")], failures, freeze, list(steps))


def test_upgrade_moves_every_pin_file_to_what_a_passing_canary_proved(tmp_path):
    """After a passing canary, do pyproject.toml, constraints.txt and environment.yml pin its versions, in agreement?"""
    course = _copy_pin_files(tmp_path)
    moved = canary.upgrade(course, _report(passed=True))
    assert moved == {"mlflow": ("3.17.2", "3.99.0"), "jupyter-book": ("1.0.4.post1", "1.0.5")}
    pins = canary.direct_pins(course)
    assert pins["mlflow"] == "3.99.0" and pins["jupyter-book"] == "1.0.5"
    for name in ("environment.yml", "binder/environment.yml"):
        env = (course / name).read_text()
        assert "- mlflow==3.99.0" in env and "- jupyter-book==1.0.5" in env and "mlflow==3.17.2" not in env, name
    constraints = [line for line in (course / "constraints.txt").read_text().splitlines() if line and not line.startswith("#")]
    assert pinned(constraints)["mlflow-skinny"] == "3.99.0"
    assert all(pinned(constraints)[p] == v for p, v in pins.items())
    comments = [line for line in (ROOT / "pyproject.toml").read_text().splitlines() if line.strip().startswith("#")]
    assert comments == [line for line in (course / "pyproject.toml").read_text().splitlines() if line.strip().startswith("#")]


def test_the_canary_environments_freeze_leaves_out_the_course_itself(monkeypatch):
    """Is the course's own package, installed in the canary's environment from its folder, kept out of constraints.txt?"""
    frozen = "mlops-course==0.1.0\nPyYAML==6.0.4\n-e git+https://example.invalid/x.git#egg=y\n"
    monkeypatch.setattr(canary.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0, stdout=frozen))
    assert canary.freeze(Path(sys.executable)) == ["PyYAML==6.0.4"]


@pytest.mark.parametrize("report, message", [
    (_report(passed=False), "the last canary failed"),
    (_report(passed=True, steps=("labs",)), "proved only labs"),
])
def test_upgrade_refuses_what_no_full_passing_canary_proved(tmp_path, report, message):
    """Does upgrade leave every pin file untouched after a failed or partial canary?"""
    course = _copy_pin_files(tmp_path)
    before = {name: (course / name).read_text() for name in canary.PIN_FILES}
    with pytest.raises(CanaryError, match=message):
        canary.upgrade(course, report)
    assert before == {name: (course / name).read_text() for name in canary.PIN_FILES}


def test_report_round_trips_through_its_json(tmp_path):
    """Does upgrade read back exactly the report the canary saved?"""
    report = _report(passed=False)
    markdown, data = report.save(tmp_path)
    assert Report.load(data) == report
    assert "| lab run | lab03-modeling | cell 7 (train) | TypeError: boom |" in markdown.read_text()
    assert json.loads(data.read_text())["failures"][0]["cell"] == "cell 7 (train)"


@pytest.mark.slow
def test_a_book_that_no_longer_builds_is_reported_with_its_page_and_warning(tmp_path):
    """Does the canary's book step pass on a clean toy book and name the page and warning of a broken one?"""
    course = tmp_path / "course"
    (course / "book").mkdir(parents=True)
    (course / "book" / "_config.yml").write_text('title: Toy\nexecute:\n  execute_notebooks: "off"\n')
    (course / "book" / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: lesson\n")
    (course / "book" / "lesson.md").write_text("# Lesson\n\nA lesson.\n")
    (course / "book" / "intro.md").write_text("# Toy\n\nRead {doc}`lesson` first.\n")
    assert canary.build_book_copy(course, "book", tmp_path / "clean") == []

    (course / "book" / "intro.md").write_text("# Toy\n\nRead {doc}`lesson-that-moved` first.\n")
    [failure] = canary.build_book_copy(course, "book", tmp_path / "broken")
    assert (failure.step, failure.lab, failure.cell) == ("book", "book", "book/intro.md, line 3")
    assert "WARNING" in failure.error and "lesson-that-moved" in failure.error, failure.error


def test_report_says_when_the_registrys_newest_release_does_not_install_with_the_others():
    """Does the report tell a newer release on the registry that pip could not install from a held one?"""
    report = _report(passed=True)
    report.latest = {**report.newest, "mlflow": "3.100.0", "jupyter-book": "2.1.0"}
    notes = {package: note for package, _, _, note in report.rows()}
    assert notes["mlflow"] == "3.100.0 on the registry does not install with the others"
    assert notes["jupyter-book"] == "held <2: offline"
    assert notes["pandas"] == ""
    assert "mlflow                 3.17.2       3.99.0      *3.100.0 on the registry" in report.text()
