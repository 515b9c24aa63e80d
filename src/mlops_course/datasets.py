"""The modeling dataset of the course: flights joined with weather, planes and airports, versioned.

Lab 02 has learners build each step of this themselves. Later labs (modeling,
deployment, monitoring, pipelines) need a dataset that is right even when a
learner's Lab 02 is unfinished, so they build it with this reference version:
one row per departed flight, with the features known the evening before the
flight, the target, and a lineage record that says exactly which inputs and
code produced it. Snapshots are content-addressed: the version *is* a hash of
the data, so the same data always has the same version.

The weather observed at the scheduled hour stands in for a forecast, a
simplification the Data chapter discusses.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mlops_course import __version__
from mlops_course.checks import require_frame
from mlops_course.data import load_flights, load_table
from mlops_course.errors import ArgumentError, JoinError, MissingFileError, SnapshotError, TrackingError

TARGET = "late"
LATE_THRESHOLD_MINUTES = 15
CATEGORICAL_FEATURES = ["carrier", "origin", "dest"]
NUMERIC_FEATURES = [
    "month", "day_of_week", "hour", "distance", "plane_age", "seats",
    "temp", "dewp", "humid", "wind_speed", "wind_gust", "precip", "pressure", "visib",
]
FEATURES = CATEGORICAL_FEATURES + NUMERIC_FEATURES
WEATHER_COLUMNS = ["temp", "dewp", "humid", "wind_speed", "wind_gust", "precip", "pressure", "visib"]
# Columns kept beside the features: an id, the time of the flight, and the raw delay for analysis.
ID_COLUMNS = ["flight_id", "year", "day", "sched_dep_time", "time_hour", "tailnum", "flight", "dep_delay"]
DATA_YEAR = 2013
# The course's time windows over 2013: a model learns from January to August, is chosen (with its
# threshold) on September and October, and is measured once on November and December, months it
# has never seen. The pipeline's params.yaml, the mutation grader and the tests all start from these.
TRAIN_MONTHS = (1, 2, 3, 4, 5, 6, 7, 8)
VALIDATION_MONTHS = (9, 10)
TEST_MONTHS = (11, 12)
SNAPSHOT_PREFIX = "flights"
# The name of the lineage record among an MLflow run's artifacts.
LINEAGE_ARTIFACT = "lineage.json"


def fingerprint(frame: pd.DataFrame) -> str:
    """A SHA-256 of a table's content, column names and types, independent of file format."""
    digest = hashlib.sha256()
    digest.update(json.dumps([[str(c), str(t)] for c, t in frame.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def _checked_left_join(left: pd.DataFrame, right: pd.DataFrame, on: list[str] | dict, what: str) -> pd.DataFrame:
    left_on, right_on = (list(on), list(on)) if isinstance(on, list) else (list(on), list(on.values()))
    if right.duplicated(right_on).any():
        raise JoinError(f"{what}: the key {right_on} is not unique in the right table, the join would duplicate flights")
    joined = left.merge(right, left_on=left_on, right_on=right_on, how="left", validate="many_to_one")
    if len(joined) != len(left):
        raise JoinError(f"{what}: {len(left)} flights went in, {len(joined)} came out")
    return joined


def join_tables(flights: pd.DataFrame, weather: pd.DataFrame, planes: pd.DataFrame, airports: pd.DataFrame) -> pd.DataFrame:
    """Flights with the weather at their origin in the scheduled hour, their plane and destination.

    Left joins keep every flight: a flight whose plane or destination is not
    in the reference tables keeps missing values rather than disappearing.
    """
    require_frame(flights, ["origin", "time_hour", "tailnum", "dest"], "flights")
    require_frame(weather, ["origin", "time_hour", *WEATHER_COLUMNS], "weather")
    require_frame(planes, ["tailnum", "year", "seats"], "planes")
    require_frame(airports, ["faa", "alt"], "airports")
    out = _checked_left_join(flights, weather[["origin", "time_hour", *WEATHER_COLUMNS]], ["origin", "time_hour"], "weather")
    plane_info = planes[["tailnum", "year", "seats"]].rename(columns={"year": "plane_year"})
    out = _checked_left_join(out, plane_info, ["tailnum"], "planes")
    out["plane_age"] = DATA_YEAR - out.pop("plane_year")
    dest_info = airports[["faa", "alt"]].rename(columns={"faa": "dest", "alt": "dest_alt"})
    return _checked_left_join(out, dest_info, ["dest"], "airports")


def add_features(joined: pd.DataFrame) -> pd.DataFrame:
    """Drop cancelled flights, add the target, a stable flight id and the day of the week."""
    out = joined.dropna(subset=["dep_delay"]).copy()
    out[TARGET] = (out["dep_delay"] >= LATE_THRESHOLD_MINUTES).astype(int)
    dates = pd.to_datetime(out[["year", "month", "day"]])
    out["day_of_week"] = dates.dt.dayofweek.astype("int64")
    out["flight_id"] = (
        dates.dt.strftime("%Y%m%d") + "-" + out["carrier"] + out["flight"].astype(str)
        + "-" + out["origin"] + "-" + out["sched_dep_time"].astype(str).str.zfill(4)
    )
    columns = ID_COLUMNS + FEATURES + ["dest_alt", TARGET]
    return out[columns].reset_index(drop=True)


def build_dataset(months: list[int] | None = None, fraction: float = 1.0, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """The modeling table and its lineage record (input hashes and row counts, code version, time)."""
    inputs = {
        "flights": load_flights(months=months, fraction=fraction, seed=seed),
        "weather": load_table("weather"),
        "planes": load_table("planes"),
        "airports": load_table("airports"),
    }
    dataset = add_features(join_tables(**inputs))
    lineage = {
        "inputs": {name: {"sha256": fingerprint(t), "rows": int(len(t))} for name, t in inputs.items()},
        "parameters": {"months": None if months is None else list(months), "fraction": fraction, "seed": seed},
        "code_version": code_version(),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "rows": int(len(dataset)),
        "version": fingerprint(dataset)[:12],
    }
    return dataset, lineage


def code_version() -> str:
    """The git commit of the course when it is a git checkout, otherwise the package version.

    A checkout with uncommitted changes is marked `-dirty`: its commit alone
    does not say which code ran.
    """
    import subprocess

    try:
        commit = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12", "--exclude=*"], cwd=Path(__file__).parent,
            capture_output=True, text=True, timeout=5, check=False,
        )
        if commit.returncode == 0 and commit.stdout.strip():
            return f"git:{commit.stdout.strip()}"
    except (OSError, subprocess.SubprocessError):
        pass
    return f"mlops-course=={__version__}"


def changed_inputs(lineage: dict, inputs: dict[str, pd.DataFrame]) -> list[str]:
    """The input tables that are not what the lineage record says a dataset was built from.

    A table is changed when its content hash or row count differs, or when it
    is missing from `inputs`; an empty list proves the inputs are the same.
    """
    recorded = lineage.get("inputs")
    if not isinstance(recorded, dict) or not recorded:
        raise SnapshotError("the lineage record has no 'inputs' to compare with: "
                            "pass the record build_dataset returned, or a snapshot's .lineage")
    changed = []
    for name, record in recorded.items():
        table = inputs.get(name)
        if table is None or len(table) != record["rows"] or fingerprint(table) != record["sha256"]:
            changed.append(name)
    return changed


def log_lineage(lineage: dict) -> None:
    """Record a dataset's lineage in the active MLflow run, so the run proves what it was trained on.

    Params hold what people search by (dataset version, each input's hash and
    rows); the whole record goes in as a JSON artifact for `lineage_of_run`.
    """
    import mlflow

    if mlflow.active_run() is None:
        raise TrackingError("log_lineage needs an active MLflow run: call it inside `with mlflow.start_run():`")
    params = {"dataset_version": lineage["version"], "dataset_rows": lineage["rows"], "code_version": lineage["code_version"]}
    for name, record in lineage["inputs"].items():
        params[f"input.{name}.sha256"] = record["sha256"]
        params[f"input.{name}.rows"] = record["rows"]
    mlflow.log_params(params)
    mlflow.set_tag("dataset_version", lineage["version"])
    mlflow.log_dict(lineage, LINEAGE_ARTIFACT)


def lineage_of_run(run_id: str) -> dict:
    """The lineage record an MLflow run logged with `log_lineage`."""
    import mlflow

    return mlflow.artifacts.load_dict(f"runs:/{run_id}/{LINEAGE_ARTIFACT}")


@dataclass(frozen=True)
class Snapshot:
    """A saved dataset: its version (content hash), the data file and the lineage record beside it."""

    version: str
    path: Path
    lineage_path: Path

    def load(self, verify: bool = True) -> pd.DataFrame:
        """The data; with `verify`, proven to be what was saved under this version (its hash is the version)."""
        frame = pd.read_parquet(self.path)
        if verify and fingerprint(frame)[:12] != self.version:
            raise SnapshotError(
                f"{self.path.name} no longer matches its version {self.version} (its content hashes to "
                f"{fingerprint(frame)[:12]}): the file was changed after it was saved; rebuild the dataset"
            )
        return frame

    @property
    def lineage(self) -> dict:
        return json.loads(self.lineage_path.read_text())


def _snapshot(folder: Path, version: str) -> Snapshot:
    return Snapshot(version, folder / f"{SNAPSHOT_PREFIX}-{version}.parquet", folder / f"{SNAPSHOT_PREFIX}-{version}.json")


def save_snapshot(dataset: pd.DataFrame, lineage: dict, folder: Path) -> Snapshot:
    """Write `flights-<version>.parquet` and its lineage `flights-<version>.json` into `folder`.

    The version is computed from the data, never taken on trust from the
    lineage record: a record that names another version is refused.
    """
    require_frame(dataset, [], "dataset")
    folder = Path(folder)
    version = fingerprint(dataset)[:12]
    if lineage.get("version") not in (None, version):
        raise SnapshotError(f"the lineage record names version {lineage['version']}, but the data is version {version}")
    folder.mkdir(parents=True, exist_ok=True)
    snapshot = _snapshot(folder, version)
    if not snapshot.path.exists():
        dataset.to_parquet(snapshot.path, index=False)
    snapshot.lineage_path.write_text(json.dumps({**lineage, "version": version}, indent=2) + "\n")
    return snapshot


def open_snapshot(folder: Path, version: str) -> Snapshot:
    """The snapshot with this version in `folder`; the error lists the versions that exist."""
    folder = Path(folder)
    snapshot = _snapshot(folder, version)
    if not snapshot.path.exists():
        known = sorted(p.stem.removeprefix(f"{SNAPSHOT_PREFIX}-") for p in folder.glob(f"{SNAPSHOT_PREFIX}-*.parquet"))
        raise MissingFileError(f"no dataset version '{version}' in {folder}; versions there: {known or 'none'} "
                               "(ensure_snapshot builds one)")
    return snapshot


def ensure_snapshot(folder: Path, months: list[int] | None = None, fraction: float = 1.0, seed: int = 0) -> Snapshot:
    """Build and save the dataset for these parameters, or reuse the snapshot already saved for them."""
    folder = Path(folder)
    months = None if months is None else list(months)
    wanted = {"months": months, "fraction": fraction, "seed": seed}
    for lineage_path in sorted(folder.glob(f"{SNAPSHOT_PREFIX}-*.json")):
        lineage = json.loads(lineage_path.read_text())
        if lineage.get("parameters") == wanted and lineage_path.with_suffix(".parquet").exists():
            return open_snapshot(folder, lineage["version"])
    dataset, lineage = build_dataset(months, fraction, seed)
    return save_snapshot(dataset, lineage, folder)


def split_by_months(dataset: pd.DataFrame, **windows: Sequence[int]) -> dict[str, pd.DataFrame]:
    """Time-based splits, e.g. ``split_by_months(df, train=TRAIN_MONTHS, validation=VALIDATION_MONTHS, test=TEST_MONTHS)``.

    Windows must not overlap, and each must come after the previous one: models are
    evaluated on the future, never on months they were trained on.
    """
    require_frame(dataset, ["month"], "dataset")
    previous: list[int] = []
    for name, months in windows.items():
        if previous and min(months) <= max(previous):
            raise ArgumentError(f"window '{name}' ({months}) must come after the previous windows ({previous}); "
                                "list the windows in time order")
        previous = previous + list(months)
    return {name: dataset[dataset["month"].isin(months)].reset_index(drop=True) for name, months in windows.items()}


def features_and_target(frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The feature columns (in the course's order) and the target as an int array."""
    require_frame(frame, FEATURES + [TARGET], "frame")
    return frame[FEATURES], frame[TARGET].to_numpy(dtype=int)
