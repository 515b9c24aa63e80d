"""Tests of mlops_course.gradebook: new gradebooks made without nbgrader's alembic subprocess."""

import sqlite3

import pytest
from nbgrader.api import Gradebook

from mlops_course.gradebook import alembic_head, create_sqlite_gradebook


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
