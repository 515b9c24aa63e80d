"""The course's reference delay model: what Lab 03 asks learners to build, for the labs after it.

Labs 04-06 deploy, monitor and automate a registered ``champion`` model. So that
each of them works on its own (before Lab 03 is finished, on a grader's
machine, in CI), this module trains and registers the same kind of model Lab 03
builds: a scikit-learn ``Pipeline`` with a ``ColumnTransformer`` and a
``HistGradientBoostingClassifier``, with a decision threshold chosen from the
costs of errors that Lab 01 set. The learners' own code stays in the labs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mlops_course import forest
from mlops_course.checks import require_frame
from mlops_course.datasets import CATEGORICAL_FEATURES, FEATURES, NUMERIC_FEATURES, TARGET, features_and_target
from mlops_course.errors import ArgumentError, ModelError
from mlops_course.tracking import personal_name

# On a class server each student registers a model of their own (`mc-alice.flight-delay`, see personal_name).
MODEL_NAME = personal_name("flight-delay")
CHAMPION = "champion"
CHALLENGER = "challenger"
# Lab 01's costs of errors, in dollars per flight: the one place the course sets them.
COST_MISSED = 20
COST_FALSE_ALARM = 5
# Packages a served model needs; passed to MLflow explicitly, because inferring them costs seconds per model.
PIP_REQUIREMENTS = ["scikit-learn", "pandas", "numpy"]
# MLflow saves scikit-learn models with skops, which loads only the types it is told to trust.
# The boosted trees' predictor is one we build ourselves (skops flags it because a forged file could crash it);
# a fitted SimpleImputer keeps the numpy dtype it was fitted on (Lab 03's pipelines impute).
SKOPS_TRUSTED_TYPES = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor", "numpy.dtype"]


def build_pipeline(max_iter: int = 100, learning_rate: float = 0.1, max_leaf_nodes: int = 31, seed: int = 0):
    """An untrained pipeline: categories one-hot encoded (unknown ones ignored), numbers passed through.

    Gradient-boosted trees handle missing numbers themselves, so there is no imputer to keep in step
    between training and serving.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    encode = ColumnTransformer(
        [("categories", OneHotEncoder(handle_unknown="ignore", min_frequency=20, sparse_output=False), CATEGORICAL_FEATURES)],
        remainder="passthrough",
        verbose_feature_names_out=False,
    )
    model = HistGradientBoostingClassifier(
        max_iter=max_iter, learning_rate=learning_rate, max_leaf_nodes=max_leaf_nodes, random_state=seed
    )
    return Pipeline([("encode", encode), ("model", model)])


def expected_cost(y_true: np.ndarray, y_pred: np.ndarray, cost_missed: float = COST_MISSED,
                  cost_false_alarm: float = COST_FALSE_ALARM) -> float:
    """Average cost per flight of the warnings ``y_pred`` given the outcomes ``y_true``."""
    y_true, y_pred = np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)
    if len(y_true) == 0 or len(y_true) != len(y_pred):
        raise ArgumentError(f"expected_cost needs two equally long, non-empty arrays; got {len(y_true)} and {len(y_pred)}: "
                            "pass the outcomes and the warnings of the same flights")
    missed = np.sum((y_true == 1) & (y_pred == 0))
    false_alarms = np.sum((y_true == 0) & (y_pred == 1))
    return float((missed * cost_missed + false_alarms * cost_false_alarm) / len(y_true))


def best_threshold(y_true: np.ndarray, probability: np.ndarray) -> float:
    """The warning threshold with the lowest expected cost on these outcomes (a grid of 0.01 steps).

    With Lab 01's costs the break-even is near cost_false_alarm / (cost_missed + cost_false_alarm) = 0.2
    for a calibrated model; searching the grid also corrects for a model that is not calibrated.
    """
    grid = np.round(np.arange(0.01, 1.0, 0.01), 2)
    probability = np.asarray(probability, dtype=float)
    costs = [expected_cost(y_true, (probability >= t).astype(int)) for t in grid]
    return float(grid[int(np.argmin(costs))])


@dataclass
class TrainedModel:
    """A fitted pipeline with the threshold chosen for it and its validation figures."""

    pipeline: object
    threshold: float
    metrics: dict[str, float]

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        require_frame(frame, FEATURES, "frame")
        return self.pipeline.predict_proba(frame[FEATURES])[:, 1]

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(frame) >= self.threshold).astype(int)


def evaluate(model: TrainedModel, frame: pd.DataFrame) -> dict[str, float]:
    """Expected cost (the course's chosen metric), ROC AUC and the late rate on labelled flights."""
    from sklearn.metrics import roc_auc_score

    _, y = features_and_target(frame)
    probability = model.predict_proba(frame)
    return {
        "expected_cost": expected_cost(y, (probability >= model.threshold).astype(int)),
        "roc_auc": float(roc_auc_score(y, probability)) if len(set(y)) == 2 else float("nan"),
        "late_rate": float(np.mean(y)),
        "rows": float(len(y)),
    }


def train(train_frame: pd.DataFrame, validation_frame: pd.DataFrame, seed: int = 0, **params) -> TrainedModel:
    """Fit on ``train_frame``, choose the threshold and measure on ``validation_frame``."""
    require_frame(train_frame, FEATURES + [TARGET], "train_frame")
    require_frame(validation_frame, FEATURES + [TARGET], "validation_frame")
    x, y = features_and_target(train_frame)
    pipeline = build_pipeline(seed=seed, **params).fit(x, y)
    _, y_val = features_and_target(validation_frame)
    probability = pipeline.predict_proba(validation_frame[FEATURES])[:, 1]
    model = TrainedModel(pipeline, best_threshold(y_val, probability), {})
    model.metrics = evaluate(model, validation_frame)
    return model


def input_example(frame: pd.DataFrame, rows: int = 3) -> pd.DataFrame:
    """A few rows of features, with integer columns as floats so that missing values in requests fit the signature."""
    example = frame[FEATURES].head(rows).copy()
    for column in NUMERIC_FEATURES:
        example[column] = example[column].astype("float64")
    return example


def log_and_register(model: TrainedModel, example_frame: pd.DataFrame, alias: str = CHAMPION,
                     name: str = MODEL_NAME, tags: dict[str, str] | None = None, with_example: bool = True) -> str:
    """Log the pipeline inside the active MLflow run, register it under ``name`` and point ``alias`` at it.

    The threshold goes into the version's tags, so a service loading ``models:/name@alias`` knows when
    to warn. Returns the new version number. The signature always comes from ``example_frame``; with
    ``with_example`` a few of its rows are saved too, as the input example MLflow's UI and ``mlflow
    models serve`` show, which costs MLflow a reload of the model to check them (half a second).
    """
    import mlflow
    from mlflow.models import infer_signature

    example = input_example(example_frame)
    signature = infer_signature(example, model.pipeline.predict_proba(example)[:, 1])
    info = mlflow.sklearn.log_model(
        model.pipeline, name="model", signature=signature, input_example=example if with_example else None,
        pip_requirements=PIP_REQUIREMENTS, registered_model_name=name, skops_trusted_types=SKOPS_TRUSTED_TYPES,
    )
    mlflow.log_metrics(model.metrics)
    mlflow.log_param("threshold", model.threshold)
    client = mlflow.MlflowClient()
    version = str(info.registered_model_version)
    client.set_model_version_tag(name, version, "threshold", str(model.threshold))
    for key, value in (tags or {}).items():
        client.set_model_version_tag(name, version, key, value)
    client.set_registered_model_alias(name, alias, version)
    return version


def threshold_of(name: str = MODEL_NAME, alias: str = CHAMPION) -> float:
    """The decision threshold stored with the model version that ``alias`` points at."""
    import mlflow

    version = mlflow.MlflowClient().get_model_version_by_alias(name, alias)
    if "threshold" not in version.tags:
        raise ModelError(f"model {name}@{alias} (version {version.version}) has no 'threshold' tag; "
                         "register it with mlops_course.models.log_and_register")
    return float(version.tags["threshold"])


def ensure_champion(snapshots: Path, train_months: list[int], validation_months: list[int],
                    fraction: float = 1.0, seed: int = 0, name: str = MODEL_NAME) -> str:
    """Make sure ``models:/name@champion`` exists in the current tracking store; returns its version.

    A lab that starts from a registered model calls this first: the first time it builds the
    reference dataset snapshot, trains the reference model on ``train_months``, and registers it
    with its lineage; later calls reuse what is there.
    """
    import mlflow

    from mlops_course.datasets import ensure_snapshot, log_lineage, split_by_months

    client = mlflow.MlflowClient()
    try:
        return str(client.get_model_version_by_alias(name, CHAMPION).version)
    except mlflow.exceptions.MlflowException:
        pass
    snapshot = ensure_snapshot(snapshots, fraction=fraction, seed=seed)
    splits = split_by_months(snapshot.load(), train=train_months, validation=validation_months)
    model = train(splits["train"], splits["validation"], seed=seed)
    with mlflow.start_run(run_name="reference-champion"):
        log_lineage(snapshot.lineage)
        return log_and_register(model, splits["validation"], tags={"dataset_version": snapshot.version})


class RecordScorer:
    """Scores one flight given as a dict without building a DataFrame: the fast path of an online service.

    A fitted pipeline spends most of a one-row prediction in pandas and input checks, not in the
    trees. This scorer learns once where each category and number lands in the encoder's output
    (by asking the fitted encoder itself, so it cannot drift from it), then fills that array directly
    for each request. ``tests/test_models.py`` proves it gives the pipeline's probabilities.

    The row then goes through the model's trees as ``forest.FlatForest`` lays them out: all trees
    walked at once in numpy, about ten times faster for one row than scikit-learn's loop over
    its trees, with the same probability. A model FlatForest does not handle is scored by its own
    ``predict_proba`` on one OpenMP thread: the trees would share one row's work among all cores,
    and waking those threads costs more than the prediction itself (on a busy machine, several
    times more). The pool is limited only for the call, so batch scoring keeps every core.
    """

    def __init__(self, pipeline) -> None:
        from threadpoolctl import ThreadpoolController

        encoder, self.model = pipeline.named_steps["encode"], pipeline.named_steps["model"]
        names = list(encoder.get_feature_names_out())
        self.width = len(names)
        self.numeric = [(column, names.index(column)) for column in NUMERIC_FEATURES]
        self.categories = {column: self._positions(encoder, column) for column in CATEGORICAL_FEATURES}
        self._forest = forest.FlatForest(self.model) if forest.supports(self.model) else None
        # Only the fallback needs the thread pools; finding them takes milliseconds, so once.
        self._threads = None if self._forest else ThreadpoolController()

    @staticmethod
    def _positions(encoder, column: str) -> dict[str, int]:
        """Where the encoder puts a 1 for each category of ``column`` (infrequent ones share a column)."""
        onehot = encoder.named_transformers_["categories"]
        known = list(onehot.categories_[CATEGORICAL_FEATURES.index(column)])
        rows = pd.DataFrame({c: [None] * len(known) for c in FEATURES})
        for other in CATEGORICAL_FEATURES:
            rows[other] = known if other == column else onehot.categories_[CATEGORICAL_FEATURES.index(other)][0]
        for number in NUMERIC_FEATURES:
            rows[number] = 0.0
        block = [i for i, name in enumerate(encoder.get_feature_names_out()) if name.startswith(f"{column}_")]
        encoded = np.asarray(encoder.transform(rows))[:, block]
        return {category: block[int(np.argmax(row))] for category, row in zip(known, encoded) if row.max() == 1}

    def vector(self, record: dict) -> np.ndarray:
        row = np.zeros((1, self.width))
        for column, position in self.categories.items():
            where = position.get(record.get(column))
            if where is not None:
                row[0, where] = 1.0
        for column, where in self.numeric:
            value = record.get(column)
            row[0, where] = np.nan if value is None else float(value)
        return row

    def probability(self, record: dict) -> float:
        row = self.vector(record)
        if self._forest is not None:
            return self._forest.probability(row[0])
        with self._threads.limit(limits=1, user_api="openmp"):
            return float(self.model.predict_proba(row)[0, 1])
