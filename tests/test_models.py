"""Does the reference model train, choose a costed threshold, and register a champion that loads back?"""

from __future__ import annotations

import numpy as np
import pytest

from mlops_course import models, tracking


def test_expected_cost_counts_each_error_at_its_price():
    """Does a missed warning cost $20 and a false alarm $5, averaged over flights?"""
    assert models.expected_cost([1, 1, 0, 0], [0, 1, 1, 0]) == pytest.approx((20 + 5) / 4)


def test_expected_cost_refuses_arrays_of_different_lengths():
    """Is a length mismatch an error rather than a silently truncated average?"""
    with pytest.raises(ValueError, match="equally long"):
        models.expected_cost([1, 0], [1])


def test_best_threshold_warns_below_one_half_when_misses_cost_more():
    """With misses four times dearer than false alarms, is the chosen threshold well below 0.5?"""
    rng = np.random.default_rng(0)
    probability = rng.uniform(size=5000)
    y = (rng.uniform(size=5000) < probability).astype(int)  # calibrated by construction
    assert 0.1 <= models.best_threshold(y, probability) <= 0.3


@pytest.fixture(scope="module")
def registered(mlflow_store):
    """The reference model registered as the champion in the module's own MLflow store, beside its dataset snapshots."""
    import mlflow

    workdir = mlflow_store.folder
    tracking.use_experiment("reference-model", workdir)
    version = models.ensure_champion(workdir / "artifacts" / "datasets", list(range(1, 9)), [9, 10], fraction=0.02)
    return workdir, version, mlflow


def test_ensure_champion_registers_once(registered):
    """Does a second call reuse the registered champion instead of training again?"""
    workdir, version, _ = registered
    assert models.ensure_champion(workdir / "artifacts" / "datasets", list(range(1, 9)), [9, 10], fraction=0.02) == version


def test_the_champion_loads_back_with_its_threshold_and_beats_a_coin(registered):
    """Does models:/flight-delay@champion load, predict probabilities and carry its threshold?"""
    workdir, version, mlflow = registered
    loaded = mlflow.sklearn.load_model(f"models:/{models.MODEL_NAME}@{models.CHAMPION}")
    threshold = models.threshold_of()
    assert 0 < threshold < 1
    metrics = mlflow.get_run(mlflow.MlflowClient().get_model_version(models.MODEL_NAME, version).run_id).data.metrics
    assert metrics["roc_auc"] > 0.6, f"the reference model should rank late flights better than chance: {metrics}"
    from mlops_course.datasets import FEATURES, open_snapshot

    snapshot_dir = workdir / "artifacts" / "datasets"
    snapshot = open_snapshot(snapshot_dir, sorted(snapshot_dir.glob("*.json"))[0].stem.split("-", 1)[1])
    rows = snapshot.load().head(50)
    probabilities = loaded.predict_proba(rows[FEATURES])
    assert probabilities.shape == (50, 2) and np.allclose(probabilities.sum(axis=1), 1)
    assert ((probabilities >= 0) & (probabilities <= 1)).all() and probabilities[:, 1].std() > 0, (
        "the champion should give each flight its own probability of a delay, not one value for all")


def test_the_record_scorer_answers_what_the_pipeline_answers(registered):
    """Does the one-record fast path give the pipeline's probabilities, for unknown categories and missing numbers too?"""
    import mlflow

    from mlops_course.datasets import FEATURES, build_dataset

    pipeline = mlflow.sklearn.load_model(f"models:/{models.MODEL_NAME}@{models.CHAMPION}")
    scorer = models.RecordScorer(pipeline)
    frame = build_dataset(months=[11], fraction=0.02, seed=3)[0][FEATURES].head(300).reset_index(drop=True)
    frame.loc[0, "carrier"] = "ZZ"  # a carrier the model has never seen
    frame.loc[1, "dest"] = None
    frame.loc[2, ["temp", "wind_gust"]] = np.nan
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    fast = np.array([scorer.probability(r) for r in records])
    assert scorer._forest is not None, "the course's model should take the flat-forest path"
    assert np.array_equal(fast, pipeline.predict_proba(frame)[:, 1]), "the fast path must give the very same floats"
