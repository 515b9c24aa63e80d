"""Grading on submit: a student's hand-in graded in the sandbox, its feedback back within a minute.

On the class server, the instructor switches it on per lab (`mlops-course
class-server grade-on-submit --lab LAB`). A watcher, started with the class
server and running as root, looks at nbgrader's inbound folder every two
seconds. Each hand-in of a switched-on lab made since it was switched on is
copied into a grading course of its own (`<state>/on-submit/course`, root's
alone, with its own SQLite gradebook), graded by the course's sandboxed
autograde (as root, so each kernel runs as a user of its own under every limit,
a process cap included, as the hostile-submission batch is graded), and its
feedback (hidden tests hidden) is released by nbgrader to the exchange, where
the student's `nbgrader fetch_feedback` (the assignment list's "Fetch feedback")
finds it.

Why it cannot change a grade: the hand-in stays in `inbound/` for the
instructor's own `collect`, and the grading course never touches the
instructor's gradebook; the instructor's feedback for the same hand-in, once
released, replaces the one given on submit.

Why it cannot be used as an oracle: each student gets at most `per_hour`
gradings of a lab in any hour (3 unless the instructor says otherwise), counted
by the watcher itself, so no student setting can lift it. A hand-in over the
limit is still handed in (the instructor's last-before-the-deadline rule
holds); its feedback page says it was not graded and from when the next one is.

Who handed in is the account that owns the hand-in's folder, not the name the
folder gives: a hand-in in another student's name is never graded.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import pwd
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from mlops_course.course.config import COURSE_ID
from mlops_course.errors import ClassServerError, GradingError

SETTINGS_FILE = "on-submit.json"  # in the class's state folder: {lab: {"per_hour": N, "since": epoch seconds}}
WORK_DIR = "on-submit"  # in the class's state folder, root's alone: the grading course and its record
DEFAULT_PER_HOUR = 3
WINDOW_SECONDS = 3600
POLL_SECONDS = 2.0


@dataclass(frozen=True)
class HandIn:
    """One folder of nbgrader's inbound: `<student>+<lab>+<timestamp>+<random>`."""

    folder: Path
    student: str
    lab: str
    timestamp: str


# --- the instructor's switch -------------------------------------------------------------------


@dataclass(frozen=True)
class Switch:
    """A lab graded on submit: gradings allowed per student and hour, and since when (hand-ins before are not)."""

    per_hour: int
    since: float


def labs_switched_on(state: Path) -> dict[str, Switch]:
    """The labs graded on submit."""
    path = Path(state) / SETTINGS_FILE
    if not path.exists():
        return {}
    return {lab: Switch(int(entry["per_hour"]), float(entry["since"])) for lab, entry in json.loads(path.read_text()).items()}


def switch(state: Path, lab: str, per_hour: int | None) -> dict[str, Switch]:
    """Switch grading on submit on for `lab` (`per_hour` gradings per student and hour), or off with None."""
    if per_hour is not None and per_hour < 1:
        raise ClassServerError(f"--per-hour must be at least 1, not {per_hour} (to switch grading on submit off: --off)")
    labs = labs_switched_on(state)
    if per_hour is None:
        labs.pop(lab, None)
    else:
        labs[lab] = Switch(per_hour, labs[lab].since if lab in labs else time.time())
    path = Path(state) / SETTINGS_FILE
    path.write_text(json.dumps({name: vars(s) for name, s in sorted(labs.items())}, indent=2) + "\n")
    path.chmod(0o644)  # students may read which labs are graded on submit
    return labs


# --- what is waiting ---------------------------------------------------------------------------


def pending(exchange: Path, labs: dict[str, Switch], done: set[str]) -> list[HandIn]:
    """Complete hand-ins of `labs` made since each was switched on and not yet seen, oldest first."""
    inbound = Path(exchange) / COURSE_ID / "inbound"
    found = []
    for folder in sorted(inbound.iterdir(), key=lambda p: p.stat().st_mtime) if inbound.is_dir() else []:
        parts = folder.name.split("+")
        if folder.name in done or len(parts) < 3 or parts[1] not in labs or folder.is_symlink():
            continue  # a link in inbound is never a hand-in: it could point at anyone's files
        if folder.stat().st_mtime < labs[parts[1]].since:
            continue
        # nbgrader writes the secret last: before it, the copy may still be under way.
        if not all((folder / name).is_file() and not (folder / name).is_symlink()
                   for name in ("submission_secret.txt", "timestamp.txt")):
            continue
        found.append(HandIn(folder, parts[0], parts[1], (folder / "timestamp.txt").read_text().strip()))
    return found


def owner(folder: Path) -> str:
    uid = folder.lstat().st_uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def next_grading_at(graded_at: list[float], per_hour: int, now: float) -> float | None:
    """When the next grading is allowed, if the last hour's gradings reached `per_hour`; None if it is allowed now."""
    recent = sorted(t for t in graded_at if now - t < WINDOW_SECONDS)
    if len(recent) < per_hour:
        return None
    return recent[len(recent) - per_hour] + WINDOW_SECONDS


# --- grading and answering ---------------------------------------------------------------------


def grading_course(work: Path, source: Path, exchange: Path) -> Path:
    """The private course that grades on submit: the instructor's solutions, its own gradebook."""
    course = Path(work) / "course"
    course.mkdir(parents=True, exist_ok=True)
    gradebook = course / "autograder" / "gradebook.db"
    (course / "nbgrader_config.py").write_text(
        "from pathlib import Path\n\nfrom mlops_course.course.config import configure\n\n"
        "# Grading on submit (mlops_course/classroom/on_submit.py): the instructor's solutions, a gradebook of its own.\n"
        f"c = configure(get_config(), root=Path(__file__).resolve().parent, db_url={f'sqlite:///{gradebook}'!r})\n"
        f"c.CourseDirectory.source_directory = {str(source)!r}\n"
        f"c.Exchange.root = {str(exchange)!r}\n"
        "# The exchange's feedback/ is the instructor's (their own release writes there too): nbgrader\n"
        "# refuses a folder it does not own unless the course is group-shared.\n"
        "c.CourseDirectory.groupshared = True\n")
    return course


def _take_in(course: Path, hand_in: HandIn) -> Path:
    """Copy the hand-in (notebooks, timestamp, secret) into the grading course, replacing the student's last one."""
    dest = course / "autograder" / "submitted" / hand_in.student / hand_in.lab
    if dest.exists():
        shutil.rmtree(dest)
    # Never following a link: root would otherwise copy what it points at, anyone's files.
    from mlops_course.grading.worker import copy_submission

    copy_submission(hand_in.folder, dest)
    return dest


def grade(course: Path, lab: str, hand_ins: list[HandIn]) -> list[str]:
    """Grade hand-ins of one lab (one per student) in the sandbox, side by side, and release their feedback."""
    from mlops_course.grading.autograde import autograde
    from mlops_course.grading.feedback import generate_feedback

    for hand_in in hand_ins:
        _take_in(course, hand_in)
    results = autograde(course, lab, students=[h.student for h in hand_ins], progress=False,
                        warn=lambda message: print(f"warning: {message}", flush=True))
    generate_feedback(course, lab, [h.student for h in hand_ins])
    _release(course, hand_ins)
    return [f"graded {r.student} on {lab}: {r.score:g}/{r.max_score:g} ({r.status})" for r in results]


def refuse(course: Path, hand_in: HandIn, allowed_at: float, per_hour: int) -> str:
    """Release a feedback page saying the hand-in was not graded on submit, and from when the next one is."""
    when = dt.datetime.fromtimestamp(allowed_at, dt.timezone.utc).strftime("%H:%M UTC")
    message = (f"Handed in, but not graded now: {hand_in.lab} was graded {per_hour} time(s) for you in the last hour, "
               f"the most allowed. A hand-in from {when} on is graded again. Your hand-in is kept: your "
               f"instructor grades the last one before the deadline.")
    submitted = _take_in(course, hand_in)
    feedback = course / "autograder" / "feedback" / hand_in.student / hand_in.lab
    if feedback.exists():
        shutil.rmtree(feedback)
    feedback.mkdir(parents=True)
    for name in ("timestamp.txt", "submission_secret.txt"):
        shutil.copy(submitted / name, feedback / name)
    for notebook in submitted.glob("*.ipynb"):
        (feedback / f"{notebook.stem}.html").write_text(
            f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(notebook.stem)}: not graded"
            f"</title></head><body><h1>{html.escape(notebook.stem)}: not graded</h1><p>{html.escape(message)}</p>"
            f"</body></html>\n")
    _release(course, [hand_in])
    return f"not graded {hand_in.student} on {hand_in.lab}: over {per_hour} an hour until {when}"


def _release(course: Path, hand_ins: list[HandIn]) -> None:
    from mlops_course.grading.nbgrader_api import open_api, require_success

    api = open_api(course)
    for hand_in in hand_ins:
        require_success(api.release_feedback(hand_in.lab, hand_in.student), "releasing the feedback", GradingError)


# --- the watcher -------------------------------------------------------------------------------


def handle(state: Path, course: Path, exchange: Path, record: dict, now: float | None = None) -> list[str]:
    """Grade (or refuse) the pending hand-ins of switched-on labs once; `record` is updated in place.

    The hand-ins allowed are graded together, one per student and lab (a student's next one waits
    for the next round), so a room that hands in at once keeps every core busy.
    """
    labs = labs_switched_on(state)
    lines: list[str] = []
    batches: dict[str, list[HandIn]] = {}
    for hand_in in pending(exchange, labs, set(record.setdefault("seen", []))):
        if any(h.student == hand_in.student for h in batches.get(hand_in.lab, [])):
            continue
        record["seen"].append(hand_in.folder.name)
        account = owner(hand_in.folder)
        if account != hand_in.student:
            lines.append(f"ignored {hand_in.folder.name}: handed in by {account}, not by {hand_in.student}")
            continue
        times = record.setdefault("graded", {}).setdefault(hand_in.student, {}).setdefault(hand_in.lab, [])
        clock = time.time() if now is None else now
        per_hour = labs[hand_in.lab].per_hour
        allowed_at = next_grading_at(times, per_hour, clock)
        if allowed_at is None:
            times.append(clock)
            batches.setdefault(hand_in.lab, []).append(hand_in)
            continue
        try:
            lines.append(refuse(course, hand_in, allowed_at, per_hour))
        except Exception as exc:  # noqa: BLE001 (one broken hand-in must not stop the others' grading)
            lines.append(f"could not answer {hand_in.folder.name}: {type(exc).__name__}: {exc}")
    for lab, hand_ins in batches.items():
        try:
            lines += grade(course, lab, hand_ins)
        except Exception as exc:  # noqa: BLE001 (the watcher goes on with the next round)
            lines += [f"could not grade {h.folder.name}: {type(exc).__name__}: {exc}" for h in hand_ins]
    return lines


def serve(state: Path, work: Path, source: Path, exchange: Path) -> None:
    """Watch the inbound folder until stopped (the class server stops this process with its group)."""
    work.mkdir(mode=0o700, exist_ok=True)
    work.chmod(0o700)  # hand-ins and hidden tests: root's alone
    course = grading_course(work, source, exchange)
    record_file = work / "record.json"
    record = json.loads(record_file.read_text()) if record_file.exists() else {}
    print(f"grading on submit: watching {exchange / COURSE_ID / 'inbound'}", flush=True)
    while True:
        for line in handle(state, course, exchange, record):
            print(time.strftime("%H:%M:%S ") + line, flush=True)
            record_file.write_text(json.dumps(record) + "\n")
        time.sleep(POLL_SECONDS)


if __name__ == "__main__":
    serve(*(Path(arg) for arg in sys.argv[1:5]))
