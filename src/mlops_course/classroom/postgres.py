"""A private PostgreSQL cluster for a shared gradebook (and, on a class server, MLflow's store).

Debian's PostgreSQL packages install the server without starting it. This
module creates a cluster in a folder of ours, starts it on a free loopback
port with its socket in the same folder, creates databases and stops it:
tests use it to prove the grading tools work with PostgreSQL, and a class
server can keep its cluster under the course's state folder.

As root, PostgreSQL refuses to run; the cluster then belongs to the `postgres`
system user (created by Debian's package) and its commands run as that user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from mlops_course.errors import PostgresError
from mlops_course.serving import free_port

SYSTEM_USER = "postgres"
SUPERUSER = "postgres"


@dataclass(frozen=True)
class Cluster:
    data_dir: Path
    port: int
    bin_dir: Path
    # None: trust authentication on loopback (a test's private cluster). A class server sets one,
    # so that other accounts on the machine cannot connect to the gradebook over loopback.
    password: str | None = None

    def url(self, database: str) -> str:
        """A URL for nbgrader, SQLAlchemy or MLflow (psycopg2 driver, loopback only)."""
        secret = f":{self.password}" if self.password else ""
        return f"postgresql+psycopg2://{SUPERUSER}{secret}@127.0.0.1:{self.port}/{database}"


def find_bin_dir() -> Path | None:
    """The newest installed server's bin/ folder (Debian: /usr/lib/postgresql/<version>/bin)."""
    candidates = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "initdb").exists()]
    found = shutil.which("initdb")
    if found:
        candidates.append(Path(found).parent)
    return max(candidates, key=lambda p: _version(p), default=None)


def _version(bin_dir: Path) -> tuple[int, ...]:
    digits = [part for part in bin_dir.parts if part.replace(".", "").isdigit()]
    return tuple(int(x) for x in digits[-1].split(".")) if digits else (0,)


def unavailable_reason() -> str | None:
    """Why a cluster cannot be started here, or None when it can."""
    if find_bin_dir() is None:
        return "PostgreSQL's server is not installed (Debian/Ubuntu: apt-get install postgresql)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            return f"running as root, and there is no '{SYSTEM_USER}' system user to run PostgreSQL as"
    return None


def _run(command: list[str], what: str) -> str:
    if os.geteuid() == 0:
        command = ["runuser", "-u", SYSTEM_USER, "--", *command]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PostgresError(f"{what} failed:\n{(result.stderr or result.stdout).strip()[-1500:]}")
    return result.stdout


def start_cluster(data_dir: Path, port: int | None = None, password: str | None = None) -> Cluster:
    """Create the cluster in `data_dir` if it is new, and start it on `port` (default: a free one).

    With a `password`, a new cluster asks for it on every TCP connection (scram-sha-256); only
    its owner can use the Unix socket, which sits inside the private data folder.
    """
    reason = unavailable_reason()
    if reason:
        raise PostgresError(f"cannot start PostgreSQL: {reason}")
    bin_dir, data_dir = find_bin_dir(), Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        user = pwd.getpwnam(SYSTEM_USER)
        os.chown(data_dir, user.pw_uid, user.pw_gid)
        os.chmod(data_dir, 0o700)
    if not (data_dir / "PG_VERSION").exists():
        _initdb(bin_dir, data_dir, password)
    port = port or free_port()
    if port_in_use(port):
        raise PostgresError(f"port {port} is already in use; choose another or leave it empty for a free one")
    options = f"-k {data_dir} -p {port} -c listen_addresses=127.0.0.1"
    _run([str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-o", options, "-l", str(data_dir / "server.log"), "-w", "start"],
         f"starting PostgreSQL on port {port} (log: {data_dir / 'server.log'})")
    return Cluster(data_dir, port, bin_dir, password)


def _initdb(bin_dir: Path, data_dir: Path, password: str | None) -> None:
    command = [str(bin_dir / "initdb"), "-D", str(data_dir), "-U", SUPERUSER, "-E", "UTF8"]
    if not password:
        _run([*command, "--auth=trust"], f"initdb in {data_dir}")
        return
    # initdb reads the password from a file (never the command line, which `ps` shows to everyone).
    with tempfile.TemporaryDirectory(prefix="mlops-course-pw-") as tmp:
        pwfile = Path(tmp) / "pw"
        pwfile.write_text(password + "\n")
        pwfile.chmod(0o600)
        if os.geteuid() == 0:
            user = pwd.getpwnam(SYSTEM_USER)
            os.chown(tmp, user.pw_uid, user.pw_gid)
            os.chown(pwfile, user.pw_uid, user.pw_gid)
        _run([*command, "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}"],
             f"initdb in {data_dir}")


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def stop_cluster(cluster: Cluster) -> None:
    """Stop the server (fast shutdown: open connections are closed, data is kept)."""
    _run([str(cluster.bin_dir / "pg_ctl"), "-D", str(cluster.data_dir), "-m", "fast", "-w", "stop"],
         f"stopping PostgreSQL in {cluster.data_dir}")


def create_database(cluster: Cluster, name: str) -> str:
    """Create database `name` if it does not exist; returns its URL."""
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=cluster.port, user=SUPERUSER, dbname="postgres",
                            password=cluster.password)
    try:
        conn.autocommit = True  # CREATE DATABASE cannot run in a transaction
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()
    return cluster.url(name)


@contextmanager
def running_cluster(data_dir: Path, port: int | None = None) -> Iterator[Cluster]:
    """Start a cluster for the duration of a `with` block, and always stop it."""
    cluster = start_cluster(data_dir, port)
    try:
        yield cluster
    finally:
        stop_cluster(cluster)
