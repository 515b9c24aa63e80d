"""Does the course book build offline, without warnings, with every lab linked from a lesson?"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from mlops_course.book.build import build_book
from mlops_course.book.lab_links import launch_url
from mlops_course.errors import BookBuildError
from mlops_course.course.layout import lab_names

from ..conftest import ROOT, pages, parse


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


# --- what the prose says about the labs -------------------------------------------------------------

LAB_MENTION = re.compile(r"\bLabs?\s+(\d{2})(?:\s*(?:–|-|to|and)\s*(\d{2}))?(\s*\(coming[^)]*\))?")
LAB_FOLDER = re.compile(r"\blab(\d{2})-[a-z]")


def lab_mention_problems(book: Path, labs: list[str]) -> list[str]:
    """Every place in the book's pages (Markdown and quiz or schedule YAML) that names a lab number that
    does not exist, or marks an existing lab "(coming)"; "Labs 02 to 05" names every lab in the range."""
    existing = {int(lab[3:5]) for lab in labs if lab.startswith("lab")}
    problems = []
    for page in sorted(p for p in book.rglob("*") if p.suffix in (".md", ".yml") and "_build" not in p.parts):
        where = page.relative_to(book)
        text = page.read_text()
        for match in LAB_MENTION.finditer(text):
            first, last = int(match[1]), int(match[2] or match[1])
            named = set(range(first, last + 1)) if first <= last else {first, last}
            problems += [f"{where}: '{match[0]}' names Lab {n:02d}, which does not exist" for n in sorted(named - existing)]
            if match[3] and named & existing:
                problems.append(f"{where}: '{match[0]}' marks a lab that exists as coming")
        problems += [f"{where}: '{m[0]}…' names Lab {m[1]}, which does not exist"
                     for m in LAB_FOLDER.finditer(text) if int(m[1]) not in existing]
    return problems


def test_the_book_names_only_labs_that_exist_and_none_as_coming():
    """Does every "Lab NN", "Labs NN to MM" and labNN- folder in the book name a lab in labs/, none marked "(coming)"?"""
    problems = lab_mention_problems(ROOT / "book", lab_names(ROOT))
    assert not problems, "\n".join(problems)


def test_a_page_naming_a_missing_lab_or_an_existing_one_as_coming_is_caught(tmp_path):
    """Would a page that names Lab 09, Labs 05 to 07, lab08-extra or "Lab 03 (coming)" fail the check above?"""
    book = tmp_path / "book"
    (book / "chapters").mkdir(parents=True)
    page = book / "chapters" / "01-scoping.md"
    page.write_text((ROOT / "book" / "chapters" / "01-scoping.md").read_text())
    assert lab_mention_problems(book, lab_names(ROOT)) == []
    page.write_text(page.read_text() + "\nSee Lab 09, Labs 05 to 07 and lab08-extra; Lab 03 (coming).\n")
    problems = lab_mention_problems(book, lab_names(ROOT))
    assert [p.split("' ")[1] for p in problems] == [
        "names Lab 09, which does not exist", "names Lab 07, which does not exist",
        "marks a lab that exists as coming", "names Lab 08, which does not exist"], problems


FIGURE = re.compile(r"^```\{(?:figure|image)\}\s+(\S+)", re.MULTILINE)


def test_every_figure_is_a_local_file_a_page_shows():
    """Does every figure directive name a file in book/images/, and is every file there shown by some page?"""
    book = ROOT / "book"
    shown = set()
    for page in (p for p in book.rglob("*.md") if "_build" not in p.parts):
        for target in FIGURE.findall(page.read_text()):
            path = (page.parent / target).resolve()
            assert path.is_file() and path.parent == (book / "images").resolve(), f"{page.name}: {target}"
            shown.add(path.name)
    unused = sorted(p.name for p in (book / "images").iterdir() if p.name not in shown)
    assert not unused, f"no page shows {unused}: add a figure for it or delete it"
