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
  account's own, `/run/mlops-course/<uid>` (see `accounts.ensure_runtime_dir`);
- per-student limits (a process cap, a memory cap, a fair CPU share: control
  groups where the machine lets us write them, else resource limits; see
  `limits.py`), which `status` lists with what cannot be enforced here.

`stop` stops every process and keeps every file, so a restart loses nothing;
`teardown` also removes the accounts, their homes and runtime folders, and the state folder.

This module is what the command line calls; the work is done by `accounts` (system accounts
and their homes), `state_folder` (the class's record, secrets and folders), `shared_python`
(the Python every account runs), `answers` (solutions closed to students) and `services`
(the processes).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from mlops_course.classroom import accounts, answers, limits, on_submit, postgres, services, shared_python, state_folder
from mlops_course.classroom.accounts import INSTRUCTOR
from mlops_course.classroom.state_folder import ClassSettings
from mlops_course.errors import ClassServerError
from mlops_course.serving import free_port, process_alive, wait_for

STATE_ENV = "MLOPS_COURSE_CLASS_STATE"
STUDENT_LIMITS = limits.StudentLimits()


@dataclass
class ClassServer:
    """A running (or stopped) class server: its state folder and the record kept there (`<state>/class.json`)."""

    state: Path
    settings: ClassSettings

    @property
    def hub_url(self) -> str:
        return self.settings.hub_url

    @property
    def mlflow_url(self) -> str:
        return self.settings.mlflow_url

    @property
    def gradebook_url(self) -> str:
        """The shared gradebook's database URL, with its password: for root and the instructor only."""
        return services.cluster(self.state, self.settings).url("gradebook")

    def mlflow_credentials(self, account: str) -> tuple[str, str]:
        """The MLflow login of a class account (root-only file); the instructor's is MLflow's admin."""
        return account, state_folder.mlflow_password(self.state, account)

    @property
    def token(self) -> str:
        """The class-admin service's Hub API token (root-only file)."""
        return state_folder.hub_token(self.state)

    @property
    def students(self) -> list[str]:
        return list(self.settings.students)

    def save(self) -> None:
        """Write the record now, so that a start failing from here on can still be stopped."""
        state_folder.save_settings(self.state, self.settings)


def default_state(root: Path) -> Path:
    return Path(os.environ.get(STATE_ENV) or Path(root) / "classroom" / "state")


def load(state: Path) -> ClassServer | None:
    """The class recorded in `state`, or None if none was ever started there."""
    settings = state_folder.load_settings(Path(state))
    return None if settings is None else ClassServer(Path(state), settings)


def is_running(server: ClassServer | None) -> bool:
    return bool(server) and any(process_alive(pid) for pid in (server.settings.hub_pid, server.settings.mlflow_pid))


# --- start -------------------------------------------------------------------------------------


def start(root: Path, students: list[str], state: Path | None = None, *, pg_port: int | None = None,
          hub_port: int | None = None, test_password: str | None = None, log=print) -> ClassServer:
    """Start the class server; `students` are account names (see `roster`). Idempotent on files, not on processes."""
    root = Path(root).resolve()
    state = Path(state or default_state(root)).resolve()
    proxy = _check_can_start(root, students, state, pg_port, hub_port)
    closed = answers.close_answers(root)
    if closed:
        log(f"closed to students (they hold solutions or hidden tests): chmod o-rwx {' '.join(map(str, closed))}")

    exchange = state_folder.prepare(state)
    python = shared_python.ensure_runtime(state)
    log(f"accounts: {INSTRUCTOR} and {len(students)} student(s)")
    accounts.prepare_instructor(state, root, exchange)
    accounts.prepare_inbound(exchange)
    for account in students:
        accounts.prepare_student(state, account, exchange)

    settings = ClassSettings(state=state, root=root, students=students, instructor=INSTRUCTOR,
                             test_logins=bool(test_password), singleuser=python.parent / "jupyterhub-singleuser",
                             proxy_command=proxy, runtime_base=accounts.RUNTIME_BASE, started=time.time(),
                             student_limits=STUDENT_LIMITS, limits_mode=limits.cgroup_mode())
    cluster = postgres.start_cluster(state / "postgres", pg_port, password=state_folder.postgres_password(state))
    settings.pg_port = cluster.port
    server = ClassServer(state, settings)
    try:
        server.save()
        log(f"PostgreSQL on 127.0.0.1:{cluster.port} (data in {cluster.data_dir})")
        _start_services(server, cluster, python, exchange, hub_port, test_password, log)
    except BaseException:
        stop(state)
        raise
    return server


def _check_can_start(root: Path, students: list[str], state: Path, pg_port: int | None, hub_port: int | None) -> str:
    """Refuse, before anything is made, what cannot start; returns the proxy's command."""
    for account in students:
        accounts.account_name(account)
    previous = load(state)
    if is_running(previous):
        raise ClassServerError(f"a class server is already running from {state} (hub at {previous.hub_url}); "
                               f"stop it first: mlops-course class-server stop")
    command = services.proxy_command(root)
    for what, port in (("PostgreSQL", pg_port), ("JupyterHub", hub_port)):
        if port and postgres.port_in_use(port):
            raise ClassServerError(f"{what}'s port {port} is already in use; choose another or leave it out for a free one")
    reason = accounts.can_create_accounts() or postgres.unavailable_reason()
    if reason:
        raise ClassServerError(f"cannot start the class server: {reason}")
    if not (Path(sys.executable).parent / "jupyterhub-singleuser").exists():
        raise ClassServerError("jupyterhub-singleuser is missing from the course's environment: run `make setup` "
                               "(it installs the classroom extra)")
    return command


def _start_services(server: ClassServer, cluster: postgres.Cluster, python: Path, exchange: Path,
                    hub_port: int | None, test_password: str | None, log) -> None:
    """MLflow, the Hub and grading on submit, each recorded as soon as it runs; then the class's MLflow accounts."""
    state, settings = server.state, server.settings
    gradebook_url = postgres.create_database(cluster, "gradebook")
    mlflow_db_url = postgres.create_database(cluster, "mlflow")
    auth_db_url = postgres.create_database(cluster, services.MLFLOW_AUTH_DATABASE)
    env = services.base_env()
    settings.mlflow_port = free_port()
    mlflow = services.start_mlflow(state, settings.mlflow_port, env, mlflow_db_url, auth_db_url)
    settings.mlflow_pid = mlflow.pid
    settings.hub_port, settings.hub_api_port, settings.proxy_api_port = hub_port or free_port(), free_port(), free_port()
    settings.environment = shared_python.singleuser_environment(python, settings.mlflow_url, exchange)
    server.save()
    hub = services.start_hub(settings.root, state, env, gradebook_url, test_password)
    settings.hub_pid = hub.pid
    settings.on_submit_pid = services.start_grading_on_submit(state, python, exchange, {**env, **settings.environment}).pid
    server.save()
    # MLflow and the Hub start side by side; both must answer before the class can begin.
    wait_for(server.mlflow_url + "/health", services.START_TIMEOUT, proc=mlflow)
    log(f"MLflow tracking server at {server.mlflow_url} (artifacts in {state / 'mlflow' / 'artifacts'})")
    services.create_mlflow_accounts(state, server.mlflow_url, server.students)
    log(f"MLflow accounts: {INSTRUCTOR} (admin) and {len(server.students)} student(s); each reads all, changes their own")
    wait_for(server.hub_url + "/hub/api/", services.START_TIMEOUT, proc=hub)
    log(f"JupyterHub at {server.hub_url} (log: {state / 'logs' / 'jupyterhub.log'})")


# --- stop, teardown, status --------------------------------------------------------------------


def stop(state: Path) -> list[str]:
    """Stop the Hub (and every single-user server and the proxy), MLflow and PostgreSQL; keep every file."""
    server = load(Path(state))
    if server is None:
        return []
    stopped = services.stop_all(server.state, server.settings)
    server.save()
    return stopped


def teardown(state: Path) -> None:
    """Stop everything, remove the class's accounts and homes, and delete the state folder."""
    server = load(Path(state))
    stop(state)
    if server is not None:
        for account in [INSTRUCTOR, *server.students]:
            accounts.remove_account(account)
    shutil.rmtree(state, ignore_errors=True)


def status(state: Path) -> list[str]:
    """One line per part of the class server: running or not, and where."""
    server = load(Path(state))
    if server is None:
        return [f"no class server in {state} (start one: mlops-course class-server start --students N)"]
    s = server.settings
    postgres_running = (server.state / "postgres" / "postmaster.pid").exists()
    return [f"state folder: {server.state}",
            f"JupyterHub: {'running at ' + server.hub_url if process_alive(s.hub_pid) else 'stopped'}",
            (f"MLflow: {'running at ' + server.mlflow_url if process_alive(s.mlflow_pid) else 'stopped'} "
             f"(accounts: everyone reads, each changes only their own; {INSTRUCTOR} is the admin)"),
            f"PostgreSQL: {'running on port ' + str(s.pg_port) if postgres_running else 'stopped'}",
            f"accounts: {INSTRUCTOR} and {len(s.students)} student(s): {', '.join(s.students)}",
            _grading_on_submit_status(server),
            *limits.describe(s.student_limits, s.limits_mode)]


def _grading_on_submit_status(server: ClassServer) -> str:
    labs = on_submit.labs_switched_on(server.state)
    switched = ", ".join(f"{lab} ({s.per_hour} an hour per student)" for lab, s in labs.items()) or "no lab switched on"
    running = "running" if process_alive(server.settings.on_submit_pid) else "stopped"
    return f"grading on submit: {running}; {switched} (log: {server.state / 'logs' / 'on-submit.log'})"
