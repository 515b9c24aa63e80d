"""A thorough ML test suite, as Lab 06's solution writes it: data, behaviour and infrastructure tests."""

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from mlops_course import schema as schemas
from mlops_course.datasets import FEATURES, TARGET


# Data tests
def test_data_matches_the_reviewed_schema(dataset, schema):
    report = schemas.validate(dataset[list(schema.columns)], schema)
    assert report.ok, str(report)


def test_label_is_a_late_departure(dataset):
    assert (dataset[TARGET] == (dataset["dep_delay"] >= 15).astype(int)).all()


# Behaviour tests
def test_invariance_to_columns_that_are_not_features(model, dataset):
    changed = dataset.assign(tailnum="N00000", flight=0, dep_delay=0.0)
    assert np.allclose(model.predict_proba(dataset), model.predict_proba(changed))


def test_directional_heavier_rain_raises_risk(model, dataset):
    before = model.predict_proba(dataset).mean()
    after = model.predict_proba(dataset.assign(precip=dataset["precip"] + 0.5, visib=0.5)).mean()
    assert after > before + 0.01


def test_directional_later_hour_raises_risk(model, dataset):
    assert model.predict_proba(dataset.assign(hour=19)).mean() > model.predict_proba(dataset.assign(hour=7)).mean()


def test_minimum_functionality_ranks_late_flights_first(model, dataset):
    held_out = dataset[dataset["month"] >= 11]
    auc = roc_auc_score(held_out[TARGET], model.predict_proba(held_out))
    assert 0.6 < auc < 0.9


# Infrastructure tests
def test_training_is_reproducible(train_model, dataset):
    first, second = train_model(dataset, 0), train_model(dataset, 0)
    assert np.array_equal(first.predict_proba(dataset), second.predict_proba(dataset))
