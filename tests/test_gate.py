"""Does the promotion gate move `champion` only to a better model that passes every ML test and loses no slice?"""

from __future__ import annotations

import mlflow
import numpy as np
import pytest

from mlops_course import datasets, gate, models, tracking
from mlops_course.gate import GateError, GateRules

SLICES_EVEN = {"EWR": {"rows": 300.0, "expected_cost": 3.0}, "JFK": {"rows": 300.0, "expected_cost": 3.0}}


def test_worse_model_is_blocked():
    """Is a candidate that costs more than the champion blocked, with the figures in the reason?"""
    decision = gate.decide({"expected_cost": 3.2}, {"expected_cost": 3.0}, SLICES_EVEN, SLICES_EVEN, [])
    assert not decision.promote
    assert "3.2000 against the champion's 3.0000" in decision.reasons[0]


def test_improvement_below_the_margin_is_blocked_and_at_the_margin_promoted():
    """Is an improvement smaller than the margin blocked, and one exactly at the margin enough?"""
    rules = GateRules(margin=0.5)
    assert not gate.decide({"expected_cost": 2.75}, {"expected_cost": 3.0}, {}, {}, [], rules).promote
    assert gate.decide({"expected_cost": 2.5}, {"expected_cost": 3.0}, {}, {}, [], rules).promote


def test_model_failing_a_behaviour_test_is_blocked_however_good():
    """Is a much cheaper candidate blocked when one ML test failed, naming the test?"""
    decision = gate.decide({"expected_cost": 1.0}, {"expected_cost": 3.0}, SLICES_EVEN, SLICES_EVEN,
                           ["test_directional_heavier_rain_raises_risk"])
    assert not decision.promote
    assert decision.reasons == ["1 ML test(s) failed: test_directional_heavier_rain_raises_risk"]


def test_large_slice_that_loses_blocks_but_a_small_one_does_not():
    """Is a better average blocked when a large slice loses more than the limit, but not for a tiny slice?"""
    champion = {"EWR": {"rows": 300.0, "expected_cost": 3.0}, "LGA": {"rows": 20.0, "expected_cost": 1.0}}
    small_loss = {"EWR": {"rows": 300.0, "expected_cost": 2.0}, "LGA": {"rows": 20.0, "expected_cost": 5.0}}
    assert gate.decide({"expected_cost": 2.0}, {"expected_cost": 3.0}, small_loss, champion, []).promote
    large_loss = {"EWR": {"rows": 300.0, "expected_cost": 3.5}, "LGA": {"rows": 20.0, "expected_cost": 1.0}}
    decision = gate.decide({"expected_cost": 2.0}, {"expected_cost": 3.0}, large_loss, champion, [])
    assert not decision.promote and "slice 'EWR' (300 flights) costs 0.500 more" in decision.reasons[0]


def test_metric_where_higher_is_better():
    """With ROC AUC as the metric, is a higher value the improvement?"""
    rules = GateRules(metric="roc_auc", margin=0.01)
    assert gate.decide({"roc_auc": 0.72}, {"roc_auc": 0.70}, {}, {}, [], rules).promote
    assert not gate.decide({"roc_auc": 0.70}, {"roc_auc": 0.72}, {}, {}, [], rules).promote


def test_unknown_metric_is_named():
    """Is a gate on a metric the evaluation did not produce an error naming it?"""
    with pytest.raises(GateError, match="'f1'"):
        gate.decide({"expected_cost": 1.0}, {"expected_cost": 1.0}, {}, {}, [], GateRules(metric="f1"))


@pytest.fixture(scope="module")
def registry(mlflow_store):
    """A fresh MLflow store and the flights of 2% of 2013, split by months."""
    tracking.use_experiment("gate", mlflow_store.folder)
    dataset, _ = datasets.build_dataset(fraction=0.02)
    return datasets.split_by_months(dataset, train=datasets.TRAIN_MONTHS, validation=datasets.VALIDATION_MONTHS,
                                    test=datasets.TEST_MONTHS)


def _register(splits, shuffle: bool, alias: str) -> str:
    """Train the reference model (on shuffled labels: a broken one) and register it under ``alias``."""
    train = splits["train"].copy()
    if shuffle:
        train[datasets.TARGET] = np.random.default_rng(0).permutation(train[datasets.TARGET].to_numpy())
    model = models.train(train, splits["validation"], max_iter=40)
    with mlflow.start_run():
        return models.log_and_register(model, splits["validation"], alias=alias)


def test_gate_without_a_champion_names_the_problem(registry):
    """Does the gate refuse to run when no version has the champion alias, saying how to register one?"""
    with pytest.raises(GateError, match=r"no version of the model 'flight-delay' has the alias 'champion'"):
        gate.champion_version()


def test_gate_on_registered_models(registry, tmp_path):
    """Does run_gate block a candidate failing a test, promote the better one, then block a worse one?"""
    broken = _register(registry, shuffle=True, alias=models.CHAMPION)
    honest = _register(registry, shuffle=False, alias="candidate")
    failing = gate.run_gate(honest, registry["test"], ["test_directional_later_hour_raises_risk"])
    assert not failing.promote and failing.reasons == ["1 ML test(s) failed: test_directional_later_hour_raises_risk"]
    assert gate.champion_version() == broken

    better = gate.run_gate(honest, registry["test"], [])
    assert better.promote, better.reasons
    assert gate.champion_version() == honest
    assert mlflow.MlflowClient().get_model_version(models.MODEL_NAME, honest).tags["gate"] == "promoted"

    worse_version = _register(registry, shuffle=True, alias="candidate")
    worse = gate.run_gate(worse_version, registry["test"], [])
    assert not worse.promote and "below the required margin" in worse.reasons[0]
    assert gate.champion_version() == honest

    report = gate.write_report(worse, tmp_path / "report")
    text = report.read_text()
    assert "**Blocked**" in text and "| expected_cost |" in text and "| EWR |" in text
    assert (tmp_path / "report" / "slices.png").stat().st_size > 1000


def test_gate_refuses_the_champion_as_its_own_candidate(registry):
    """Is comparing the champion with itself refused instead of silently blocked?"""
    with pytest.raises(GateError, match="already the champion"):
        gate.run_gate(gate.champion_version(), registry["test"], [])
