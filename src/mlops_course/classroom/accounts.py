"""The class's system accounts: one per student and one for the instructor, each with a private home.

Every account is a real user (`mc-` prefix, a group of its own) whose home sits under
`<state>/home/`, with the nbgrader settings its server needs, and a short Jupyter runtime
folder of its own, `/run/mlops-course/<uid>` (see `ensure_runtime_dir`). Creating and removing
accounts needs root and Debian's useradd; `can_create_accounts` says why not otherwise.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import subprocess
from pathlib import Path

from mlops_course.classroom import limits
from mlops_course.course.config import COURSE_ID
from mlops_course.errors import ClassServerError

PREFIX = "mc-"
INSTRUCTOR = f"{PREFIX}instructor"
# A student's name: what Debian's useradd accepts by default, once prefixed (32 characters at most).
STUDENT_NAME = re.compile(rf"^[a-z][a-z0-9_-]{{0,{31 - len(PREFIX)}}}$")
# Each account's Jupyter runtime folder (connection files and the kernels' Unix sockets), see ensure_runtime_dir.
RUNTIME_BASE = Path("/run/mlops-course")
SOCKET_PATH_MAX = 107  # what Linux allows in a Unix socket's path (sun_path, 108 bytes with the final NUL)
IPC_SOCKET_NAME = "/kernel-00000000-0000-0000-0000-000000000000-ipc-99999"  # the longest name jupyter_client gives


# --- names -------------------------------------------------------------------------------------


def account_name(student: str) -> str:
    """The system account of a roster name: `alice` -> `mc-alice`; rejects what useradd would."""
    bare = student.removeprefix(PREFIX)
    name = PREFIX + bare
    if not STUDENT_NAME.match(bare):
        raise ClassServerError(
            f"'{student}' cannot be a student's account name: use lower-case letters, digits, '-' and '_', "
            f"starting with a letter, at most {32 - len(PREFIX)} characters (e.g. student01)")
    if name == INSTRUCTOR:
        raise ClassServerError(f"'{student}' is the instructor's account; choose another student name")
    return name


def roster(count: int | None = None, names: list[str] | None = None) -> list[str]:
    """Account names for `names`, or for `count` students named student01, student02, ..."""
    names = list(names or []) or [f"student{i:02d}" for i in range(1, (count or 0) + 1)]
    if not names:
        raise ClassServerError("a class needs at least one student: give --students N or --student NAME")
    accounts = [account_name(n) for n in names]
    duplicates = sorted({a for a in accounts if accounts.count(a) > 1})
    if duplicates:
        raise ClassServerError(f"student names appear twice: {', '.join(duplicates)}")
    return accounts


# --- accounts and their homes ------------------------------------------------------------------


def can_create_accounts() -> str | None:
    """Why this process cannot create system accounts, or None when it can."""
    if os.geteuid() != 0:
        return "the class server creates a system account per student and must run as root (sudo)"
    if not shutil.which("useradd"):
        return "useradd is not available (Debian: apt-get install passwd)"
    return None


def ensure_account(state: Path, account: str) -> pwd.struct_passwd:
    """Create `account` with a private home under the state folder (kept if it already exists)."""
    try:
        return pwd.getpwnam(account)
    except KeyError:
        pass
    home = state / "home" / account
    home.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["useradd", "--create-home", "--home-dir", str(home), "--shell", "/bin/bash",
                             "--comment", "mlops-course class server", "--user-group", account],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ClassServerError(f"could not create the account {account}: {result.stderr.strip()}")
    home.chmod(0o700)  # Debian's default home mode lets everyone read; a student's work is private
    return pwd.getpwnam(account)


def remove_account(account: str) -> None:
    """Delete a class account and its home (only our own, prefixed accounts)."""
    if not account.startswith(PREFIX):
        raise ClassServerError(f"refusing to remove {account}: not a class-server account")
    try:
        pwd.getpwnam(account)
    except KeyError:
        return
    uid = pwd.getpwnam(account).pw_uid
    kill_user_processes(uid)
    subprocess.run(["userdel", "--remove", account], capture_output=True, text=True, check=False)
    remove_runtime_dir(uid)
    limits.remove(account)


def kill_user_processes(uid: int) -> None:
    """End what an account of ours still runs (kernels a student left behind), by process id."""
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if proc.stat().st_uid == uid:
                    os.kill(int(proc.name), signal.SIGKILL)
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                pass


def unreachable(path: Path) -> Path | None:
    """The first folder on the way to `path` (symbolic links followed) that other accounts cannot enter."""
    path = Path(path).resolve()
    for folder in [*reversed(path.parents), path]:
        if folder.is_dir() and not folder.stat().st_mode & 0o001:
            return folder
    return None


# --- runtime folders ---------------------------------------------------------------------------


def runtime_dir(uid: int) -> Path:
    """The account's Jupyter runtime folder: short, so kernels' Unix socket paths fit in 107 characters."""
    return RUNTIME_BASE / str(uid)


def ensure_runtime_dir(user: pwd.struct_passwd) -> Path:
    """An empty runtime folder owned by the account (mode 0700), for kernels over Unix sockets.

    Kernels started at the same moment over TCP can pick the same free port and die
    (jupyter_client binds port 0, closes it, and the kernel binds it a moment later);
    over Unix sockets (`KernelManager.transport = ipc`) each kernel has its own files
    in this folder and nothing is shared. Home folders under the state folder are too
    deep for a socket's path, hence a short folder under /run, which only root can
    create entries in, so no account can plant a folder or link for another.
    """
    folder = runtime_dir(user.pw_uid)
    if len(str(folder) + IPC_SOCKET_NAME) > SOCKET_PATH_MAX:
        raise ClassServerError(f"the runtime folder {folder} is too long for kernels' Unix sockets "
                               f"({SOCKET_PATH_MAX} characters at most with the socket's name)")
    RUNTIME_BASE.mkdir(mode=0o711, parents=True, exist_ok=True)
    if RUNTIME_BASE.is_symlink() or RUNTIME_BASE.stat().st_uid != 0:
        raise ClassServerError(f"{RUNTIME_BASE} must be a folder owned by root; remove it and start again")
    RUNTIME_BASE.chmod(0o711)
    if folder.is_symlink() or folder.is_file():
        folder.unlink()
    shutil.rmtree(folder, ignore_errors=True)  # what a stopped class left: stale sockets and connection files
    folder.mkdir(mode=0o700)
    os.chown(folder, user.pw_uid, user.pw_gid)
    return folder


def remove_runtime_dir(uid: int) -> None:
    """Remove an account's runtime folder, and /run/mlops-course once no class uses it."""
    shutil.rmtree(runtime_dir(uid), ignore_errors=True)
    try:
        RUNTIME_BASE.rmdir()  # only once the last class's accounts are gone
    except OSError:
        pass


# --- what each account's server needs ----------------------------------------------------------


def _write_owned(path: Path, text: str, owner: pwd.struct_passwd, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    for p in (path.parent, path):
        os.chown(p, owner.pw_uid, owner.pw_gid)


def prepare_student(state: Path, account: str, exchange: Path) -> None:
    """The student's nbgrader config: the course and the exchange (the assignment list reads it)."""
    user = ensure_account(state, account)
    ensure_runtime_dir(user)
    _write_owned(Path(user.pw_dir) / ".jupyter" / "nbgrader_config.py",
                 f'c = get_config()\nc.CourseDirectory.course_id = "{COURSE_ID}"\nc.Exchange.root = "{exchange}"\n'
                 f'# Hand-ins readable by the instructor only (mlops_course/classroom/exchange.py).\n'
                 f'c.ExchangeFactory.submit = "mlops_course.classroom.exchange.PrivateSubmit"\n',
                 user)


def prepare_instructor(state: Path, root: Path, exchange: Path) -> Path:
    """The instructor's account and course folder (a copy of the course: solutions, released labs, config)."""
    user = ensure_account(state, INSTRUCTOR)
    ensure_runtime_dir(user)
    course = Path(user.pw_dir) / "course"
    if not (course / "nbgrader_config.py").exists():
        ignore = shutil.ignore_patterns("artifacts", ".ipynb_checkpoints", "__pycache__", "mlflow.db")
        course.mkdir(parents=True, exist_ok=True)
        shutil.copy(root / "nbgrader_config.py", course / "nbgrader_config.py")
        for folder in ("solutions", "labs"):
            shutil.copytree(root / folder, course / folder, ignore=ignore, dirs_exist_ok=True)
        subprocess.run(["chown", "-R", f"{user.pw_uid}:{user.pw_gid}", str(course)], check=True)
    # The formgrader and `nbgrader ...` run from the home folder see the course folder's settings.
    _write_owned(Path(user.pw_dir) / ".jupyter" / "nbgrader_config.py",
                 "from pathlib import Path\nfrom mlops_course.course.config import configure\n\n"
                 "configure(get_config(), root=Path.home() / 'course')\n", user)
    return course


def prepare_inbound(exchange: Path) -> None:
    """The course's inbound folder: students write, only the instructor lists; hand-ins get the instructor's group."""
    user = pwd.getpwnam(INSTRUCTOR)
    course = exchange / COURSE_ID
    # feedback/ as nbgrader's release_feedback makes it (0711), the instructor's: their release and
    # grading on submit (root, on_submit.py) both write there.
    for folder, mode in ((course, 0o755), (course / "inbound", 0o2733), (course / "feedback", 0o711)):
        folder.mkdir(exist_ok=True)
        os.chown(folder, user.pw_uid, user.pw_gid)
        folder.chmod(mode)
