"""Does the course book build offline, without warnings, with every lab linked from a lesson?"""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pytest

from mlops_course.book import build_book
from mlops_course.book_lab_links import launch_url
from mlops_course.errors import BookBuildError
from mlops_course.layout import lab_names

from .conftest import ROOT


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


@pytest.fixture(scope="session")
def built_book() -> Path:
    return build_book(ROOT, strict=True)


def pages(html: Path) -> list[Path]:
    return sorted(p for p in html.rglob("*.html") if "_static" not in p.parts and "_sources" not in p.parts)


@pytest.mark.slow
def test_book_builds_with_warnings_as_errors(built_book):
    """Does `make book` produce the landing page and every chapter?"""
    assert (built_book / "intro.html").is_file()
    for chapter in (ROOT / "book" / "chapters").glob("*.md"):
        assert (built_book / "chapters" / f"{chapter.stem}.html").is_file(), chapter.name


@pytest.mark.slow
def test_book_loads_nothing_from_the_internet(built_book):
    """Do the built pages load every script, style and image from the book itself?"""
    remote = {}
    for page in pages(built_book):
        external = [u for u in parse(page).loads if re.match(r"^(https?:)?//", u)]
        if external:
            remote[str(page.relative_to(built_book))] = external
    assert not remote, f"pages load from the internet: {remote}"
    assert (built_book / "_static" / "mathjax" / "tex-mml-chtml.js").is_file(), "MathJax is not shipped with the book"


@pytest.mark.slow
def test_every_lab_is_linked_from_a_lesson(built_book):
    """Does some chapter open each lab, and does its download link lead to the notebook?"""
    linked = {}
    for page in pages(built_book / "chapters"):
        for a in parse(page).anchors:
            classes = a.get("class", "")
            if "lab-link" in classes:
                linked.setdefault(page, []).append(a["href"])
            if "lab-download" in classes:
                target = (page.parent / a["href"]).resolve()
                assert target.is_file(), f"{page.name} links to a missing notebook {a['href']}"
    hrefs = " ".join(h for hs in linked.values() for h in hs)
    missing = [lab for lab in lab_names(ROOT) if lab.startswith("lab") and f"/{lab}/{lab}.ipynb" not in hrefs]
    assert not missing, f"no lesson links to {missing}: add {{lab}}`<name>` to its chapter's Exercises section"


@pytest.mark.slow
def test_a_link_to_a_lab_that_does_not_exist_fails_the_build(tmp_path):
    """Does a strict build refuse a chapter that links to a missing lab, naming it?"""
    shutil.copytree(ROOT / "book", tmp_path / "book", ignore=shutil.ignore_patterns("_build"))
    shutil.copytree(ROOT / "labs", tmp_path / "labs")
    chapter = tmp_path / "book" / "chapters" / "01-scoping.md"
    chapter.write_text(chapter.read_text() + "\n\n{lab}`lab99-missing`\n")
    with pytest.raises(BookBuildError):
        build_book(tmp_path, strict=True)


def test_bibliography_parses_with_unique_keys():
    """Does references.bib parse, with every key once (a broken entry fails the whole book)?"""
    import re

    from pybtex.database import parse_file

    text = (ROOT / "book" / "references.bib").read_text()
    keys = re.findall(r"^@\w+\{([^,]+),", text, flags=re.M)
    assert len(keys) == len(set(keys)), f"duplicate keys: {sorted(k for k in keys if keys.count(k) > 1)}"
    assert sorted(parse_file(str(ROOT / "book" / "references.bib")).entries) == sorted(keys)


def _config(**values):
    defaults = dict(course_lab_launch="local", course_local_url="http://localhost:8888", course_jupyterhub_url="",
                    course_binder_url="", course_repository="", course_branch="main")
    return SimpleNamespace(**{**defaults, **values})


def test_lab_links_open_local_jupyterlab_by_default():
    """Does a lab link open the notebook in the JupyterLab that `make lab` starts?"""
    assert launch_url(_config(), "lab01-scoping") == "http://localhost:8888/lab/tree/lab01-scoping/lab01-scoping.ipynb"


def test_lab_links_can_open_a_jupyterhub_or_binder():
    """Do the jupyterhub and binder settings produce the URLs those services expect?"""
    hub = launch_url(_config(course_lab_launch="jupyterhub", course_jupyterhub_url="https://hub.school.test/"), "lab01-scoping")
    assert hub == "https://hub.school.test/hub/user-redirect/lab/tree/lab01-scoping/lab01-scoping.ipynb"
    binder = launch_url(
        _config(course_lab_launch="binder", course_binder_url="https://binder.school.test", course_repository="org/course"),
        "lab01-scoping",
    )
    assert binder == "https://binder.school.test/v2/gh/org/course/main?urlpath=lab%2Ftree%2Flabs%2Flab01-scoping%2Flab01-scoping.ipynb"
