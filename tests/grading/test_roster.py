"""Does `mlops-course roster import` put a spreadsheet's roster into the gradebook? (issue #20, item 9)"""

from __future__ import annotations

from nbgrader.api import Gradebook

from mlops_course.course.config import load_config

from .. import nbfactory as nbf
from ..conftest import cli


def students(course) -> dict[str, tuple]:
    cd = load_config(course).CourseDirectory
    with Gradebook(cd.db_url, cd.course_id) as gb:
        return {s.id: (s.first_name, s.last_name, s.email) for s in gb.students}


def test_does_a_roster_with_a_byte_order_mark_and_accents_fill_the_gradebook(tmp_path):
    """Are ids, accented names and e-mails from a spreadsheet's CSV (with a BOM) stored, and a second import an update?"""
    course = nbf.toy_course(tmp_path / "course")
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,first_name,last_name,email\nana,Ana,Muñoz,ana@example.org\nbo,Bo,Ødegård,\n",
                      encoding="utf-8-sig")
    first = cli(course, "roster", "import", str(roster))
    assert first.returncode == 0, first.stderr
    assert "created a new one at" in first.stdout and "2 student(s) added or updated" in first.stdout
    assert students(course) == {"ana": ("Ana", "Muñoz", "ana@example.org"), "bo": ("Bo", "Ødegård", None)}
    roster.write_text("student_id,email\nbo,bo@example.org\n", encoding="utf-8")
    assert cli(course, "roster", "import", str(roster)).returncode == 0
    assert students(course)["bo"][2] == "bo@example.org" and students(course)["ana"][1] == "Muñoz"


def test_is_a_roster_without_ids_refused_in_one_line(tmp_path):
    """Is a CSV without a student_id column an error naming the columns it has, with nothing created?"""
    course = nbf.toy_course(tmp_path / "course")
    roster = tmp_path / "roster.csv"
    roster.write_text("name,mail\nAna,ana@example.org\n")
    result = cli(course, "roster", "import", str(roster))
    assert result.returncode == 1 and "has no student_id column (columns: name, mail)" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (course / "autograder" / "gradebook.db").exists()
