"""Does the flat forest give exactly scikit-learn's probabilities, and refuse the models it cannot score?"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from mlops_course.forest import FlatForest, supports


def _data(seed: int, n: int = 3000, classes: int = 2):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6))
    x[rng.uniform(size=x.shape) < 0.1] = np.nan  # missing values, so that trees learn where they go
    y = (np.nan_to_num(x[:, 0]) + np.nan_to_num(x[:, 1]) * 0.5 + rng.normal(size=n) > 0).astype(int)
    if classes > 2:
        y = y + (np.nan_to_num(x[:, 2]) > 1)
    return x, y


def test_probabilities_are_the_same_floats_as_predict_proba():
    """With missing values, values exactly on a split and deep trees, does every probability equal scikit-learn's exactly?"""
    x, y = _data(0)
    model = HistGradientBoostingClassifier(max_iter=60, max_leaf_nodes=63, random_state=0).fit(x, y)
    forest = FlatForest(model)
    rows, _ = _data(1, n=500)
    rows[0] = np.nan  # every feature missing
    splits = [(n["feature_idx"], n["num_threshold"]) for it in model._predictors[:5] for n in it[0].nodes if not n["is_leaf"]]
    for i, (feature, threshold) in enumerate(splits[:200], start=1):
        rows[i, feature] = threshold  # exactly on a split: scikit-learn sends it left (<=)
    fast = np.array([forest.probability(row) for row in rows])
    assert np.array_equal(fast, model.predict_proba(rows)[:, 1])


def test_a_single_tree_model_is_scored_exactly():
    """With a single tree, are the baseline and that tree's leaf added as scikit-learn adds them?"""
    x, y = _data(2)
    model = HistGradientBoostingClassifier(max_iter=1, random_state=0).fit(x, y)
    rows, _ = _data(3, n=50)
    assert np.array_equal([FlatForest(model).probability(r) for r in rows], model.predict_proba(rows)[:, 1])


@pytest.mark.parametrize("kind", ["multiclass", "categorical", "unfitted"])
def test_models_it_cannot_score_are_refused_by_name(kind):
    """Are a multiclass model, one with categorical splits and an unfitted one refused, so callers fall back?"""
    x, y = _data(4, classes=3 if kind == "multiclass" else 2)
    if kind == "categorical":
        x[:, 5] = np.random.default_rng(5).integers(0, 4, size=len(x))
        y = (x[:, 5] >= 2).astype(int)
        model = HistGradientBoostingClassifier(max_iter=5, categorical_features=[5], random_state=0).fit(x, y)
    elif kind == "multiclass":
        model = HistGradientBoostingClassifier(max_iter=5, random_state=0).fit(x, y)
    else:
        model = HistGradientBoostingClassifier()
    assert not supports(model)
    with pytest.raises(ValueError, match="binary HistGradientBoostingClassifier"):
        FlatForest(model)
