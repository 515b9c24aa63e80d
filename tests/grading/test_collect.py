"""Does collect place submissions where nbgrader expects them, and report what it could not place?"""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest

from mlops_course.grading.collect import collect_folder, collect_zip
from mlops_course.errors import CollectError

from ..conftest import ROOT, copy_course

LAB = "lab01-scoping"
NOTEBOOK = (ROOT / "labs" / LAB / f"{LAB}.ipynb").read_bytes()


@pytest.fixture
def course(tmp_path):
    course = copy_course(tmp_path / "course", [LAB])
    (course / "labs").mkdir()
    (course / "labs" / LAB).mkdir()
    (course / "labs" / LAB / f"{LAB}.ipynb").write_bytes(NOTEBOOK)
    return course


def test_collect_folder(course, tmp_path):
    """From a <student>/<lab>/ folder, are good submissions copied with a timestamp and every stray item reported?"""
    src = tmp_path / "inbox"
    (src / "ana" / LAB).mkdir(parents=True)
    (src / "ana" / LAB / f"{LAB}.ipynb").write_bytes(NOTEBOOK)
    (src / "bo" / LAB).mkdir(parents=True)
    (src / "bo" / LAB / "Untitled.ipynb").write_bytes(NOTEBOOK)
    (src / "bo" / LAB / "link.ipynb").symlink_to(ROOT / "solutions" / LAB / f"{LAB}.ipynb")
    (src / "cy" / "lab99-nope").mkdir(parents=True)
    (src / "notes.txt").write_text("hi")
    (src / "cy" / "loose.ipynb").write_bytes(NOTEBOOK)
    (src / "dee" / LAB).mkdir(parents=True)  # handed in nothing
    report = collect_folder(course, src)
    submitted = course / "autograder" / "submitted"
    assert sorted(report.collected) == [("ana", LAB), ("bo", LAB)]
    assert (submitted / "ana" / LAB / f"{LAB}.ipynb").read_bytes() == NOTEBOOK
    assert (submitted / "ana" / LAB / "timestamp.txt").read_text().strip().endswith("UTC")
    assert not (submitted / "bo" / LAB / "link.ipynb").exists()
    unmatched = "\n".join(report.unmatched)
    for expected in ("notes.txt: not a <student>/ folder", "cy/loose.ipynb: not inside a <lab>/ folder",
                     "no lab is named 'lab99-nope'", "link.ipynb: a symbolic link",
                     f"dee/{LAB}: an empty folder (nothing handed in)"):
        assert expected in unmatched
    assert not (submitted / "dee").exists()
    assert report.flagged == [f"bo/{LAB}/Untitled.ipynb: unexpected notebook name, expected {LAB}.ipynb "
                              f"(rename it in autograder/submitted/bo/{LAB}/ and grade again)"]
    lines = report.lines()
    assert f"collected with a problem: {report.flagged[0]}" in lines and not report.ok
    assert not any(line.startswith("not collected:") and "(collected" in line for line in lines)


def test_collect_zip(course, tmp_path):
    """From an LMS zip, does nbgrader's zip_collect place <student>_<lab>_<file> entries and the rest get reported?"""
    archive = tmp_path / "downloads.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(f"ana_{LAB}_{LAB}.ipynb", NOTEBOOK)
        zf.writestr(f"bo_{LAB}_{LAB}.ipynb", NOTEBOOK)
        zf.writestr(f"cy_{LAB}_Untitled.ipynb", NOTEBOOK)
        zf.writestr("readme.txt", "instructions")
        zf.writestr(f"{LAB}.ipynb", NOTEBOOK)
    report = collect_zip(course, archive, LAB)
    submitted = course / "autograder" / "submitted"
    # Entries carry no hand-in time, so the zip entry's time is the hand-in time (taken as UTC).
    with zipfile.ZipFile(archive) as zf:
        entry_time = zf.getinfo(f"ana_{LAB}_{LAB}.ipynb").date_time
    stamp = (submitted / "ana" / LAB / "timestamp.txt").read_text().strip()
    assert stamp.startswith("{:04d}-{:02d}-{:02d} {:02d}:{:02d}:{:02d}".format(*entry_time)) and stamp.endswith("UTC")
    assert (submitted / "ana" / LAB / f"{LAB}.ipynb").read_bytes() == NOTEBOOK
    assert (submitted / "bo" / LAB / f"{LAB}.ipynb").exists()
    assert ("ana", LAB) in report.collected
    unmatched = "\n".join(report.unmatched)
    assert "readme.txt: not a notebook" in unmatched
    assert f"{LAB}.ipynb: name does not match" in unmatched and "give a --pattern" in unmatched
    assert "unexpected notebook name 'Untitled.ipynb'" in "\n".join(report.flagged)


def test_bad_input_gets_a_clear_error(course, tmp_path):
    """Are a missing folder, a file that is not a zip and a pattern without the named groups each named clearly?"""
    with pytest.raises(CollectError, match="is not a folder"):
        collect_folder(course, tmp_path / "nowhere")
    (tmp_path / "fake.zip").write_text("not a zip")
    with pytest.raises(CollectError, match="is not a zip file"):
        collect_zip(course, tmp_path / "fake.zip", LAB)
    archive = tmp_path / "ok.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a.ipynb", NOTEBOOK)
    with pytest.raises(CollectError, match="named groups"):
        collect_zip(course, archive, LAB, pattern=r".*/(?P<student>\w+)")


def test_cli_collect_zip_needs_the_lab(course, tmp_path):
    """Does `mlops-course collect x.zip` without --lab say what is missing, in one line?"""
    result = subprocess.run([sys.executable, "-m", "mlops_course", "--root", str(course), "collect", str(tmp_path / "x.zip")],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 1 and "needs the lab" in result.stderr and "Traceback" not in result.stderr


def cli(course, *args):
    return subprocess.run([sys.executable, "-m", "mlops_course", "--root", str(course), *args], capture_output=True, text=True, check=False)


def test_cli_collect_exit_status_says_whether_anything_needs_attention(course, tmp_path):
    """Is collect's exit status 0 only when everything was collected, and 1 for a refusal or an empty source?"""
    good, bad, empty = tmp_path / "good", tmp_path / "bad", tmp_path / "empty"
    (good / "ana" / LAB).mkdir(parents=True)
    (good / "ana" / LAB / f"{LAB}.ipynb").write_bytes(NOTEBOOK)
    (bad / "bo" / LAB).mkdir(parents=True)
    (bad / "bo" / LAB / f"{LAB}.ipynb").write_bytes(NOTEBOOK)
    (bad / "notes.txt").write_text("hi")
    empty.mkdir()
    ok = cli(course, "collect", str(good))
    assert ok.returncode == 0 and f"collected {LAB} for ana" in ok.stdout, ok.stderr
    refused = cli(course, "collect", str(bad))
    assert refused.returncode == 1 and "not collected: notes.txt" in refused.stdout
    assert refused.stderr.strip().startswith("error: some submissions need attention")
    nothing = cli(course, "collect", str(empty))
    assert nothing.returncode == 1 and "nothing was collected" in nothing.stderr


def test_cli_autograde_without_that_submission_fails_naming_it(course):
    """Do `autograde --student nobody` and an autograde with nothing collected exit 1 with one line, not "graded"?"""
    nothing = cli(course, "autograde", LAB, "--no-progress")
    assert nothing.returncode == 1 and "no submissions of lab01-scoping in autograder/submitted/" in nothing.stderr
    (course / "autograder" / "submitted" / "ana" / LAB).mkdir(parents=True)
    nobody = cli(course, "autograde", LAB, "--student", "nobody", "--no-progress")
    assert nobody.returncode == 1 and "no submission of lab01-scoping from nobody" in nobody.stderr
    assert "students there: ana" in nobody.stderr and "Traceback" not in nobody.stderr
    assert not (course / "autograder" / "gradebook.db").exists()
