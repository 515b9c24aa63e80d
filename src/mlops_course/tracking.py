"""Where MLflow keeps runs and models for a lab: a local SQLite store, or the class's server.

Alone, a lab tracks into `artifacts/mlflow.db` inside its own folder, with
artifacts beside it, so it works offline and a grader's copy stays
self-contained. On a class server, `MLFLOW_TRACKING_URI` points every lab at
the shared tracking server instead, and MLflow tags each run with the user's
name (`mlflow.user`), so the instructor sees whose run is whose. That server
has accounts ($MLFLOW_TRACKING_USERNAME): only an experiment's or a model's
creator may change it, so each account's experiments and models carry its
name (`personal_name`), and every lab works unchanged for every student.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
REGISTRY_URI_ENV = "MLFLOW_REGISTRY_URI"
USERNAME_ENV = "MLFLOW_TRACKING_USERNAME"
ARTIFACTS_DIR = "artifacts"
# MLflow and DVC send usage telemetry unless told not to; the course runs offline. The one list of
# these variables: the course kernel (course.kernel), the grading sandbox, DVC's commands
# (pipeline.dvc_env), MLflow's scoring server (serving) and every lab that tracks get them.
OFFLINE_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DVC_NO_ANALYTICS": "1",
    "DO_NOT_TRACK": "1",
    "PYDEVD_DISABLE_FILE_VALIDATION": "1",
}
# MLflow's tracking server (`mlflow server`, `mlflow ui`) also starts a pool of job consumers unless
# told not to: Python processes that run server-side GenAI jobs (scorers, prompt optimisation),
# which no lab uses. Measured on 2 cores: seven processes, about 30 CPU-seconds at every start and
# 2 CPU-seconds a second while they settle. The class server and the tests run it without them.
TRACKING_SERVER_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def local_store(workdir: Path) -> Path:
    return Path(workdir).resolve() / ARTIFACTS_DIR


def tracking_uri(workdir: Path | None = None) -> str:
    """$MLFLOW_TRACKING_URI if set, else a SQLite store in the lab's artifacts/ folder (a new one seeded, `seed_store`)."""
    if os.environ.get(TRACKING_URI_ENV):
        return os.environ[TRACKING_URI_ENV]
    store = local_store(workdir or Path.cwd())
    store.mkdir(parents=True, exist_ok=True)
    seed_store(store / "mlflow.db")
    return f"sqlite:///{store / 'mlflow.db'}"


def empty_store() -> Path:
    """Where this environment keeps an empty, migrated MLflow database, one per MLflow version."""
    from mlflow.version import VERSION

    return Path(sys.prefix) / "share" / "mlops-course" / f"mlflow-{VERSION}-empty.db"


def seed_store(database: Path) -> None:
    """Start a new local store as a copy of `empty_store()`, made on first need where the environment is writable.

    MLflow builds a new SQLite store by running every migration of its schema: 1.4 CPU-seconds in
    each lab run, grader and pipeline stage that starts a store. The copy holds the tables and no
    experiment, so MLflow adds its Default experiment with this store's own artifact folder. Where no
    copy can be made (a read-only environment), MLflow builds the store itself, as before.
    """
    if database.exists():
        return
    template = empty_store()
    if not template.exists() and not _make_empty_store(template):
        return
    partial = database.with_name(f".{database.name}.{os.getpid()}")
    shutil.copyfile(template, partial)
    try:
        os.link(partial, database)  # never over a store another process made meanwhile
    except FileExistsError:
        pass
    finally:
        partial.unlink()


def _make_empty_store(template: Path) -> bool:
    import sqlite3
    import tempfile

    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    try:
        template.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=template.parent) as scratch:
            made = Path(scratch) / "empty.db"
            SqlAlchemyStore(f"sqlite:///{made}", Path(scratch).as_uri()).engine.dispose()
            with sqlite3.connect(made) as db:
                db.execute("DELETE FROM experiments")
            os.replace(made, template)
    except Exception:  # noqa: BLE001 (no template, for any reason: MLflow builds each store itself, as before)
        return False
    return True


def is_local(uri: str) -> bool:
    return uri.startswith("sqlite:")


def personal_name(name: str) -> str:
    """`name` as this account's own on a tracking server with accounts (`mc-alice.lab02-data`), else `name`.

    MLflow's accounts let everyone read an experiment or a registered model but only its
    creator change it: students sharing one name would lock out everyone after the first.
    The account's name comes first, joined with a dot (model names cannot hold '/' or ':').
    """
    user, uri = os.environ.get(USERNAME_ENV), os.environ.get(TRACKING_URI_ENV, "")
    if not user or not uri or is_local(uri) or name.startswith(f"{user}."):
        return name
    return f"{user}.{name}"


def configure_tracking(workdir: Path | None = None) -> str:
    """Point MLflow's tracking and model registry at the lab's store; returns its URI."""
    for name, value in OFFLINE_ENV.items():
        os.environ.setdefault(name, value)
    import mlflow

    before = {name: os.environ.get(name) for name in (TRACKING_URI_ENV, REGISTRY_URI_ENV)}
    uri = tracking_uri(workdir)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    # MLflow copies the URI into the environment for subprocesses. A lab's own store must not then
    # look like a class server to the next lab or test in this process, or to a kernel it starts.
    for name, value in before.items():
        if value is None:
            os.environ.pop(name, None)
    return uri


def use_experiment(name: str, workdir: Path | None = None) -> str:
    """Create (once) and select an experiment (the account's own on a class server); returns its id.

    With a local store, artifacts go to an explicit absolute folder beside the
    database; a tracking server decides where artifacts go itself.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    uri = configure_tracking(workdir)
    name = personal_name(name)
    existing = mlflow.get_experiment_by_name(name)
    if existing is not None:
        experiment_id = existing.experiment_id
    else:
        location = None
        if is_local(uri):
            location = (local_store(workdir or Path.cwd()) / "mlruns").as_uri()
        try:
            experiment_id = mlflow.create_experiment(name, artifact_location=location)
        except MlflowException as exc:
            # On a class server, another student may create it between our look-up and our create.
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            experiment_id = mlflow.get_experiment_by_name(name).experiment_id
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id
