"""Tests of mlops_course.grading.gradebook: new gradebooks made without nbgrader's alembic subprocess."""

import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from mlops_course.grading import nbgrader_runs as grading
from mlops_course.classroom import postgres
from mlops_course.serving import free_port
from mlops_course.errors import GradebookError, GradingError
from mlops_course.grading.gradebook import alembic_head, create_sqlite_gradebook, require_gradebook, shown_url

from .. import nbfactory as nbf
from ..conftest import assert_one_line_failure, cli


def _schema(path):
    with sqlite3.connect(path) as db:
        tables = db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY type, name").fetchall()
        stamp = db.execute("SELECT version_num FROM alembic_version").fetchall()
    return tables, stamp


def test_is_a_new_gradebook_the_same_as_the_one_nbgrader_makes(tmp_path):
    with Gradebook(f"sqlite:///{tmp_path / 'nbgrader.db'}"):
        pass
    create_sqlite_gradebook(tmp_path / "ours.db")
    assert _schema(tmp_path / "ours.db") == _schema(tmp_path / "nbgrader.db")


def test_does_nbgrader_open_it_as_up_to_date_and_store_grades_in_it(tmp_path):
    path = create_sqlite_gradebook(tmp_path / "gradebook.db")
    with Gradebook(f"sqlite:///{path}", "course") as gb:
        gb.add_assignment("lab01")
        gb.add_student("ada")
        assert [a.name for a in gb.assignments] == ["lab01"] and gb.find_student("ada").id == "ada"
    assert _schema(path)[1] == [(alembic_head(),)]


def test_is_an_existing_file_refused_rather_than_overwritten(tmp_path):
    existing = tmp_path / "gradebook.db"
    existing.write_text("grades")
    with pytest.raises(FileExistsError, match="already exists"):
        create_sqlite_gradebook(existing)
    assert existing.read_text() == "grades"


# --- a missing or unreachable gradebook: one clear line, a non-zero exit, nothing lost (issue #20) ------------------


LAB = nbf.TOY_LAB
SECRET = "s3cret-pw"


def snapshot(course: Path) -> dict[str, bytes]:
    """Every file of the course (scratch folders of a batch aside), with its bytes."""
    return {str(p.relative_to(course)): p.read_bytes() for p in sorted(course.rglob("*"))
            if p.is_file() and "autograder/work" not in str(p.relative_to(course))}


def toy_class(dest: Path) -> Path:
    course = nbf.toy_course(dest)
    grading.submit(course, LAB, "ana", {LAB: nbf.toy_submission(why="Because doubling is linear.")})
    grading.submit(course, LAB, "bo", {LAB: nbf.toy_submission(limit=3)})
    return course


def test_is_a_missing_sqlite_gradebook_an_error_naming_it_unless_asked_to_create_it(tmp_path):
    """Is a missing SQLite gradebook refused with its path, and made (and reported) only with create=True?"""
    path = tmp_path / "autograder" / "gradebook.db"
    with pytest.raises(GradebookError, match=f"no gradebook at {path}"):
        require_gradebook(f"sqlite:///{path}")
    assert not path.exists()
    assert require_gradebook(f"sqlite:///{path}", create=True) == path
    assert path.is_file() and require_gradebook(f"sqlite:///{path}") is None


def test_is_an_unreachable_database_one_line_without_its_password():
    """Does a database nobody listens on give one line naming the URL with its password hidden?"""
    url = f"postgresql+psycopg2://grader:{SECRET}@127.0.0.1:{free_port()}/course"
    with pytest.raises(GradebookError) as caught:
        require_gradebook(url)
    message = str(caught.value)
    assert "\n" not in message and SECRET not in message
    assert shown_url(url) in message and "grader:***@127.0.0.1" in message


@pytest.fixture(scope="module")
def graded_toy_class(tmp_path_factory):
    """A toy class graded and given feedback through the command line, as an instructor would."""
    course = toy_class(tmp_path_factory.mktemp("flow") / "course")
    graded = cli(course, "autograde", LAB, "--jobs", "2", "--no-progress")
    assert graded.returncode == 0, graded.stderr
    assert "there was no gradebook yet: created a new one at" in graded.stderr
    feedback = cli(course, "feedback", LAB)
    assert feedback.returncode == 0, feedback.stderr
    return course


def test_does_feedback_keep_earlier_pages_when_nbgrader_fails(graded_toy_class, tmp_path):
    """When nbgrader cannot write feedback (a gradebook without these grades), is the earlier feedback kept?"""
    course = graded_toy_class
    pages = course / "autograder" / "feedback" / "ana" / LAB
    before = snapshot(course)
    assert any(pages.glob("*.html"))
    empty = create_sqlite_gradebook(tmp_path / "empty.db")
    with pytest.raises(GradingError, match="feedback for 'ana'"):
        from mlops_course.grading.feedback import generate_feedback

        generate_feedback(course, LAB, "ana", db_url=f"sqlite:///{empty}")
    assert snapshot(course) == before


def test_does_losing_the_sqlite_gradebook_mid_flow_lose_nothing(graded_toy_class, tmp_path):
    """With the gradebook file gone (or a mistyped --db-url), do feedback, export, report and autograde each
    fail in one line naming the path, create nothing, and leave every file as it was?"""
    course = graded_toy_class
    gradebook = course / "autograder" / "gradebook.db"
    before = snapshot(course)
    scores = grading.cell_scores(course, LAB, "ana")
    wrong = tmp_path / "typo" / "gradebook.db"
    commands = [["feedback", LAB], ["export"], ["report"], ["autograde", LAB, "--no-progress"]]
    for command in commands:
        assert_one_line_failure(cli(course, *command, "--db-url", f"sqlite:///{wrong}"), f"no gradebook at {wrong}")
    assert not wrong.parent.exists()
    moved = tmp_path / "elsewhere.db"
    shutil.move(gradebook, moved)
    try:
        for command in commands:
            assert_one_line_failure(cli(course, *command), f"no gradebook at {gradebook}")
        assert not gradebook.exists(), "a command made a new, empty gradebook in place of the lost one"
    finally:
        shutil.move(moved, gradebook)
    assert snapshot(course) == before
    assert grading.cell_scores(course, LAB, "ana") == scores


def test_does_a_stopped_postgresql_mid_flow_lose_nothing(tmp_path):
    """With the PostgreSQL gradebook stopped after grading, do feedback, export, report and autograde each fail
    in one line naming the URL without its password, and are every file and every grade still there after a restart?"""
    reason = postgres.unavailable_reason()
    if reason:
        pytest.skip(f"PostgreSQL tests need a local server: {reason}")
    base = Path(tempfile.mkdtemp(prefix="mlops-course-pg-flow-"))  # not under tmp_path: see conftest.postgres_cluster
    base.chmod(0o755)
    cluster = postgres.start_cluster(base / "data")
    try:
        # The test cluster trusts loopback, so any password is accepted: it must still never be printed.
        url = postgres.create_database(cluster, "flow").replace("postgres@", f"postgres:{SECRET}@")
        course = toy_class(tmp_path / "course")
        graded = cli(course, "autograde", LAB, "--no-progress", "--db-url", url)
        assert graded.returncode == 0, graded.stderr
        assert cli(course, "feedback", LAB, "--db-url", url).returncode == 0
        scores = {s: grading.cell_scores(course, LAB, s, db_url=url) for s in ("ana", "bo")}
        before = snapshot(course)
        postgres.stop_cluster(cluster)
        for command in (["feedback", LAB], ["export"], ["report"], ["autograde", LAB, "--no-progress"]):
            result = cli(course, *command, "--db-url", url)
            assert_one_line_failure(result, "cannot reach the gradebook at", f"postgres:***@127.0.0.1:{cluster.port}/flow")
            assert SECRET not in result.stderr + result.stdout
        assert snapshot(course) == before
        cluster = postgres.start_cluster(base / "data", port=cluster.port)
        assert {s: grading.cell_scores(course, LAB, s, db_url=url) for s in ("ana", "bo")} == scores
        assert sum(c.score for c in scores["ana"].values()) == 4 and sum(c.score for c in scores["bo"].values()) == 3
    finally:
        if postgres.port_in_use(cluster.port):
            postgres.stop_cluster(cluster)
        shutil.rmtree(base, ignore_errors=True)


def test_is_a_database_that_stops_mid_command_one_line(monkeypatch, tmp_path):
    """When the database drops the connection halfway through a command, is it one line and exit status 1?"""
    from sqlalchemy.exc import OperationalError

    from mlops_course.grading import export

    def dropped(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly\n\tThis probably..."))

    monkeypatch.setattr(export, "export_grades", dropped)
    course = nbf.toy_course(tmp_path / "course")
    (course / "autograder").mkdir()
    create_sqlite_gradebook(course / "autograder" / "gradebook.db")  # it answers at first, then drops out
    result = cli(course, "export")
    assert_one_line_failure(result, "the gradebook stopped answering: server closed the connection unexpectedly")
