"""Does grading on submit pick the right hand-ins and keep to its limit? (the end-to-end run: test_class_server.py)"""

from __future__ import annotations

import os
import pwd
import time
from pathlib import Path

import pytest

from mlops_course.classroom import on_submit
from mlops_course.course.config import COURSE_ID
from mlops_course.errors import ClassServerError

LAB = "lab01-scoping"
ME = pwd.getpwuid(os.getuid()).pw_name


def hand_in(exchange: Path, student: str, lab: str = LAB, stamp: str = "2026-12-06 12:00:00.000001 UTC",
            complete: bool = True) -> Path:
    folder = exchange / COURSE_ID / "inbound" / f"{student}+{lab}+{stamp}+abc"
    folder.mkdir(parents=True)
    (folder / f"{lab}.ipynb").write_text("{}")
    (folder / "timestamp.txt").write_text(stamp)
    if complete:
        (folder / "submission_secret.txt").write_text("secret")
    return folder


def test_is_the_next_grading_allowed_only_below_the_limit_in_any_hour():
    """Does a fourth grading within an hour wait until the oldest of the three is an hour old, and not longer?"""
    now = 10_000.0
    assert on_submit.next_grading_at([], 3, now) is None
    assert on_submit.next_grading_at([now - 10, now - 5], 3, now) is None
    assert on_submit.next_grading_at([now - 100, now - 50, now - 10], 3, now) == now - 100 + 3600
    assert on_submit.next_grading_at([now - 4000, now - 50, now - 10], 3, now) is None  # one is over an hour old
    assert on_submit.next_grading_at([now - 30, now - 20, now - 10], 1, now) == now - 10 + 3600


def test_is_the_switch_per_lab_kept_with_the_time_it_was_switched_on(tmp_path):
    """Does switching on record the limit and the moment, keep the moment when the limit changes, and switch off?"""
    labs = on_submit.switch(tmp_path, LAB, 3)
    since = labs[LAB].since
    assert labs[LAB].per_hour == 3 and abs(since - time.time()) < 60
    assert on_submit.switch(tmp_path, LAB, 5)[LAB] == on_submit.Switch(5, since)
    assert on_submit.labs_switched_on(tmp_path) == {LAB: on_submit.Switch(5, since)}
    assert on_submit.switch(tmp_path, LAB, None) == {}
    with pytest.raises(ClassServerError, match="--off"):
        on_submit.switch(tmp_path, LAB, 0)


def test_are_only_complete_hand_ins_of_switched_on_labs_made_since_then_pending(tmp_path):
    """Are hand-ins of other labs, older than the switch, already seen or still being copied left alone?"""
    exchange = tmp_path / "exchange"
    new = hand_in(exchange, ME)
    hand_in(exchange, ME, lab="lab02-data")
    hand_in(exchange, ME, stamp="2026-12-06 12:00:05.000001 UTC", complete=False)
    old = hand_in(exchange, ME, stamp="2026-12-06 11:00:00.000001 UTC")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    labs = {LAB: on_submit.Switch(3, time.time() - 3600)}
    assert [h.folder for h in on_submit.pending(exchange, labs, set())] == [new]
    assert on_submit.pending(exchange, labs, {new.name}) == []


def test_is_a_hand_in_in_another_students_name_never_graded(tmp_path, monkeypatch):
    """Does the watcher go by the account that owns the hand-in, not the name the hand-in gives?"""
    exchange = tmp_path / "exchange"
    on_submit.switch(tmp_path, LAB, 3)
    hand_in(exchange, "mc-someone-else")
    mine = hand_in(exchange, ME, stamp="2026-12-06 12:00:09.000001 UTC")
    graded, refused = [], []
    monkeypatch.setattr(on_submit, "grade", lambda course, lab, hs: graded.extend(h.folder for h in hs) or ["graded"])
    monkeypatch.setattr(on_submit, "refuse", lambda course, h, at, n: refused.append(h.folder) or "refused")
    lines = on_submit.handle(tmp_path, tmp_path / "course", exchange, record := {})
    assert graded == [mine] and not refused
    assert any(line.startswith("ignored mc-someone-else+") and f"handed in by {ME}" in line for line in lines)
    assert len(record["seen"]) == 2 and len(record["graded"][ME][LAB]) == 1


def test_is_the_hand_in_over_the_limit_refused_and_a_broken_one_reported(tmp_path, monkeypatch):
    """With a limit of one an hour: is the second hand-in refused, and does a failing grading not stop the watcher?"""
    exchange = tmp_path / "exchange"
    on_submit.switch(tmp_path, LAB, 1)
    for second in (1, 2, 3):
        hand_in(exchange, ME, stamp=f"2026-12-06 12:00:0{second}.000001 UTC")
        time.sleep(0.01)  # hand-ins are taken oldest first, by their folders' times
    calls = []

    def broken_grade(course, lab, hand_ins):
        calls.append(("grade", len(hand_ins)))
        raise RuntimeError("the gradebook is locked")

    monkeypatch.setattr(on_submit, "grade", broken_grade)
    monkeypatch.setattr(on_submit, "refuse", lambda course, h, at, n: calls.append(("refuse", round(at - time.time()))) or "refused")
    record: dict = {}
    lines = [on_submit.handle(tmp_path, tmp_path / "course", exchange, record) for _ in range(3)]
    assert calls[0] == ("grade", 1) and [c[0] for c in calls[1:]] == ["refuse", "refuse"]
    assert all(3590 <= c[1] <= 3600 for c in calls[1:]), calls
    assert lines[0][0].startswith("could not grade") and "the gradebook is locked" in lines[0][0]


def test_are_a_rooms_hand_ins_graded_together_one_per_student(tmp_path, monkeypatch):
    """Do three students' hand-ins go to one grading, while a student's second hand-in waits for the next round?"""
    exchange = tmp_path / "exchange"
    on_submit.switch(tmp_path, LAB, 3)
    first = hand_in(exchange, ME, stamp="2026-12-06 12:00:01.000001 UTC")
    time.sleep(0.01)
    second = hand_in(exchange, ME, stamp="2026-12-06 12:00:02.000001 UTC")
    batches = []
    monkeypatch.setattr(on_submit, "grade", lambda course, lab, hs: batches.append([h.folder for h in hs]) or [])
    record: dict = {}
    on_submit.handle(tmp_path, tmp_path / "course", exchange, record)
    on_submit.handle(tmp_path, tmp_path / "course", exchange, record)
    assert batches == [[first], [second]]


def test_are_links_never_followed_into_anyones_files(tmp_path):
    """Is a linked hand-in folder never pending, and is a link inside a hand-in left out of the copy graded?"""
    exchange = tmp_path / "exchange"
    secret_file = tmp_path / "not-yours.txt"
    secret_file.write_text("hidden tests")
    real = hand_in(exchange, ME)
    (real / "notes.txt").symlink_to(secret_file)
    (real / "data").symlink_to(tmp_path)
    linked = exchange / COURSE_ID / "inbound" / f"{ME}+{LAB}+2026-12-06 12:00:09.000001 UTC+xyz"
    linked.symlink_to(real)
    labs = {LAB: on_submit.Switch(3, time.time() - 60)}
    assert [h.folder for h in on_submit.pending(exchange, labs, set())] == [real]
    [found] = on_submit.pending(exchange, labs, set())
    copied = on_submit._take_in(tmp_path / "course", found)
    assert sorted(p.name for p in copied.iterdir()) == ["lab01-scoping.ipynb", "submission_secret.txt", "timestamp.txt"]
