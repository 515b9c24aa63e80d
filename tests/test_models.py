"""Does the reference model train, choose a costed threshold, and register a champion that loads back?"""

from __future__ import annotations

import numpy as np
import pytest

from mlops_course import datasets, models, tracking


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
    version = models.ensure_champion(workdir / "artifacts" / "datasets", list(datasets.TRAIN_MONTHS), list(datasets.VALIDATION_MONTHS), fraction=0.02)
    return workdir, version, mlflow


def test_ensure_champion_registers_once(registered):
    """Does a second call reuse the registered champion instead of training again?"""
    workdir, version, _ = registered
    assert models.ensure_champion(workdir / "artifacts" / "datasets", list(datasets.TRAIN_MONTHS), list(datasets.VALIDATION_MONTHS), fraction=0.02) == version


def test_the_champion_loads_back_with_its_threshold_and_beats_a_coin(registered):
    """Does models:/flight-delay@champion load, carrying the threshold its run chose and the dataset it learnt from,
    and rank flights of later months, which it never saw, better than a coin?"""
    from sklearn.metrics import roc_auc_score

    from mlops_course.datasets import FEATURES, TARGET, open_snapshot

    workdir, version, mlflow = registered
    client = mlflow.MlflowClient()
    champion = client.get_model_version_by_alias(models.MODEL_NAME, models.CHAMPION)
    assert str(champion.version) == version, f"the champion alias points at version {champion.version}, not {version}"
    chosen = mlflow.get_run(champion.run_id).data.params["threshold"]
    threshold = models.threshold_of()
    assert 0 < threshold < 1 and threshold == pytest.approx(float(chosen)), (
        f"the champion's threshold {threshold} should be the one its run chose, {chosen}")
    snapshot = open_snapshot(workdir / "artifacts" / "datasets", champion.tags["dataset_version"])
    later = snapshot.load().query("month >= 11")
    assert len(later) > 100 and later[TARGET].nunique() == 2, (
        f"the snapshot should hold late and on-time flights of November and December, it holds {len(later)} flights")
    loaded = mlflow.sklearn.load_model(f"models:/{models.MODEL_NAME}@{models.CHAMPION}")
    probabilities = loaded.predict_proba(later[FEATURES])
    assert probabilities.shape == (len(later), 2) and np.allclose(probabilities.sum(axis=1), 1), (
        f"one pair of probabilities per flight was expected, got shape {probabilities.shape}")
    auc = roc_auc_score(later[TARGET], probabilities[:, 1])
    assert auc > 0.6, f"the champion should rank late flights better than chance on months it never saw: ROC AUC {auc:.3f}"


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
