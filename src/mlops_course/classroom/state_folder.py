"""A class's state folder: the class's record, its secrets and its folders, all under one path.

The record, `<state>/class.json`, is what `start` decided (ports, accounts, limits) and which
processes run; it is filled in as each service comes up, so that a start that fails halfway
can still be stopped. `stop` and `status` read it, and so does the Hub's configuration
(classroom/jupyterhub_config.py), which finds it through $MLOPS_COURSE_CLASS_SETTINGS: one
typed record, written and read as JSON here only, so both sides name its fields alike.

Secrets (passwords and tokens) are files in `<state>/secrets`, root's alone. They never enter
the record, nor a command line, which every account can read in /proc: the Hub gets its own in
its environment.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mlops_course.classroom.limits import StudentLimits

SETTINGS_FILE = "class.json"
# What the set-up gives the Hub in its environment.
SETTINGS_ENV = "MLOPS_COURSE_CLASS_SETTINGS"  # the record's path
HUB_TOKEN_ENV = "MLOPS_COURSE_HUB_TOKEN"  # the class-admin service's API token
TEST_PASSWORD_ENV = "MLOPS_COURSE_TEST_PASSWORD"  # every account's password, for tests and benchmarks only
# The state folder's own folders and their modes: accounts reach their homes, and list nothing.
FOLDERS = {"secrets": 0o700, "hub": 0o700, "logs": 0o700, "mlflow": 0o700, "home": 0o711}
LOOPBACK = "127.0.0.1"



def loopback_url(port: int) -> str:
    """A service of the class on this machine only: the Hub and MLflow listen on the loopback interface."""
    return f"http://{LOOPBACK}:{port}"

@dataclass
class ClassSettings:
    """What a class is made of and where it runs: the record `start` writes and everything else reads."""

    state: Path
    root: Path
    students: list[str]
    instructor: str
    singleuser: Path  # jupyterhub-singleuser, in the Python every account can run (shared_python.py)
    proxy_command: str
    runtime_base: Path  # the accounts' Jupyter runtime folders, one per uid (accounts.ensure_runtime_dir)
    # Each student's servers and kernels, together (the instructor, trusted, has none; see limits.py).
    student_limits: StudentLimits
    limits_mode: str | None  # limits.cgroup_mode(): "v2" or "v1" control groups, None for resource limits
    test_logins: bool = False  # every account logs in with one password (tests and benchmarks only)
    started: float = 0.0
    pg_port: int = 0
    mlflow_port: int = 0
    hub_port: int = 0
    hub_api_port: int = 0
    proxy_api_port: int = 0
    # The single-user servers' environment; each also gets its own runtime folder and MLflow login.
    environment: dict[str, str] = field(default_factory=dict)
    # The processes `stop` ends (None while they do not run).
    hub_pid: int | None = None
    mlflow_pid: int | None = None
    on_submit_pid: int | None = None

    @property
    def hub_url(self) -> str:
        """Where the Hub answers; only this machine reaches it (the proxy is the door for people)."""
        return loopback_url(self.hub_port)

    @property
    def mlflow_url(self) -> str:
        return loopback_url(self.mlflow_port)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str) + "\n"  # default=str: the paths

    @classmethod
    def from_json(cls, text: str) -> ClassSettings:
        data = json.loads(text)
        paths = {name: Path(data[name]) for name in ("state", "root", "singleuser", "runtime_base")}
        return cls(**{**data, **paths, "student_limits": StudentLimits(**data["student_limits"])})


def settings_path(state: Path) -> Path:
    return Path(state) / SETTINGS_FILE


def load_settings(state: Path) -> ClassSettings | None:
    """The record in `state`, or None if no class was ever started there."""
    path = settings_path(state)
    return ClassSettings.from_json(path.read_text()) if path.exists() else None


def save_settings(state: Path, settings: ClassSettings) -> None:
    path = settings_path(state)
    path.write_text(settings.to_json())
    path.chmod(0o600)


def hub_settings() -> ClassSettings:
    """The record of the class whose Hub reads it (the Hub's configuration, at the Hub's start)."""
    return ClassSettings.from_json(Path(os.environ[SETTINGS_ENV]).read_text())


def prepare(state: Path) -> Path:
    """The state folder and its own folders, with the modes they need; returns nbgrader's exchange."""
    state.mkdir(parents=True, exist_ok=True)
    state.chmod(0o711)  # accounts reach their homes and the exchange, and list nothing
    for sub, mode in FOLDERS.items():
        (state / sub).mkdir(exist_ok=True)
        (state / sub).chmod(mode)
    exchange = state / "exchange"
    exchange.mkdir(exist_ok=True)
    exchange.chmod(0o1777)  # as nbgrader's docs ask: everyone writes, nobody removes another's files
    return exchange


def proxy_pid_file(state: Path) -> Path:
    """configurable-http-proxy's process id: the Hub writes it there, and `stop` ends the proxy by it."""
    return Path(state) / "hub" / "proxy.pid"


# --- secrets -----------------------------------------------------------------------------------


def secret(state: Path, name: str) -> str:
    """A secret of the class, made on first use and kept in the root-only secrets folder."""
    path = Path(state) / "secrets" / name
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32) + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


def mlflow_password(state: Path, account: str) -> str:
    """An account's MLflow password: made once, kept in the root-only secrets folder, given to its server alone."""
    return secret(state, f"mlflow-{account}")


def hub_token(state: Path) -> str:
    """The class-admin service's Hub API token: the set-up, the tests and the benchmark drive the Hub with it."""
    return secret(state, "hub_token")


def postgres_password(state: Path) -> str:
    """The cluster's password: only root, the instructor's server and MLflow get it."""
    return secret(state, "postgres_password")
