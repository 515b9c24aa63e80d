"""Do the book's lab links open the labs in each of the three documented places: local JupyterLab, JupyterHub, Binder?

The local mode is exercised end to end in a real browser (test_browser.py);
here the book is built for a class JupyterHub and for Binder, and Binder's
configuration is checked against the course environment.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from mlops_course.book.build import build_book
from mlops_course.book.lab_links import launch_url
from mlops_course.errors import BookBuildError
from mlops_course.course.layout import lab_names
from mlops_course.quiz.model import is_quiz

from ..conftest import ROOT, pages, parse, pinned

# The labs the chapters link to; a lesson quiz is taken in the book and handed out as an nbgrader assignment.
LABS = [lab for lab in lab_names(ROOT, "labs") if not is_quiz(lab)]


def test_binder_installs_the_same_packages_as_the_course_environment():
    """Does binder/environment.yml pin exactly environment.yml's packages, minus the course itself (postBuild installs it)?"""
    def pip_section(path: Path) -> list[str]:
        env = yaml.safe_load(path.read_text())
        return next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d), env

    course, course_env = pip_section(ROOT / "environment.yml")
    binder, binder_env = pip_section(ROOT / "binder" / "environment.yml")
    assert pinned(binder) == pinned([r for r in course if not r.startswith("-")])
    assert not any(r.startswith("-e") for r in binder), "repo2docker installs this before the repository is there"
    assert [d for d in binder_env["dependencies"] if isinstance(d, str)] == \
        [d for d in course_env["dependencies"] if isinstance(d, str)]


def test_binder_post_build_installs_the_course_and_its_kernel():
    """Does binder/postBuild (an executable script) install the package and the labs' kernel?"""
    script = ROOT / "binder" / "postBuild"
    assert os.access(script, os.X_OK), "repo2docker only runs an executable postBuild"
    text = script.read_text()
    assert text.startswith("#!/bin/bash") and "set -euo pipefail" in text
    assert "pip install --no-deps -e ." in text and "mlops-course install-kernel" in text


def book_with(tmp_path: Path, **config: str) -> Path:
    """A copy of the book and labs whose _config.yml sets the given `sphinx.config` values."""
    shutil.copytree(ROOT / "book", tmp_path / "book", ignore=shutil.ignore_patterns("_build"))
    shutil.copytree(ROOT / "labs", tmp_path / "labs", ignore=shutil.ignore_patterns("artifacts"))
    path = tmp_path / "book" / "_config.yml"
    text = path.read_text()
    for key, value in config.items():
        text, count = re.subn(rf"^(\s+){key}:.*$", rf'\g<1>{key}: "{value}"', text, flags=re.M)
        assert count == 1, f"_config.yml should set {key} once"
    path.write_text(text)
    return tmp_path


def open_links(html: Path) -> set[str]:
    return {a["href"] for page in pages(html) for a in parse(page).anchors if "lab-link" in a.get("class", "")}


MODES = {
    "jupyterhub": dict(course_lab_launch="jupyterhub", course_jupyterhub_url="https://hub.school.test"),
    "binder": dict(course_lab_launch="binder", course_binder_url="https://binder.school.test",
                   course_repository="school/mlops-course", course_branch="main"),
}


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_a_book_built_for_jupyterhub_or_binder_links_every_lab_there(mode, tmp_path):
    """Built for a JupyterHub or Binder, does every lab link (chapters and schedule) lead there?"""
    settings = MODES[mode]
    html = build_book(book_with(tmp_path, **settings), strict=True)
    expected = {launch_url(SimpleNamespace(**{"course_local_url": "", "course_jupyterhub_url": "",
                                               "course_binder_url": "", "course_repository": "",
                                               "course_branch": "main", **settings}), lab) for lab in LABS}
    assert open_links(html) == expected
    schedule = (html / "study-group" / "schedule.html").read_text()
    assert all(url.replace("&", "&amp;") in schedule for url in expected), "the schedule's lab links differ"


@pytest.mark.slow
@pytest.mark.parametrize("strict", [True, False])
def test_a_binder_book_without_a_repository_fails_to_build(tmp_path, capfd, strict):
    """Does a Binder launch with no repository named stop the build, warnings allowed or not, naming the setting?"""
    with pytest.raises(BookBuildError):
        build_book(book_with(tmp_path, course_lab_launch="binder", course_binder_url="https://binder.school.test"),
                   strict=strict)
    shown = "".join(capfd.readouterr())
    assert "course_binder_url or course_repository is empty" in shown, shown[-2000:]
    assert not (tmp_path / "book" / "_build" / "html" / "index.html").exists(), "no page should be written"
