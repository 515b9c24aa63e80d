"""Does the course work in a real browser, as learners and instructors use it?

Debian's Chromium, driven by Playwright, against a throwaway clone of the
course whose JupyterLab is started with `make lab` (on a free port, with a
token) and whose book (the suite's strict build, its lab links pointed at
that JupyterLab) is served from 127.0.0.1:
(a) the book: the landing page renders, the sidebar reaches every page,
    every lab link opens its lab in JupyterLab, every download link serves
    the notebook, and search finds a chapter;
(b) JupyterLab: a solved lab runs from top to bottom and its self-check
    says every question passes; in the blank lab the self-check says nothing
    is done yet;
(c) nbgrader: the learner's JupyterLab offers the assignment list without the
    instructor's tools; in `make lab INSTRUCTOR=1` the assignment list and the
    formgrader load.
Every request is routed: anything that would leave 127.0.0.1 is blocked and
fails the test. Screenshots go to test-artifacts/browser/.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from mlops_course.course import notebooks
from mlops_course.book.lab_links import lab_title
from mlops_course.grading.nbgrader_api import open_api, require_success
from mlops_course.errors import ReleaseError
from mlops_course.course.layout import lab_names, release_notebook, source_notebook
from mlops_course.course.questions import questions
from mlops_course.learner.selfcheck import MIME_TYPE

from ..browsers import chromium_context, require_chromium
from ..conftest import ROOT, pages, parse
from ..servers import free_port, running, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.server]

LABS = lab_names(ROOT, "labs")  # every assignment released to students (labs, and quizzes when there are some)
HANDS_ON = [lab for lab in LABS if lab.startswith("lab")]
RUN_LAB = HANDS_ON[0]  # the lab run in the browser: one is enough to see the whole path
COURSE_FILES = ["Makefile", "pyproject.toml", "constraints.txt", "nbgrader_config.py"]
SOLVED_PREFIX = "solved-"


@dataclass(frozen=True)
class Course:
    """The running clone: where JupyterLab and the built book answer, and where things are on disk."""

    root: Path
    lab_url: str
    token: str
    book_url: str
    html: Path

    def notebook_url(self, lab: str, name: str | None = None) -> str:
        """The notebook in a workspace of its own, reset, so no tab another test opened comes back."""
        workspace = secrets.token_hex(4)
        return f"{self.lab_url}/lab/workspaces/{workspace}/tree/{lab}/{name or lab + '.ipynb'}?reset&token={self.token}"


def clone_course(dest: Path) -> Path:
    """A clone of the course as a learner has it, sharing this environment (.venv) so nothing is installed."""
    dest.mkdir(parents=True)
    for name in COURSE_FILES:
        shutil.copy2(ROOT / name, dest / name)
    ignore = shutil.ignore_patterns("_build", "artifacts", ".ipynb_checkpoints", "__pycache__")
    for folder in ("labs", "solutions", "book"):
        shutil.copytree(ROOT / folder, dest / folder, ignore=ignore)
    (dest / ".venv").symlink_to(ROOT / ".venv")
    return dest


def solved_notebook(lab: str):
    """The released lab with every answer written (the solution's code), set to run on the small sample."""
    nb = notebooks.read(release_notebook(ROOT, lab))
    solution = notebooks.read(source_notebook(ROOT, lab))
    for question in questions(nb):
        for answer in question.answers:
            source = "Written in the browser test." if question.manual else notebooks.find_cell(solution, answer).source
            notebooks.find_cell(nb, answer).source = source
    parameters = notebooks.parameters_cell(nb)
    parameters.source, count = re.subn(rf"^{notebooks.QUICK_PARAMETER}\s*=\s*False", "QUICK = True", parameters.source,
                                       flags=re.M)
    assert count == 1, f"{lab}: the parameters cell should set QUICK = False"
    return nb


def book_pointed_at(built: Path, dest: Path, lab_url: str) -> Path:
    """A copy of the built book whose lab links open `lab_url` instead of the configured `course_local_url`.

    The book's lab links are the configured URL followed by the lab's path (book_lab_links.launch_url),
    so this is the book a build with `course_local_url: lab_url` makes, without building it again.
    """
    configured = yaml.safe_load((ROOT / "book" / "_config.yml").read_text())["sphinx"]["config"]["course_local_url"]
    shutil.copytree(built, dest)
    replaced = 0
    for page in dest.rglob("*.html"):
        text = page.read_text()
        replaced += text.count(f"{configured.rstrip('/')}/lab/tree/")
        page.write_text(text.replace(f"{configured.rstrip('/')}/lab/tree/", f"{lab_url}/lab/tree/"))
    assert replaced >= len(HANDS_ON), f"the built book links {replaced} labs to {configured}"
    return dest


def make_lab(stack: ExitStack, clone: Path, tmp: Path, port: int, token: str, *make_args: str) -> str:
    """`make lab` (with `make_args`) running in the clone on `port`; its URL once it answers."""
    name = "-".join(["lab", *make_args]).replace("=", "")
    # JupyterLab keeps workspaces, settings and kernel files in the test's folder, not in the home folder.
    env = {"JUPYTER_RUNTIME_DIR": str(tmp / f"runtime-{name}"), "IPYTHONDIR": str(tmp / "ipython")}
    flags = (f"--no-browser --IdentityProvider.token={token} --ServerApp.port_retries=0 --ServerApp.ip=127.0.0.1 "
             f"--LabApp.workspaces_dir={tmp / f'workspaces-{name}'} --LabApp.user_settings_dir={tmp / f'settings-{name}'}")
    # `-o .venv/.installed`: the clone shares this test run's environment; make must not reinstall it.
    lab = stack.enter_context(running(["make", "-s", "-o", ".venv/.installed", "lab", f"PORT={port}", f"LAB_FLAGS={flags}",
                                       *make_args], tmp / f"make-{name}.log", clone, env))
    url = f"http://127.0.0.1:{port}"
    wait_for(f"{url}/api/status?token={token}", timeout=120, proc=lab)
    return url


@pytest.fixture(scope="module")
def course(tmp_path_factory, built_book):
    """A clone with the built book served, its labs released to nbgrader's exchange, and a learner's `make lab` running."""
    require_chromium()
    tmp = tmp_path_factory.mktemp("browser")
    clone = clone_course(tmp / "course")
    lab_port, book_port, token = free_port(), free_port(), secrets.token_hex(16)
    notebooks.write(solved_notebook(RUN_LAB), clone / "labs" / RUN_LAB / f"{SOLVED_PREFIX}{RUN_LAB}.ipynb")
    html = book_pointed_at(built_book, tmp / "book-html", f"http://127.0.0.1:{lab_port}")
    api = open_api(clone)
    for lab in LABS:
        require_success(api.release_assignment(lab), f"nbgrader release_assignment for '{lab}'", ReleaseError)
    with ExitStack() as stack:
        lab_url = make_lab(stack, clone, tmp, lab_port, token)
        book = stack.enter_context(running([sys.executable, "-m", "http.server", str(book_port), "--bind", "127.0.0.1",
                                            "--directory", str(html)], tmp / "book-server.log", clone))
        wait_for(f"http://127.0.0.1:{book_port}/intro.html", timeout=30, proc=book)
        yield Course(clone, lab_url, token, f"http://127.0.0.1:{book_port}", html)


@pytest.fixture(scope="module")
def instructor_lab(course, tmp_path_factory):
    """The instructor's JupyterLab (`make lab INSTRUCTOR=1`) on the same clone: (url, token)."""
    token = secrets.token_hex(16)
    with ExitStack() as stack:
        yield make_lab(stack, course.root, tmp_path_factory.mktemp("instructor"), free_port(), token, "INSTRUCTOR=1"), token


@pytest.fixture(scope="module")
def playwright():
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture
def browser(playwright, tmp_path):
    """A fresh Chromium profile whose every request is checked; the test fails if one left 127.0.0.1."""
    with chromium_context(playwright, tmp_path / "chromium-profile") as (context, guard):
        yield context
        assert not guard.blocked, f"the browser tried to reach the internet: {guard.blocked}"


@pytest.fixture
def shots(artifacts) -> Path:
    folder = artifacts / "browser"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def toc_pages() -> list[str]:
    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text())
    return [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]


# --- (a) the book --------------------------------------------------------------------------------

def test_the_book_landing_page_renders(course, browser, shots):
    """Does the landing page show its title, the chapter table and the sidebar, styled and offline?"""
    page = browser.new_page()
    page.goto(f"{course.book_url}/index.html")
    page.wait_for_url("**/intro.html")
    assert page.locator("h1").first.inner_text().startswith("MLOps in practice")
    assert page.locator("nav.bd-docs-nav a.reference.internal").count() >= len(toc_pages()) - 1
    background = page.evaluate("getComputedStyle(document.querySelector('.bd-sidebar-primary')).display")
    assert background != "none", "the theme's stylesheet did not load"
    page.screenshot(path=shots / "book-landing.png", full_page=False)


# The page's figures, each loaded (lazy ones too) and drawn with a size: (how many, the sources of those that did not).
FIGURES_LOADED = """async () => {
    const images = [...document.querySelectorAll('article img')];
    for (const image of images) {
        image.loading = 'eager';
        if (!image.complete) await new Promise(done => { image.onload = image.onerror = done; });
    }
    return [images.length, images.filter(image => image.naturalWidth === 0).map(image => image.getAttribute('src'))];
}"""


def test_the_sidebar_reaches_every_page_of_the_book(course, browser, shots):
    """Can a reader click through the sidebar to every chapter and page of the table of contents, and see every figure?"""
    page = browser.new_page()
    page.goto(f"{course.book_url}/intro.html")
    for doc in toc_pages()[1:]:
        page.locator(f'nav.bd-docs-nav a.reference.internal[href$="{Path(doc).name}.html"]').first.click()
        page.wait_for_url(f"**/{doc}.html")
        heading = page.locator("article h1").first.inner_text().strip()
        assert heading, f"{doc} has no title"
        shown, broken = page.evaluate(FIGURES_LOADED)
        assert not broken, f"{doc}: these figures did not load: {broken}"
        if shown:  # every page with a figure, as a reader sees it
            page.screenshot(path=shots / f"book-{doc.replace('/', '-')}.png", full_page=True)
        if doc == "study-group/schedule":
            plans = yaml.safe_load((ROOT / "book" / "study-group" / "schedule.yml").read_text())["plans"]
            assert page.locator("table.study-plan").count() == len(plans), f"the schedule page should show all {len(plans)} plans"
            page.screenshot(path=shots / "book-schedule.png", full_page=True)
    page.goto(f"{course.book_url}/chapters/01-scoping.html")
    page.wait_for_selector("mjx-container", timeout=30_000)  # MathJax, served by the book itself, typeset the math
    page.screenshot(path=shots / "book-scoping-chapter.png")


def lab_links(html: Path) -> dict[str, set[tuple[str, str]]]:
    """Every page's lab links: (kind, href) with kind 'open' or 'download'."""
    found = {}
    for page in pages(html):
        for a in parse(page).anchors:
            classes = a.get("class", "")
            kind = "open" if "lab-link" in classes else "download" if "lab-download" in classes else None
            if kind:
                found.setdefault(str(page.relative_to(html)), set()).add((kind, a["href"]))
    return found


def test_every_lab_link_opens_its_lab_in_jupyterlab(course, browser, shots):
    """Does clicking each "Open ... in JupyterLab" link open that lab, and each download link serve the notebook?"""
    links = lab_links(course.html)
    opened, downloaded = set(), set()
    page = browser.new_page()
    page.goto(f"{course.lab_url}/lab?token={course.token}")  # log in once, as `make lab`'s printed address does
    page.wait_for_selector(".jp-LabShell", timeout=90_000)
    for doc, anchors in sorted(links.items()):
        for kind, href in sorted(anchors):
            lab = re.search(r"/([\w-]+)/\1\.ipynb", href).group(1)
            if kind == "download":
                response = page.request.get(f"{course.book_url}/{Path(doc).parent}/{href}")
                assert response.ok, f"{doc}: {href} answers {response.status}"
                assert json.loads(response.body())["cells"], f"{doc}: {href} is not a notebook"
                downloaded.add(lab)
            elif lab not in opened:
                page.goto(f"{course.book_url}/{doc}")
                # The link opens JupyterLab's default workspace, which would restore every lab opened before (and
                # render each again); a reader's first click finds it empty, and so does each click here.
                reset = page.request.delete(f"{course.lab_url}/lab/api/workspaces/default?token={course.token}")
                assert reset.ok or reset.status == 404, f"JupyterLab did not reset its workspace: {reset.status}"
                page.locator(f'a.lab-link[href="{href}"]').first.click()
                page.wait_for_url(f"{course.lab_url}/lab/tree/{lab}/{lab}.ipynb*", timeout=30_000)
                title = lab_title(release_notebook(ROOT, lab))
                page.locator(".jp-NotebookPanel .jp-RenderedMarkdown h1", has_text=title).first.wait_for(timeout=90_000)
                page.screenshot(path=shots / f"jupyterlab-opened-{lab}.png")
                opened.add(lab)
    assert set(HANDS_ON) <= opened, f"labs with no working 'Open in JupyterLab' link: {set(HANDS_ON) - opened}"
    assert set(HANDS_ON) <= downloaded, f"labs with no working download link: {set(HANDS_ON) - downloaded}"


SEARCH_FINISHED = re.compile(r"Search finished, found (\d+) page")  # Sphinx's summary once every result is listed


def search_results(page, query: str) -> list[str]:
    """Search the book from its search box, as a reader does; the titles of the pages listed once the search is done."""
    page.keyboard.press("Control+k")
    box = page.locator("#pst-search-dialog input[name=q]")
    box.wait_for()
    box.fill(query)
    box.press("Enter")
    page.wait_for_url(f"**/search.html?q={query}*")
    page.wait_for_function("/Search finished|did not match/.test("
                           "document.querySelector('#search-results p.search-summary')?.innerText || '')", timeout=30_000)
    summary = page.locator("#search-results p.search-summary")
    titles = page.locator("#search-results ul.search li a").all_inner_texts()
    found = SEARCH_FINISHED.search(summary.inner_text())
    if found:
        assert len(titles) == int(found.group(1)), f"the summary says {found.group(1)} pages, {len(titles)} are listed"
    else:
        assert "did not match any documents" in summary.inner_text(), f"unexpected search summary: {summary.inner_text()}"
    return titles


def test_searching_the_book_finds_the_chapter(course, browser, shots):
    """Does the search box list the chapter that explains a term, and does its link open that chapter?"""
    page = browser.new_page()
    page.goto(f"{course.book_url}/intro.html")
    titles = search_results(page, "leakage")
    page.screenshot(path=shots / "book-search.png")
    assert any("Scoping" in title for title in titles), f"searching 'leakage' should list the Scoping chapter: {titles}"
    page.locator("#search-results ul.search li a", has_text="Scoping").first.click()
    page.wait_for_url("**/chapters/01-scoping.html*")
    assert "Scoping" in page.locator("article h1").first.inner_text()
    assert "leakage" in page.locator("article").inner_text().lower(), "the page found should explain the term searched"


def test_searching_the_book_for_a_word_it_does_not_hold_lists_nothing(course, browser):
    """Does a search for a word in no page list no page, and say so?"""
    page = browser.new_page()
    page.goto(f"{course.book_url}/intro.html")
    titles = search_results(page, "qzxjvwnonsense")
    assert titles == [], f"a word in no page should list nothing, the search listed {titles}"
    assert "did not match any documents" in page.locator("#search-results p.search-summary").inner_text()


# --- (b) JupyterLab started by the project ---------------------------------------------------------

def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout}s for {what}")
        time.sleep(0.25)


def saved_outputs(path: Path) -> list | None:
    """The outputs in the notebook file, or None while it is missing, half-written or has no self-check report yet."""
    try:
        outputs = [o for c in notebooks.read(path).cells for o in c.get("outputs", [])]
    except Exception:  # noqa: BLE001 (JupyterLab may be halfway through writing it)
        return None
    return outputs if any(MIME_TYPE in o.get("data", {}) for o in outputs) else None


def save_notebook(page, path: Path, attempts: int = 3) -> list:
    """Save the open notebook with its toolbar button; return the outputs JupyterLab wrote, self-check included."""
    for _ in range(attempts):
        page.locator('.jp-NotebookPanel-toolbar [data-command="docmanager:save"]').first.click()
        try:
            wait_until(lambda: saved_outputs(path) is not None, timeout=10, what=f"JupyterLab to save {path.name}")
            return saved_outputs(path)
        except TimeoutError:
            continue
    raise TimeoutError(f"JupyterLab did not save {path}")


def open_notebook(page, course: Course, lab: str, name: str | None = None) -> None:
    page.goto(course.notebook_url(lab, name))
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook", timeout=90_000)
    page.locator(".jp-Toolbar-kernelName", has_text="MLOps course").first.wait_for(timeout=60_000)
    page.locator("#jp-main-statusbar", has_text="Idle").wait_for(timeout=90_000)  # the kernel is ready


def run_all_cells(page) -> None:
    """Run All Cells from the Run menu, and make sure the kernel really started on them."""
    prompts = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-InputPrompt", has_text=re.compile(r"\[[\d*]+\]"))
    started = lambda: prompts.count() or page.locator(".mlops-selfcheck").count()  # noqa: E731
    for _ in range(3):
        page.locator('.lm-MenuBar-itemLabel:text-is("Run")').click()
        page.locator('.lm-Menu-itemLabel:text-is("Run All Cells")').click()
        try:
            return wait_until(started, timeout=20, what="the kernel to start running the cells")
        except TimeoutError:
            continue
    raise TimeoutError("Run All Cells did not start the notebook")


def scroll_notebook_to_end(page) -> None:
    """JupyterLab only lays out the cells in view; scroll the notebook itself rather than ask Playwright to."""
    page.locator(".jp-NotebookPanel .jp-WindowedPanel-outer").first.evaluate("e => e.scrollTop = e.scrollHeight")
    page.wait_for_timeout(500)


def self_check_output(page, timeout: float):
    """The self-check's rendered report, once it has appeared."""
    report = page.locator(".jp-OutputArea-output .mlops-selfcheck").first
    report.wait_for(state="attached", timeout=timeout)
    report.evaluate("e => e.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(500)
    return report


def test_a_solved_lab_runs_in_jupyterlab_and_its_self_check_passes(course, browser, shots):
    """Does Run All Cells on a finished lab end with a self-check where every question passes?"""
    lab = RUN_LAB
    auto = [q for q in questions(notebooks.read(release_notebook(ROOT, lab))) if not q.manual]
    page = browser.new_page()
    open_notebook(page, course, lab, f"{SOLVED_PREFIX}{lab}.ipynb")
    run_all_cells(page)
    try:
        report = self_check_output(page, timeout=300_000)
    finally:
        page.screenshot(path=shots / f"jupyterlab-self-check-{lab}-solved.png")
    text = report.inner_text()
    assert f"{len(auto)} of {len(auto)} questions pass their visible tests" in text, text
    # Save, then read what JupyterLab wrote: no cell may have raised an error on the way.
    saved = course.root / "labs" / lab / f"{SOLVED_PREFIX}{lab}.ipynb"
    errors = [o.get("ename") for o in save_notebook(page, saved) if o.get("output_type") == "error"]
    assert not errors, f"cells of the solved lab raised {errors}"


def test_the_self_check_of_a_blank_lab_says_nothing_is_done(course, browser, shots):
    """In the untouched lab, does running the self-check cell report every question as not done?"""
    lab = RUN_LAB
    auto = [q for q in questions(notebooks.read(release_notebook(ROOT, lab))) if not q.manual]
    page = browser.new_page()
    open_notebook(page, course, lab)
    scroll_notebook_to_end(page)
    page.locator(".jp-CodeCell", has_text="mlops_course.selfcheck").last.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    report = self_check_output(page, timeout=60_000)
    text = report.inner_text()
    page.screenshot(path=shots / f"jupyterlab-self-check-{lab}-blank.png")
    assert f"0 of {len(auto)} questions pass their visible tests" in text, text
    assert text.count("not done") == len(auto)


# --- (c) nbgrader for the instructor ---------------------------------------------------------------

def nbgrader_menu(page) -> list[str]:
    """The items of JupyterLab's Nbgrader menu, left open."""
    page.locator('.lm-MenuBar-itemLabel:text-is("Nbgrader")').click()
    page.locator(".lm-Menu-itemLabel").first.wait_for(timeout=30_000)
    return [label.strip() for label in page.locator(".lm-Menu-itemLabel").all_inner_texts() if label.strip()]


def test_the_learners_jupyterlab_shows_the_assignment_list_but_not_the_instructors_tools(course, browser, shots):
    """Does `make lab` offer the learner nbgrader's Assignment List, without Formgrader, Course List or Create Assignment?"""
    page = browser.new_page()
    page.goto(f"{course.lab_url}/lab/workspaces/learner?reset&token={course.token}")
    page.wait_for_selector(".jp-LabShell", timeout=90_000)
    items = nbgrader_menu(page)
    page.screenshot(path=shots / "jupyterlab-learner-nbgrader-menu.png")
    assert "Assignment List" in items, items
    assert not {"Formgrader", "Course List"} & set(items), f"the learner's Nbgrader menu shows {items}"
    assert page.get_by_text("Create Assignment").count() == 0


def test_the_instructor_sees_the_assignment_list_and_the_formgrader(instructor_lab, browser, shots):
    """In `make lab INSTRUCTOR=1`, do nbgrader's Assignment List (released labs) and formgrader (Manage Assignments) load?"""
    url, token = instructor_lab
    page = browser.new_page()
    page.goto(f"{url}/lab/workspaces/instructor?reset&token={token}")
    page.wait_for_selector(".jp-LabShell", timeout=90_000)
    items = nbgrader_menu(page)
    assert {"Assignment List", "Formgrader"} <= set(items), items
    page.locator('.lm-Menu-itemLabel:text-is("Assignment List")').click()
    panel = page.locator(".jp-MainAreaWidget", has_text="Released assignments").last
    panel.wait_for(timeout=60_000)
    for lab in LABS:
        panel.get_by_text(lab, exact=True).first.wait_for(timeout=60_000)
    page.screenshot(path=shots / "nbgrader-assignment-list.png")

    page.goto(f"{url}/formgrader?token={token}")
    page.get_by_role("heading", name="Manage Assignments").wait_for(timeout=60_000)
    for lab in lab_names(ROOT):
        row = page.locator("tr", has=page.get_by_role("link", name=lab, exact=True))
        row.wait_for(timeout=60_000)
        if lab in LABS:
            assert "released" in row.inner_text()
    page.screenshot(path=shots / "nbgrader-formgrader.png")
