"""A class server on one machine: JupyterHub, nbgrader's exchange, a PostgreSQL gradebook and MLflow.

`mlops-course class-server start` brings up, from one state folder:

- system accounts for the instructor and every student (`mc-` prefix), each
  with a private home folder under `<state>/home/` (created when run as root);
- a PostgreSQL cluster in `<state>/postgres` (Debian's server, a free
  loopback port, a password only the instructor's server and MLflow get)
  holding the nbgrader gradebook and MLflow's backend store;
- an MLflow tracking server with accounts (MLflow's `basic-auth` app, its
  users in the same cluster), whose artifacts live in `<state>/mlflow`: every
  single-user server gets its URL as `MLFLOW_TRACKING_URI` and its own MLflow
  login (`MLFLOW_TRACKING_USERNAME`/`PASSWORD`, the account's name and a
  password no other account gets); everyone reads the class's runs and models,
  only their creator changes them, and the instructor is MLflow's admin;
- nbgrader's exchange in `<state>/exchange` (world-writable, sticky) and the
  instructor's course folder `~mc-instructor/course` (solutions, released labs);
- JupyterHub with configurable-http-proxy, spawning each user's server as
  that user in the course's environment (classroom/jupyterhub_config.py);
  kernels talk to their server over Unix sockets in a short folder of the
  account's own, `/run/mlops-course/<uid>` (see `ensure_runtime_dir`);
- per-student limits (a process cap, a memory cap, a fair CPU share: control
  groups where the machine lets us write them, else resource limits; see
  `limits.py`), which `status` lists with what cannot be enforced here.

`stop` stops every process and keeps every file, so a restart loses nothing;
`teardown` also removes the accounts, their homes and runtime folders, and the state folder.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from mlops_course.classroom import limits, on_submit, postgres
from mlops_course.course.config import COURSE_ID, EXCHANGE_ENV, GRADING_DIR, default_db_url
from mlops_course.course.kernel import OFFLINE_ENV
from mlops_course.course.layout import SOURCE_DIR
from mlops_course.errors import ClassServerError  # noqa: F401 (re-exported for callers)
from mlops_course.serving import free_port, wait_for

PREFIX = "mc-"
INSTRUCTOR = f"{PREFIX}instructor"
STATE_ENV = "MLOPS_COURSE_CLASS_STATE"
SETTINGS_FILE = "class.json"
PROXY_MAKE_TARGET = "make classroom"
# A student's name: what Debian's useradd accepts by default, once prefixed (32 characters at most).
STUDENT_NAME = re.compile(rf"^[a-z][a-z0-9_-]{{0,{31 - len(PREFIX)}}}$")
START_TIMEOUT = 120.0
# Each account's Jupyter runtime folder (connection files and the kernels' Unix sockets), see ensure_runtime_dir.
RUNTIME_BASE = Path("/run/mlops-course")
SOCKET_PATH_MAX = 107  # what Linux allows in a Unix socket's path (sun_path, 108 bytes with the final NUL)
IPC_SOCKET_NAME = "/kernel-00000000-0000-0000-0000-000000000000-ipc-99999"  # the longest name jupyter_client gives
MLFLOW_AUTH_DATABASE = "mlflow_auth"  # MLflow's users and permissions, beside its backend store
STUDENT_LIMITS = limits.StudentLimits()


@dataclass(frozen=True)
class ClassServer:
    """A running (or stopped) class server, as recorded in `<state>/class.json`."""

    state: Path
    settings: dict

    @property
    def hub_url(self) -> str:
        return f"http://127.0.0.1:{self.settings['hub_port']}"

    @property
    def mlflow_url(self) -> str:
        return f"http://127.0.0.1:{self.settings['mlflow_port']}"

    @property
    def gradebook_url(self) -> str:
        """The shared gradebook's database URL, with its password: for root and the instructor only."""
        cluster = postgres.Cluster(self.state / "postgres", self.settings["pg_port"], postgres.find_bin_dir(),
                                   password=_secret(self.state, "postgres_password"))
        return cluster.url("gradebook")

    def mlflow_credentials(self, account: str) -> tuple[str, str]:
        """The MLflow login of a class account (root-only file); the instructor's is MLflow's admin."""
        return account, mlflow_password(self.state, account)

    @property
    def token(self) -> str:
        """The class-admin service's Hub API token (root-only file)."""
        return (self.state / "secrets" / "hub_token").read_text().strip()

    @property
    def students(self) -> list[str]:
        return list(self.settings["students"])


# --- names, folders, accounts ----------------------------------------------------------------


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


def default_state(root: Path) -> Path:
    return Path(os.environ.get(STATE_ENV) or Path(root) / "classroom" / "state")


def proxy_command(root: Path) -> str:
    """configurable-http-proxy as installed by the project (classroom/node_modules), else from PATH."""
    local = Path(root) / "classroom" / "node_modules" / ".bin" / "configurable-http-proxy"
    if local.exists():
        return str(local)
    found = shutil.which("configurable-http-proxy")
    if found:
        return found
    raise ClassServerError(
        f"configurable-http-proxy (JupyterHub's proxy, from npm) is not installed: run `{PROXY_MAKE_TARGET}` "
        f"(npm ci --prefix classroom; needs node and npm: apt-get install nodejs npm)")


def can_create_accounts() -> str | None:
    """Why this process cannot create system accounts, or None when it can."""
    if os.geteuid() != 0:
        return "the class server creates a system account per student and must run as root (sudo)"
    if not shutil.which("useradd"):
        return "useradd is not available (Debian: apt-get install passwd)"
    return None


def _home(state: Path, account: str) -> Path:
    return state / "home" / account


def ensure_account(state: Path, account: str) -> pwd.struct_passwd:
    """Create `account` with a private home under the state folder (kept if it already exists)."""
    try:
        return pwd.getpwnam(account)
    except KeyError:
        pass
    home = _home(state, account)
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
    _kill_user_processes(uid)
    subprocess.run(["userdel", "--remove", account], capture_output=True, text=True, check=False)
    remove_runtime_dir(uid)
    limits.remove(account)


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


def _kill_user_processes(uid: int) -> None:
    """End what an account of ours still runs (kernels a student left behind), by process id."""
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if proc.stat().st_uid == uid:
                    os.kill(int(proc.name), signal.SIGKILL)
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                pass


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


# --- processes --------------------------------------------------------------------------------


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


def load(state: Path) -> ClassServer | None:
    """The class recorded in `state`, or None if none was ever started there."""
    path = Path(state) / SETTINGS_FILE
    if not path.exists():
        return None
    return ClassServer(Path(state), json.loads(path.read_text()))


def is_running(server: ClassServer | None) -> bool:
    return bool(server) and any(_alive(server.settings.get(k)) for k in ("hub_pid", "mlflow_pid"))


def _secret(state: Path, name: str) -> str:
    path = state / "secrets" / name
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32) + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


def _spawn(command: list[str], log: Path, env: dict[str, str], cwd: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, env=env)


def _stop_group(pid: int | None, grace: float = 20) -> None:
    if not _alive(pid):
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    return
            except ChildProcessError:
                if not _alive(pid):
                    return
            time.sleep(0.1)


def _base_env(root: Path) -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if k not in (EXCHANGE_ENV, "MLOPS_COURSE_DB_URL", "MLFLOW_TRACKING_URI")}
    env.update(OFFLINE_ENV)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "/usr/bin:/bin")
    return env


def start(root: Path, students: list[str], state: Path | None = None, *, pg_port: int | None = None,
          hub_port: int | None = None, test_password: str | None = None, log=print) -> ClassServer:
    """Start the class server; `students` are account names (see `roster`). Idempotent on files, not on processes."""
    root = Path(root).resolve()
    state = Path(state or default_state(root)).resolve()
    for account in students:
        account_name(account)
    previous = load(state)
    if is_running(previous):
        raise ClassServerError(f"a class server is already running from {state} (hub at {previous.hub_url}); "
                               f"stop it first: mlops-course class-server stop")
    command = proxy_command(root)
    for what, port in (("PostgreSQL", pg_port), ("JupyterHub", hub_port)):
        if port and postgres.port_in_use(port):
            raise ClassServerError(f"{what}'s port {port} is already in use; choose another or leave it out for a free one")
    reason = can_create_accounts() or postgres.unavailable_reason()
    if reason:
        raise ClassServerError(f"cannot start the class server: {reason}")
    if not (Path(sys.executable).parent / "jupyterhub-singleuser").exists():
        raise ClassServerError("jupyterhub-singleuser is missing from the course's environment: run `make setup` "
                               "(it installs the classroom extra)")
    closed = close_answers(root)
    if closed:
        log(f"closed to students (they hold solutions or hidden tests): chmod o-rwx {' '.join(map(str, closed))}")

    state.mkdir(parents=True, exist_ok=True)
    state.chmod(0o711)  # accounts reach their homes and the exchange, and list nothing
    for sub, mode in (("secrets", 0o700), ("hub", 0o700), ("logs", 0o700), ("mlflow", 0o700), ("home", 0o711)):
        (state / sub).mkdir(exist_ok=True)
        (state / sub).chmod(mode)
    exchange = state / "exchange"
    exchange.mkdir(exist_ok=True)
    exchange.chmod(0o1777)  # as nbgrader's docs ask: everyone writes, nobody removes another's files

    python = ensure_runtime(state)
    singleuser = python.parent / "jupyterhub-singleuser"
    log(f"accounts: {INSTRUCTOR} and {len(students)} student(s)")
    prepare_instructor(state, root, exchange)
    prepare_inbound(exchange)
    for account in students:
        prepare_student(state, account, exchange)

    settings = {"state": str(state), "root": str(root), "students": students, "instructor": INSTRUCTOR,
                "test_logins": bool(test_password), "singleuser": str(singleuser), "proxy_command": command,
                "runtime_base": str(RUNTIME_BASE), "started": time.time(),
                # Each student's servers and kernels, together (the instructor, trusted, has none; see limits.py).
                "student_limits": asdict(STUDENT_LIMITS), "limits_mode": limits.cgroup_mode()}
    cluster = postgres.start_cluster(state / "postgres", pg_port, password=_secret(state, "postgres_password"))
    settings["pg_port"] = cluster.port
    server = ClassServer(state, settings)
    try:
        _save(server)
        log(f"PostgreSQL on 127.0.0.1:{cluster.port} (data in {cluster.data_dir})")
        gradebook_url = postgres.create_database(cluster, "gradebook")
        mlflow_db_url = postgres.create_database(cluster, "mlflow")
        auth_db_url = postgres.create_database(cluster, MLFLOW_AUTH_DATABASE)
        _save(server)
        settings["mlflow_port"] = free_port()
        env = _base_env(root)
        # The store's URL holds PostgreSQL's password: in the environment (root's alone), never on a command
        # line, which every account can read in /proc.
        mlflow = _spawn([str(Path(sys.executable).parent / "mlflow"), "server", "--app-name", "basic-auth",
                         "--host", "127.0.0.1", "--port", str(settings["mlflow_port"]),
                         "--artifacts-destination", str(state / "mlflow" / "artifacts"), "--workers", "1"],
                        state / "logs" / "mlflow.log",
                        {**env, **mlflow_auth_env(state, auth_db_url), "MLFLOW_BACKEND_STORE_URI": mlflow_db_url},
                        state / "mlflow")
        settings["mlflow_pid"] = mlflow.pid
        settings.update(hub_port=hub_port or free_port(), hub_api_port=free_port(), proxy_api_port=free_port())
        settings["environment"] = {
            **OFFLINE_ENV, "MLFLOW_TRACKING_URI": server.mlflow_url, EXCHANGE_ENV: str(exchange),
            "PATH": f"{python.parent}:/usr/local/bin:/usr/bin:/bin",
            # The shared environment's own kernel first, then the course's extensions and their settings.
            "JUPYTER_PATH": f"{python.parent.parent / 'share' / 'jupyter'}:{Path(sys.prefix) / 'share' / 'jupyter'}",
            "JUPYTER_CONFIG_PATH": str(Path(sys.prefix) / "etc" / "jupyter"),
        }
        _save(server)
        hub_env = {**env, "MLOPS_COURSE_CLASS_SETTINGS": str(state / SETTINGS_FILE),
                   "MLOPS_COURSE_HUB_TOKEN": _secret(state, "hub_token"), "MLOPS_COURSE_DB_URL": gradebook_url,
                   "CONFIGPROXY_AUTH_TOKEN": _secret(state, "proxy_token")}
        if test_password:
            hub_env["MLOPS_COURSE_TEST_PASSWORD"] = test_password
        hub = _spawn([str(Path(sys.executable).parent / "jupyterhub"), "-f", str(root / "classroom" / "jupyterhub_config.py")],
                     state / "logs" / "jupyterhub.log", hub_env, state / "hub")
        settings["hub_pid"] = hub.pid
        settings["on_submit_pid"] = _start_grading_on_submit(state, python, exchange, {**env, **settings["environment"]}).pid
        _save(server)
        # MLflow and the Hub start side by side; both must answer before the class can begin.
        wait_for(server.mlflow_url + "/health", START_TIMEOUT, proc=mlflow)
        log(f"MLflow tracking server at {server.mlflow_url} (artifacts in {state / 'mlflow' / 'artifacts'})")
        create_mlflow_accounts(server, students)
        log(f"MLflow accounts: {INSTRUCTOR} (admin) and {len(students)} student(s); each reads all, changes their own")
        wait_for(server.hub_url + "/hub/api/", START_TIMEOUT, proc=hub)
        log(f"JupyterHub at {server.hub_url} (log: {state / 'logs' / 'jupyterhub.log'})")
    except BaseException:
        stop(state)
        raise
    return server


def _start_grading_on_submit(state: Path, python: Path, exchange: Path, env: dict[str, str]) -> subprocess.Popen:
    """The watcher that grades hand-ins of the labs switched on (on_submit.py).

    It runs as root so that each hand-in's kernel runs as a user of its own under every limit of
    the grading sandbox (a process cap included), as the hostile-submission batch is graded: a
    student's hand-in must not be able to starve the class.
    """
    home = Path(pwd.getpwnam(INSTRUCTOR).pw_dir)
    command = [str(python), "-m", "mlops_course.classroom.on_submit", str(state), str(state / on_submit.WORK_DIR),
               str(home / "course" / SOURCE_DIR), str(exchange)]
    # The course's Jupyter paths (nbconvert's templates for the feedback pages), without a tracking
    # server: graded notebooks never reach MLflow.
    watcher_env = {**{k: v for k, v in env.items() if k != "MLFLOW_TRACKING_URI"}, EXCHANGE_ENV: str(exchange)}
    return _spawn(command, state / "logs" / "on-submit.log", watcher_env, state)


# --- MLflow's accounts -------------------------------------------------------------------------


def mlflow_password(state: Path, account: str) -> str:
    """An account's MLflow password: made once, kept in the root-only secrets folder, given to its server alone."""
    return _secret(state, f"mlflow-{account}")


def mlflow_auth_env(state: Path, auth_db_url: str) -> dict[str, str]:
    """What MLflow's basic-auth app needs: its settings file (users in PostgreSQL), the admin's password, a key.

    Every account may read everything (`default_permission = READ`, so a class leaderboard
    works); MLflow gives whoever creates an experiment or a registered model the right to
    change and delete it, and nobody else (the admin aside). The admin is the instructor.
    """
    config = state / "secrets" / "mlflow_auth.ini"
    config.write_text(f"[mlflow]\ndefault_permission = READ\ndatabase_uri = {auth_db_url}\n"
                      f"admin_username = {INSTRUCTOR}\n"
                      "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n")
    config.chmod(0o600)  # it holds the database's password
    return {"MLFLOW_AUTH_CONFIG_PATH": str(config), "MLFLOW_AUTH_ADMIN_PASSWORD": mlflow_password(state, INSTRUCTOR),
            "MLFLOW_FLASK_SERVER_SECRET_KEY": _secret(state, "mlflow_flask_key")}


def create_mlflow_accounts(server: ClassServer, accounts: list[str]) -> None:
    """An MLflow user per student account, its password the one in the secrets (reset if it was changed).

    MLflow creates the admin (the instructor) itself, from MLFLOW_AUTH_ADMIN_PASSWORD, on its first start.
    """
    import httpx

    logins = [server.mlflow_credentials(account) for account in accounts]  # made here, not in the threads

    def create(login: tuple[str, str]) -> None:
        body = {"username": login[0], "password": login[1]}
        answer = client.post("/api/2.0/mlflow/users/create", json=body)
        if answer.status_code == 400 and "RESOURCE_ALREADY_EXISTS" in answer.text:  # a restart
            answer = client.patch("/api/2.0/mlflow/users/update-password", json=body)
        if answer.status_code != 200:
            raise ClassServerError(f"MLflow did not create the account {login[0]} ({answer.status_code}): "
                                   f"{answer.text[:300]}; see {server.state / 'logs' / 'mlflow.log'}")

    with (httpx.Client(base_url=server.mlflow_url, auth=server.mlflow_credentials(INSTRUCTOR),
                       timeout=START_TIMEOUT) as client, ThreadPoolExecutor(max_workers=4) as pool):
        list(pool.map(create, logins))


def _unreachable(path: Path) -> Path | None:
    """The first folder on the way to `path` (symbolic links followed) that other accounts cannot enter."""
    path = Path(path).resolve()
    for folder in [*reversed(path.parents), path]:
        if folder.is_dir() and not folder.stat().st_mode & 0o001:
            return folder
    return None


def environment_unreachable() -> str | None:
    """Why students' accounts could not use the course's packages or code from where they are, or None."""
    for needed in (Path(sys.prefix) / "lib", Path(__file__)):
        blocked = _unreachable(needed)
        if blocked:
            return (f"students cannot run the course's environment: {blocked} is closed to other accounts; "
                    f"put the course where every account can read it (e.g. /srv/mlops-course) and run `make setup` there")
    return None


def ensure_runtime(state: Path) -> Path:
    """The Python every account's server and kernels run: the course's environment, reachable by all.

    The course's `.venv` is often made from a Python inside root's home (pyenv), which other
    accounts cannot enter. Then the same Python (its standard library, not its packages) is
    copied to `<state>/runtime/python`, and a small environment made from it in
    `<state>/runtime/env` loads the course's installed packages (a `.pth` file) and carries
    the course's commands and Jupyter kernel pointed at itself. The very same interpreter
    matters: Debian's own Python 3.11.2 differs enough (its `re`) to break the feedback pages.
    """
    venv, base = Path(sys.prefix), Path(sys.base_prefix).resolve()
    if not _unreachable(Path(sys.executable)) and not _unreachable(Path(__file__)):
        return Path(sys.executable)
    reason = environment_unreachable()
    if reason:
        raise ClassServerError(reason)
    runtime = state / "runtime"
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    copy = runtime / "python"
    if not (copy / "bin" / version).exists():
        skip = {base / "lib" / version / "site-packages", base / "lib" / version / "test"}
        shutil.copytree(base, copy, symlinks=True, dirs_exist_ok=True,
                        ignore=lambda folder, names: [n for n in names if Path(folder) / n in skip])
        _relocate(copy / "bin" / version, base)
    python = runtime / "env" / "bin" / "python"
    if not python.exists():
        subprocess.run([str(copy / "bin" / version), "-m", "venv", "--without-pip", str(runtime / "env")],
                       check=True, capture_output=True)
    env = runtime / "env"
    site = env / "lib" / version / "site-packages"
    (site / "mlops_course_env.pth").write_text(
        f"import site; site.addsitedir({str(venv / 'lib' / version / 'site-packages')!r})\n")
    for script in (venv / "bin").iterdir():  # the course's commands (jupyter, nbgrader, alembic, mlflow, ...)
        target = env / "bin" / script.name
        if script.is_file() and not script.is_symlink() and not target.exists():
            if script.read_bytes()[:200].startswith(f"#!{venv}/bin/python".encode()):
                target.write_text(f"#!{python}\n" + script.read_text().split("\n", 1)[1])
                target.chmod(0o755)
    for spec in (venv / "share" / "jupyter" / "kernels").glob("*/kernel.json"):
        data = json.loads(spec.read_text())
        data["argv"][0] = str(python)
        dest = env / "share" / "jupyter" / "kernels" / spec.parent.name
        dest.mkdir(parents=True, exist_ok=True)
        (dest / "kernel.json").write_text(json.dumps(data, indent=1))
    subprocess.run(["chmod", "-R", "a+rX", str(runtime)], check=True)
    return python


def _relocate(binary: Path, old_prefix: Path) -> None:
    """Point a copied interpreter at its own libpython: its RUNPATH names the old prefix's lib/.

    The path is rewritten in place as `$ORIGIN/../lib`, padded with NULs (never longer than
    the original, so the ELF layout is unchanged).
    """
    data = binary.read_bytes()
    old, new = str(old_prefix / "lib").encode() + b"\0", b"$ORIGIN/../lib\0"
    if data.count(old) != 1 or len(new) > len(old):
        return  # no absolute RUNPATH (a system Python): nothing to do
    binary.unlink()
    binary.write_bytes(data.replace(old, new.ljust(len(old), b"\0")))
    binary.chmod(0o755)


def _save(server: ClassServer) -> None:
    path = server.state / SETTINGS_FILE
    path.write_text(json.dumps(server.settings, indent=2) + "\n")
    path.chmod(0o600)


def stop(state: Path) -> list[str]:
    """Stop the Hub (and every single-user server and the proxy), MLflow and PostgreSQL; keep every file."""
    server = load(Path(state))
    if server is None:
        return []
    # The Hub (which stops every student's server first) and MLflow end side by side: neither needs the other.
    services = {"JupyterHub": server.settings.get("hub_pid"), "MLflow": server.settings.get("mlflow_pid"),
                "grading on submit": server.settings.get("on_submit_pid")}
    running = {name: pid for name, pid in services.items() if _alive(pid)}
    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(_stop_group, running.values()))
    stopped = list(running)
    for pid_file in ("proxy.pid",):
        path = server.state / "hub" / pid_file
        if path.exists():
            pid = int(path.read_text().strip() or 0)
            if _alive(pid):
                os.kill(pid, signal.SIGTERM)
                stopped.append("configurable-http-proxy")
            path.unlink()
    for account in [INSTRUCTOR, *server.students]:
        try:
            _kill_user_processes(pwd.getpwnam(account).pw_uid)
        except KeyError:
            pass
    data = server.state / "postgres"
    if (data / "postmaster.pid").exists():
        postgres.stop_cluster(postgres.Cluster(data, server.settings.get("pg_port", 0), postgres.find_bin_dir()))
        stopped.append("PostgreSQL")
    server.settings.pop("hub_pid", None)
    server.settings.pop("mlflow_pid", None)
    server.settings.pop("on_submit_pid", None)
    _save(server)
    return stopped


def teardown(state: Path) -> None:
    """Stop everything, remove the class's accounts and homes, and delete the state folder."""
    server = load(Path(state))
    stop(state)
    if server is not None:
        for account in [INSTRUCTOR, *server.students]:
            remove_account(account)
    shutil.rmtree(state, ignore_errors=True)


def status(state: Path) -> list[str]:
    """One line per part of the class server: running or not, and where."""
    server = load(Path(state))
    if server is None:
        return [f"no class server in {state} (start one: mlops-course class-server start --students N)"]
    s = server.settings
    lines = [f"state folder: {server.state}",
             f"JupyterHub: {'running at ' + server.hub_url if _alive(s.get('hub_pid')) else 'stopped'}",
             (f"MLflow: {'running at ' + server.mlflow_url if _alive(s.get('mlflow_pid')) else 'stopped'} "
              f"(accounts: everyone reads, each changes only their own; {INSTRUCTOR} is the admin)"),
             f"PostgreSQL: {'running on port ' + str(s.get('pg_port')) if (server.state / 'postgres' / 'postmaster.pid').exists() else 'stopped'}",
             f"accounts: {INSTRUCTOR} and {len(s['students'])} student(s): {', '.join(s['students'])}",
             _grading_on_submit_status(server)]
    if "student_limits" in s:
        lines += limits.describe(limits.StudentLimits(**s["student_limits"]), s.get("limits_mode"))
    return lines


def _grading_on_submit_status(server: ClassServer) -> str:
    labs = on_submit.labs_switched_on(server.state)
    switched = ", ".join(f"{lab} ({s.per_hour} an hour per student)" for lab, s in labs.items()) or "no lab switched on"
    running = "running" if _alive(server.settings.get("on_submit_pid")) else "stopped"
    return f"grading on submit: {running}; {switched} (log: {server.state / 'logs' / 'on-submit.log'})"


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
    if _unreachable(Path(path).parent):
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
