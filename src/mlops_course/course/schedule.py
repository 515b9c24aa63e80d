"""The study-group schedule, read from book/study-group/schedule.yml.

One file feeds both the book's schedule page (the `study-plan` directive in
`book_schedule`) and `mlops-course progress` (which week each lab is due), so
a change to the plan shows up in both places at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from mlops_course.errors import ScheduleError

SCHEDULE_FILE = Path("book") / "study-group" / "schedule.yml"
HOURS_TOLERANCE = 1.0  # a week may be up to an hour longer or shorter than hours_per_week


@dataclass(frozen=True)
class Lesson:
    chapter: str
    title: str
    lab: str
    lab_title: str


@dataclass(frozen=True)
class Week:
    """One week of a plan: what to read, which labs to work on and which are due at its end.

    Its hours are the study group's estimate per activity (`total_hours` adds them up)."""

    number: int
    topic: str
    read: tuple[str, ...]
    labs: tuple[str, ...]
    due: tuple[str, ...]
    optional: tuple[str, ...]
    hours: dict[str, float]
    meeting: str

    @property
    def total_hours(self) -> float:
        return float(sum(self.hours.values()))


@dataclass(frozen=True)
class Plan:
    """A study plan (standard, intensive, ...): its weeks, in order.

    Each lab's due week follows from them (`due_weeks`), and so does the group's progress table."""

    id: str
    title: str
    summary: str
    weeks: tuple[Week, ...]

    def due_weeks(self) -> dict[str, int]:
        """Each lab due in this plan and the week it is due."""
        return {lab: week.number for week in self.weeks for lab in week.due}

    def optional_labs(self) -> set[str]:
        return {lab for week in self.weeks for lab in week.optional}


@dataclass(frozen=True)
class Schedule:
    hours_per_week: float
    lessons: tuple[Lesson, ...]
    plans: tuple[Plan, ...]

    def plan(self, plan_id: str) -> Plan:
        for plan in self.plans:
            if plan.id == plan_id:
                return plan
        raise ScheduleError(f"there is no plan '{plan_id}' in the schedule; plans: {', '.join(p.id for p in self.plans)}")

    def lab_title(self, lab: str) -> str:
        return next((lesson.lab_title for lesson in self.lessons if lesson.lab == lab), lab)


def _require(entry: dict, key: str, where: str):
    if key not in entry or entry[key] in (None, ""):
        raise ScheduleError(f"{where} has no '{key}'")
    return entry[key]


def _week(entry: dict, where: str, known_labs: set[str]) -> Week:
    number = _require(entry, "week", where)
    where = f"{where}, week {number}"
    hours = {str(k): float(v) for k, v in (_require(entry, "hours", where) or {}).items()}
    week = Week(
        number=int(number),
        topic=str(_require(entry, "topic", where)),
        read=tuple(entry.get("read") or ()),
        labs=tuple(entry.get("labs") or ()),
        due=tuple(entry.get("due") or ()),
        optional=tuple(entry.get("optional") or ()),
        hours=hours,
        meeting=str(_require(entry, "meeting", where)).strip(),
    )
    unknown = [lab for lab in (*week.labs, *week.due, *week.optional) if lab not in known_labs]
    if unknown:
        raise ScheduleError(f"{where} names lab(s) {', '.join(unknown)} that no lesson has; add them to 'lessons'")
    return week


def _plan(entry: dict, where: str, hours_per_week: float, known_labs: set[str]) -> Plan:
    plan_id = _require(entry, "id", where)
    where = f"{where}, plan '{plan_id}'"
    weeks = tuple(_week(w, where, known_labs) for w in _require(entry, "weeks", where))
    if [w.number for w in weeks] != list(range(1, len(weeks) + 1)):
        raise ScheduleError(f"{where}: weeks must be numbered 1, 2, 3... in order")
    for week in weeks:
        if abs(week.total_hours - hours_per_week) > HOURS_TOLERANCE:
            raise ScheduleError(f"{where}, week {week.number}: {week.total_hours:g} hours planned, "
                                f"but a week is about {hours_per_week:g}")
    due = [lab for week in weeks for lab in week.due]
    twice = sorted({lab for lab in due if due.count(lab) > 1})
    if twice:
        raise ScheduleError(f"{where}: {', '.join(twice)} is due in more than one week")
    return Plan(plan_id, str(_require(entry, "title", where)), str(entry.get("summary", "")).strip(), weeks)


def parse_schedule(data: dict, where: str = "the schedule") -> Schedule:
    """Check and load a schedule; every message names the plan and week at fault."""
    if not isinstance(data, dict):
        raise ScheduleError(f"{where} must be a mapping with 'hours_per_week', 'lessons' and 'plans'")
    hours_per_week = float(_require(data, "hours_per_week", where))
    lessons = tuple(
        Lesson(str(_require(e, "chapter", where)), str(_require(e, "title", where)),
               str(_require(e, "lab", where)), str(_require(e, "lab_title", where)))
        for e in _require(data, "lessons", where)
    )
    known = {lesson.lab for lesson in lessons}
    plans = tuple(_plan(e, where, hours_per_week, known) for e in _require(data, "plans", where))
    return Schedule(hours_per_week, lessons, plans)


def load_schedule(root: Path) -> Schedule:
    """The course's schedule, from book/study-group/schedule.yml under `root`."""
    path = Path(root) / SCHEDULE_FILE
    if not path.is_file():
        raise ScheduleError(f"there is no schedule at {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ScheduleError(f"{path} is not valid YAML: {exc}") from exc
    return parse_schedule(data, str(path))
