"""The reference stages of the Lab 06 pipeline: ingest, validate, split, train, evaluate, register.

Each stage is a function that reads its inputs from files, writes its outputs
to files and takes its settings from ``params.yaml``, so that DVC can decide
from the files alone whether a stage must run again. ``python -m
mlops_course.stages <stage>`` runs one of them in the current folder; that is
the command ``mlops_course.pipeline`` writes into ``dvc.yaml``. Lab 06's
learners declare the pipeline around these stages (its ``dvc.yaml``); the
package's tests, the benchmark and the grader run the same ones.
"""

from __future__ import annotations

import json
import pickle
import sys
from functools import lru_cache
from pathlib import Path

import pandas as pd
import yaml

from mlops_course.datasets import FEATURES, TARGET, build_dataset, split_by_months
from mlops_course.errors import ArgumentError, CourseError, DataError
from mlops_course.schema import Schema, infer_schema
from mlops_course.schema import validate as validate_frame

STAGES = ("ingest", "validate", "split", "train", "evaluate", "register")
# Where every stage reads and writes, relative to the pipeline's folder (the DVC project).
PARAMS = "params.yaml"
SCHEMA = "schema.json"
RAW = "data/flights.parquet"
VALIDATED = "data/validated.parquet"
SPLITS = {"train": "data/train.parquet", "validation": "data/validation.parquet", "test": "data/test.parquet"}
MODEL = "models/model.pkl"
METRICS = "metrics.json"
SLICES = "slices.json"
REGISTERED = "registered.json"
EXPERIMENT = "lab06-pipelines"


def read_params(folder: Path = Path(".")) -> dict:
    return yaml.safe_load((Path(folder) / PARAMS).read_text()) or {}


REFERENCE_SCHEMA = Path(__file__).with_name("flights-schema.json")


def infer_reference_schema() -> Schema:
    """The schema of the features and target inferred from the whole year: every honest sample fits it."""
    dataset, _ = build_dataset()
    return infer_schema(dataset, FEATURES + [TARGET], max_categories=200)


@lru_cache(maxsize=1)
def reference_schema() -> Schema:
    """The reviewed schema kept in version control (``flights-schema.json`` beside this module).

    Inferring it takes seconds; a test proves the file is what ``infer_reference_schema`` gives.
    """
    return Schema.from_json(REFERENCE_SCHEMA.read_text())


def ingest(folder: Path, params: dict) -> None:
    """Build the modeling table from the raw tables (a per-month sample of ``data.fraction``)."""
    data = params["data"]
    dataset, _ = build_dataset(fraction=float(data["fraction"]), seed=int(data["seed"]))
    _write(dataset, folder / RAW)


def validate(folder: Path, params: dict) -> None:
    """Stop the pipeline when the data does not match the reviewed schema: bad data must not train a model."""
    frame = pd.read_parquet(folder / RAW)
    schema = Schema.from_dict(json.loads((folder / SCHEMA).read_text()))
    report = validate_frame(frame[[c for c in frame.columns if c in schema.columns]], schema)
    if not report.ok:
        raise DataError(f"{RAW} does not match {SCHEMA}; fix the data or review the schema.\n{report}")
    _write(frame, folder / VALIDATED)


def split(folder: Path, params: dict) -> None:
    """Time-based train, validation and test windows: models are judged on months after their training."""
    windows = params["split"]
    frames = split_by_months(pd.read_parquet(folder / VALIDATED), train=windows["train_months"],
                             validation=windows["validation_months"], test=windows["test_months"])
    for name, path in SPLITS.items():
        _write(frames[name], folder / path)


def train(folder: Path, params: dict) -> None:
    """Fit the reference model and choose its threshold on the validation months."""
    from mlops_course.models import train as fit

    settings = dict(params["train"])
    model = fit(pd.read_parquet(folder / SPLITS["train"]), pd.read_parquet(folder / SPLITS["validation"]),
                seed=int(settings.pop("seed", 0)), **settings)
    (folder / MODEL).parent.mkdir(parents=True, exist_ok=True)
    (folder / MODEL).write_bytes(pickle.dumps(model))


def evaluate(folder: Path, params: dict) -> None:
    """Metrics on the test months, overall and per slice (e.g. per origin airport)."""
    from mlops_course.models import evaluate as measure

    model = load_model(folder)
    test = pd.read_parquet(folder / SPLITS["test"])
    metrics = {**measure(model, test), "threshold": model.threshold}
    (folder / METRICS).write_text(json.dumps(metrics, indent=2) + "\n")
    slices = slice_costs(model, test, params["evaluate"]["slice_column"])
    (folder / SLICES).write_text(json.dumps(slices, indent=2) + "\n")


def register(folder: Path, params: dict) -> None:
    """Log the model to MLflow, register it and point the candidate alias at it (the gate moves ``champion``)."""
    import mlflow

    from mlops_course.models import log_and_register
    from mlops_course.tracking import use_experiment

    settings = params["register"]
    model = load_model(folder)
    use_experiment(EXPERIMENT, folder)
    with mlflow.start_run(run_name="pipeline"):
        mlflow.log_params({f"{group}.{k}": v for group in ("data", "train") for k, v in params[group].items()})
        # No input example: the stage runs on every `dvc repro` that changes the model, and the gate
        # and the tests load the model without one.
        version = log_and_register(model, pd.read_parquet(folder / SPLITS["validation"]),
                                   alias=settings["alias"], name=settings["model_name"], with_example=False)
    record = {"name": settings["model_name"], "version": version, "alias": settings["alias"]}
    (folder / REGISTERED).write_text(json.dumps(record, indent=2) + "\n")


def load_model(folder: Path):
    return pickle.loads((Path(folder) / MODEL).read_bytes())


def slice_costs(model, frame: pd.DataFrame, column: str) -> dict[str, dict[str, float]]:
    """Expected cost and number of flights per value of ``column``: a model can win overall and lose a slice."""
    from mlops_course.models import expected_cost

    if column not in frame.columns:
        raise DataError(f"evaluate.slice_column is '{column}', which is not a column of the test data")
    warn = model.predict(frame)
    out = {}
    for value, rows in frame.groupby(column).indices.items():
        out[str(value)] = {"rows": float(len(rows)),
                           "expected_cost": expected_cost(frame[TARGET].to_numpy()[rows], warn[rows])}
    return out


def _write(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)


RUNNERS = {"ingest": ingest, "validate": validate, "split": split, "train": train, "evaluate": evaluate,
           "register": register}


def run(stage: str, folder: Path = Path(".")) -> None:
    """Run one stage in ``folder`` with the settings of its ``params.yaml``."""
    if stage not in RUNNERS:
        raise ArgumentError(f"unknown stage '{stage}'; the stages are: {', '.join(STAGES)}")
    folder = Path(folder)
    RUNNERS[stage](folder, read_params(folder))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(f"usage: python -m mlops_course.stages <{'|'.join(STAGES)}>", file=sys.stderr)
        return 2
    try:
        run(args[0])
    except (CourseError, ValueError, FileNotFoundError, KeyError) as error:
        print(f"error in stage '{args[0]}': {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
