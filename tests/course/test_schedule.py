"""Is the study-group schedule complete, about 6 hours a week, and rejected with a clear message when broken?"""

from __future__ import annotations

import copy

import pytest
import yaml

from mlops_course.errors import ScheduleError
from mlops_course.course.layout import lab_names
from mlops_course.course.schedule import SCHEDULE_FILE, load_schedule, parse_schedule

from ..conftest import ROOT

SCHEDULE = load_schedule(ROOT)
RAW = yaml.safe_load((ROOT / SCHEDULE_FILE).read_text())


def test_there_is_a_10_to_12_week_plan_and_a_4_week_plan():
    """Does the schedule offer the standard plan (10-12 weeks) and the compressed one (4 weeks)?"""
    assert 10 <= len(SCHEDULE.plan("standard").weeks) <= 12
    assert len(SCHEDULE.plan("compressed").weeks) == 4


@pytest.mark.parametrize("plan", [p.id for p in SCHEDULE.plans])
def test_every_week_is_about_six_hours_of_reading_lab_work_and_a_meeting(plan):
    """Does every week plan about 6 hours, with a meeting, and lab work or reading?"""
    for week in SCHEDULE.plan(plan).weeks:
        assert 5 <= week.total_hours <= 7, f"{plan} week {week.number}: {week.total_hours} h"
        assert week.hours.get("meeting", 0) > 0 and week.meeting
        assert week.labs or week.read


@pytest.mark.parametrize("plan", [p.id for p in SCHEDULE.plans])
def test_every_lab_of_the_course_has_its_week_in_every_plan(plan):
    """Is each lab in solutions/ due in one week of the plan, or offered as optional?"""
    chosen = SCHEDULE.plan(plan)
    placed = set(chosen.due_weeks()) | chosen.optional_labs()
    missing = [lab for lab in lab_names(ROOT) if lab.startswith("lab") and lab not in placed]
    assert not missing, f"add {missing} to the '{plan}' plan in {SCHEDULE_FILE} (and to 'lessons')"


def test_every_lesson_and_reading_is_a_page_of_the_book():
    """Does every chapter the schedule names exist in the book, so the schedule page links to it?"""
    toc = (ROOT / "book" / "_toc.yml").read_text()
    pages = {lesson.chapter for lesson in SCHEDULE.lessons}
    pages |= {page for plan in SCHEDULE.plans for week in plan.weeks for page in week.read}
    for page in pages:
        assert (ROOT / "book" / f"{page}.md").is_file(), f"{SCHEDULE_FILE} names {page}, which is not in book/"
        assert page in toc or page == "intro", f"{page} is not in book/_toc.yml"


def _broken(change) -> dict:
    data = copy.deepcopy(RAW)
    change(data)
    return data


@pytest.mark.parametrize("change, message", [
    (lambda d: d["plans"][0]["weeks"][1].update(hours={"reading": 1, "lab": 9, "meeting": 2}),
     r"plan 'standard', week 2: 12 hours planned, but a week is about 6"),
    (lambda d: d["plans"][0]["weeks"][2].update(due=["lab01-scoping"]), r"lab01-scoping is due in more than one week"),
    (lambda d: d["plans"][1]["weeks"][0].update(labs=["lab99-nope"]), r"week 1 names lab\(s\) lab99-nope"),
    (lambda d: d["plans"][1]["weeks"][0].pop("meeting"), r"plan 'compressed', week 1 has no 'meeting'"),
    (lambda d: d["plans"][1]["weeks"].pop(1), r"plan 'compressed': weeks must be numbered 1, 2, 3"),
    (lambda d: d.pop("lessons"), r"has no 'lessons'"),
])
def test_a_broken_schedule_is_rejected_naming_the_plan_and_week(change, message):
    """Does a mistake in the schedule file stop with a message that says where it is?"""
    with pytest.raises(ScheduleError, match=message):
        parse_schedule(_broken(change))


def test_an_unknown_plan_lists_the_plans():
    """Does asking for a plan that does not exist name the ones that do?"""
    with pytest.raises(ScheduleError, match="standard, compressed"):
        SCHEDULE.plan("weekend")


def test_there_is_a_24_week_plan_for_a_slower_group():
    """Does the schedule also offer a 24-week plan that reads the foundation pages and the page beyond the course?"""
    extended = SCHEDULE.plan("extended")
    assert len(extended.weeks) == 24
    read = {page for week in extended.weeks for page in week.read}
    assert {"foundations/technical-debt", "foundations/discipline", "beyond"} <= read
