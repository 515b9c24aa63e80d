"""The class server's processes: PostgreSQL, MLflow, JupyterHub (its proxy and every user's server) and grading on submit.

Each service but PostgreSQL (postgres.py runs the cluster) starts in a session of its own,
its output in `<state>/logs`, so that stopping it stops everything it started; `stop_all`
ends them all and keeps every file. Their process ids go into the class's record
(state_folder.py), which is how a later command finds them.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mlops_course.classroom import on_submit, postgres
from mlops_course.classroom.accounts import INSTRUCTOR, kill_user_processes
from mlops_course.classroom.state_folder import (
    HUB_TOKEN_ENV,
    SETTINGS_ENV,
    TEST_PASSWORD_ENV,
    ClassSettings,
    hub_token,
    mlflow_password,
    postgres_password,
    proxy_pid_file,
    secret,
    settings_path,
)
from mlops_course.course.config import DB_URL_ENV, EXCHANGE_ENV
from mlops_course.course.kernel import OFFLINE_ENV
from mlops_course.course.layout import SOURCE_DIR
from mlops_course.errors import ClassServerError
from mlops_course.serving import process_alive, stop_group
from mlops_course.tracking import TRACKING_SERVER_ENV

START_TIMEOUT = 120.0
STOP_GRACE = 20.0  # the Hub stops every user's server before it ends
AUTH_CACHE_SECONDS = 600  # how long MLflow keeps a checked password (see mlflow_auth_env)
PROXY_MAKE_TARGET = "make classroom"
MLFLOW_AUTH_DATABASE = "mlflow_auth"  # MLflow's users and permissions, beside its backend store


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


def cluster(state: Path, settings: ClassSettings) -> postgres.Cluster:
    """The class's PostgreSQL cluster (the gradebook, MLflow's store and its accounts), with its password."""
    return postgres.Cluster(state / "postgres", settings.pg_port, postgres.find_bin_dir(),
                            password=postgres_password(state))


def base_env() -> dict[str, str]:
    """The services' environment: this one, offline, with no exchange, gradebook or tracking server of its own."""
    bin_dir = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if k not in (EXCHANGE_ENV, DB_URL_ENV, "MLFLOW_TRACKING_URI")}
    env.update(OFFLINE_ENV)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "/usr/bin:/bin")
    return env


def _spawn(command: list[str], log: Path, env: dict[str, str], cwd: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, env=env)


# --- MLflow and its accounts -------------------------------------------------------------------


def start_mlflow(state: Path, port: int, env: dict[str, str], store_url: str, auth_db_url: str) -> subprocess.Popen:
    """MLflow's tracking server with accounts (its basic-auth app), the artifacts in `<state>/mlflow/artifacts`.

    The store's URL holds PostgreSQL's password: in the environment (root's alone), never on a command
    line, which every account can read in /proc.
    """
    # One worker: MLflow's credential cache is per worker, and a password changed through one worker
    # would stay valid in another until the cache's time runs out (mlflow_auth_env).
    command = [str(Path(sys.executable).parent / "mlflow"), "server", "--app-name", "basic-auth",
               "--host", "127.0.0.1", "--port", str(port),
               "--artifacts-destination", str(state / "mlflow" / "artifacts"), "--workers", "1"]
    return _spawn(command, state / "logs" / "mlflow.log",
                  {**env, **TRACKING_SERVER_ENV, **mlflow_auth_env(state, auth_db_url),
                   "MLFLOW_BACKEND_STORE_URI": store_url}, state / "mlflow")


def mlflow_auth_env(state: Path, auth_db_url: str) -> dict[str, str]:
    """What MLflow's basic-auth app needs: its settings file (users in PostgreSQL), the admin's password, a key.

    Every account may read everything (`default_permission = READ`, so a class leaderboard
    works); MLflow gives whoever creates an experiment or a registered model the right to
    change and delete it, and nobody else (the admin aside). The admin is the instructor.

    MLflow checks the password of every request against its scrypt hash, 0.12 CPU-seconds each,
    and a student's `log_model` makes dozens of requests. Its credential cache keeps a successful
    check for `auth_cache_ttl_seconds`; with the one worker the server runs, a password changed
    through the API (as `create_mlflow_accounts` does on a restart) drops the cached entry at once.
    """
    config = state / "secrets" / "mlflow_auth.ini"
    config.write_text(f"[mlflow]\ndefault_permission = READ\ndatabase_uri = {auth_db_url}\n"
                      f"admin_username = {INSTRUCTOR}\n"
                      f"auth_cache_ttl_seconds = {AUTH_CACHE_SECONDS}\n"
                      "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n")
    config.chmod(0o600)  # it holds the database's password
    return {"MLFLOW_AUTH_CONFIG_PATH": str(config), "MLFLOW_AUTH_ADMIN_PASSWORD": mlflow_password(state, INSTRUCTOR),
            "MLFLOW_FLASK_SERVER_SECRET_KEY": secret(state, "mlflow_flask_key")}


def create_mlflow_accounts(state: Path, mlflow_url: str, accounts: list[str]) -> None:
    """An MLflow user per student account, its password the one in the secrets (reset if it was changed).

    MLflow creates the admin (the instructor) itself, from MLFLOW_AUTH_ADMIN_PASSWORD, on its first start.
    """
    import httpx

    logins = [(account, mlflow_password(state, account)) for account in accounts]  # made here, not in the threads

    def create(login: tuple[str, str]) -> None:
        body = {"username": login[0], "password": login[1]}
        answer = client.post("/api/2.0/mlflow/users/create", json=body)
        if answer.status_code == 400 and "RESOURCE_ALREADY_EXISTS" in answer.text:  # a restart
            answer = client.patch("/api/2.0/mlflow/users/update-password", json=body)
        if answer.status_code != 200:
            raise ClassServerError(f"MLflow did not create the account {login[0]} ({answer.status_code}): "
                                   f"{answer.text[:300]}; see {state / 'logs' / 'mlflow.log'}")

    admin = (INSTRUCTOR, mlflow_password(state, INSTRUCTOR))
    with (httpx.Client(base_url=mlflow_url, auth=admin, timeout=START_TIMEOUT) as client,
          ThreadPoolExecutor(max_workers=4) as pool):
        list(pool.map(create, logins))


# --- JupyterHub and grading on submit ----------------------------------------------------------


def start_hub(root: Path, state: Path, env: dict[str, str], gradebook_url: str,
              test_password: str | None) -> subprocess.Popen:
    """JupyterHub with classroom/jupyterhub_config.py, which reads the class's record; its secrets in its environment."""
    hub_env = {**env, SETTINGS_ENV: str(settings_path(state)), HUB_TOKEN_ENV: hub_token(state),
               DB_URL_ENV: gradebook_url, "CONFIGPROXY_AUTH_TOKEN": secret(state, "proxy_token")}
    if test_password:
        hub_env[TEST_PASSWORD_ENV] = test_password
    command = [str(Path(sys.executable).parent / "jupyterhub"), "-f", str(root / "classroom" / "jupyterhub_config.py")]
    return _spawn(command, state / "logs" / "jupyterhub.log", hub_env, state / "hub")


def start_grading_on_submit(state: Path, python: Path, exchange: Path, env: dict[str, str]) -> subprocess.Popen:
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


# --- stopping ----------------------------------------------------------------------------------


def stop_all(state: Path, settings: ClassSettings) -> list[str]:
    """Stop the Hub (and every single-user server and the proxy), MLflow, grading on submit and PostgreSQL.

    Returns the names of what was running. Every file stays; the record forgets the process ids
    (the caller saves it).
    """
    # The Hub (which stops every student's server first) and MLflow end side by side: neither needs the other.
    services = {"JupyterHub": settings.hub_pid, "MLflow": settings.mlflow_pid, "grading on submit": settings.on_submit_pid}
    running = {name: pid for name, pid in services.items() if process_alive(pid)}
    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(lambda pid: stop_group(pid, STOP_GRACE), running.values()))
    stopped = list(running)
    pid_file = proxy_pid_file(state)
    if pid_file.exists():
        pid = int(pid_file.read_text().strip() or 0)
        if process_alive(pid):
            os.kill(pid, signal.SIGTERM)
            stopped.append("configurable-http-proxy")
        pid_file.unlink()
    for account in [INSTRUCTOR, *settings.students]:
        try:
            kill_user_processes(pwd.getpwnam(account).pw_uid)
        except KeyError:
            pass
    if (state / "postgres" / "postmaster.pid").exists():
        postgres.stop_cluster(cluster(state, settings))
        stopped.append("PostgreSQL")
    settings.hub_pid = settings.mlflow_pid = settings.on_submit_pid = None
    return stopped
