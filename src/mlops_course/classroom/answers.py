"""Solutions and hidden tests stay closed to students: a class never starts while a student could read them.

Students are accounts on the same machine as the repository, so whatever holds answers
(solutions/, autograder/ and a SQLite gradebook) must deny every permission to other accounts
before the first student logs in.
"""

from __future__ import annotations

from pathlib import Path

from mlops_course.classroom.accounts import unreachable
from mlops_course.course.config import GRADING_DIR, default_db_url
from mlops_course.course.layout import SOURCE_DIR
from mlops_course.errors import ClassServerError


def answer_paths(root: Path) -> list[Path]:
    """What holds solutions or hidden tests in the repository: solutions/, autograder/ and a SQLite gradebook.

    autograder/ keeps the submitted, autograded and feedback copies (hidden tests included) and,
    by default, the gradebook; a gradebook elsewhere ($MLOPS_COURSE_DB_URL) is a copy too.
    """
    root = Path(root)
    paths = [root / SOURCE_DIR, root / GRADING_DIR]
    url = default_db_url(root)
    if url.startswith("sqlite:///"):
        gradebook = Path(url.removeprefix("sqlite:///"))
        if not gradebook.resolve().is_relative_to((root / GRADING_DIR).resolve()):
            paths.append(gradebook)
    return [p for p in paths if p.exists()]


def open_to_others(path: Path) -> bool:
    """Whether another account (a student) can reach `path`: every folder on the way, and it, open to others.

    Group permissions are not counted: every class account has a group of its own, and the
    repository's files are never in a student's group.
    """
    if unreachable(Path(path).parent):
        return False
    return bool(Path(path).stat().st_mode & 0o007)


def close_answers(root: Path) -> list[Path]:
    """Take every permission of other accounts away from what holds solutions or hidden tests.

    Returns what was open (and is now closed). A class must never start while a student could
    read them, so a path that cannot be closed stops `start` with the command to run.
    """
    opened = [p for p in answer_paths(root) if open_to_others(p)]
    for path in opened:
        try:
            path.chmod(path.stat().st_mode & ~0o007)
        except OSError as exc:
            command = "chmod o-rwx " + " ".join(str(p) for p in opened)
            raise ClassServerError(f"{path} holds solutions or hidden tests and is readable by students, and could "
                                   f"not be closed ({exc.strerror}): run `{command}` and start again") from exc
    still = [p for p in opened if open_to_others(p)]
    if still:
        raise ClassServerError(f"{still[0]} is still readable by students: run `chmod o-rwx {still[0]}` and start again")
    return opened
