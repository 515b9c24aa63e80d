"""Do PSI and the two-sample tests see drift where there is some, and only there?"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from mlops_course import drift
from mlops_course.data import load_flights
from mlops_course.errors import DataError, DataTypeError


def test_psi_of_a_sample_against_itself_is_zero():
    """Is the PSI of identical samples exactly zero, numbers and categories alike?"""
    x = pd.Series(np.random.default_rng(0).normal(size=1000))
    assert drift.psi(x, x) == 0.0
    assert drift.psi(pd.Series(list("aabbc")), pd.Series(list("aabbc"))) == 0.0


def test_psi_matches_the_formula_on_deciles():
    """Does a shifted sample get sum((a - e) ln(a / e)) over the reference's deciles?"""
    rng = np.random.default_rng(1)
    ref, cur = pd.Series(rng.normal(size=5000)), pd.Series(rng.normal(0.5, 1, size=5000))
    inner = np.quantile(ref, np.arange(1, 10) / 10)
    e = np.bincount(np.searchsorted(inner, ref), minlength=10) / len(ref)
    a = np.bincount(np.searchsorted(inner, cur), minlength=10) / len(cur)
    assert drift.psi(ref, cur) == pytest.approx(float(np.sum((a - e) * np.log(a / e))))
    assert drift.psi(ref, cur) > drift.PSI_MODERATE


def test_bins_are_right_closed_and_open_ended():
    """Does a value equal to an edge fall in the lower bin, and a value beyond the reference in an outer bin?"""
    table = drift.counts(pd.Series([1, 2, 3, 4, 5]), pd.Series([3, 3, 100, -5]), bins=2)  # one edge: the median, 3
    assert table.loc["bin 0"].tolist() == [3, 3] and table.loc["bin 1"].tolist() == [2, 1]


def test_empty_bins_stay_finite():
    """Does a category never seen in the reference give a large but finite PSI?"""
    value = drift.psi(pd.Series(["a"] * 100), pd.Series(["a"] * 50 + ["b"] * 50))
    assert np.isfinite(value) and value > drift.PSI_MAJOR


def test_missing_values_count_as_drift():
    """Does a column that starts arriving empty drift, although its present values look the same?"""
    ref = pd.Series([1.0, 2.0, 3.0, 4.0] * 25)
    cur = pd.Series([1.0, 2.0, np.nan, np.nan] * 25)
    assert drift.counts(ref, cur).loc[drift.MISSING].tolist() == [0, 50]
    assert drift.psi(ref, cur) > drift.PSI_MAJOR


def test_the_test_follows_the_type():
    """Is KS used for numbers and chi-square for categories and booleans, with sensible p-values?"""
    rng = np.random.default_rng(2)
    same = drift.two_sample_test(rng.normal(size=500), rng.normal(size=500))
    moved = drift.two_sample_test(rng.normal(size=500), rng.normal(1, 1, size=500))
    assert same.test == moved.test == "ks" and same.p_value > 0.01 > moved.p_value
    cat = drift.two_sample_test(pd.Series(list("ab") * 100), pd.Series(list("a") * 150 + list("b") * 50))
    assert cat.test == "chi2" and cat.p_value < 0.01
    assert drift.two_sample_test(pd.Series([True, False] * 5), pd.Series([True] * 10)).test == "chi2"
    assert drift.two_sample_test(pd.Series(["a"] * 5), pd.Series(["a"] * 5)).p_value == 1.0


def test_drift_levels_and_their_boundaries():
    """Are 'not significant' and the PSI thresholds applied with the right inequalities?"""
    assert drift.drift_level(0.9, 0.01) == "none"  # p == alpha is not significant
    assert drift.drift_level(0.9, float("nan")) == "none"
    assert drift.drift_level(0.0999, 0.001) == "negligible"
    assert drift.drift_level(0.1, 0.001) == "moderate"
    assert drift.drift_level(0.25, 0.001) == "major"


def test_drift_table_sees_the_seasons():
    """Does temperature drift strongly in winter against a summer reference, while distance barely moves?"""
    flights = load_flights(fraction=0.05, seed=4)
    from mlops_course.data import load_table

    weather = load_table("weather")[["origin", "time_hour", "temp"]]
    frame = flights.merge(weather, on=["origin", "time_hour"], how="left")
    table = drift.drift_table(frame[frame["month"].between(6, 8)], frame[frame["month"] >= 9], ["temp", "distance", "carrier"])
    assert list(table.columns[:2]) == ["feature", "month"] and len(table) == 3 * 4
    level = table.set_index(["feature", "month"])["level"]
    assert level[("temp", 12)] == "major"
    assert table.set_index(["feature", "month"]).loc[("distance", 9), "psi"] < drift.PSI_MODERATE


def test_heatmap_shows_every_cell():
    """Does the heatmap have one row per feature, one column per month and a label per cell?"""
    table = pd.DataFrame({"feature": ["a", "a", "b", "b"], "month": [9, 10, 9, 10], "psi": [0.01, 0.3, 0.12, np.nan]})
    ax = drift.plot_heatmap(table)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    assert sorted(t.get_text() for t in ax.texts) == ["0.01", "0.12", "0.30"]


def test_bad_input_is_named():
    """Do empty samples, data frames instead of columns and missing features give clear errors?"""
    with pytest.raises(DataError, match="current is empty"):
        drift.psi(pd.Series([1.0]), pd.Series([], dtype=float))
    with pytest.raises(DataError, match="one column"):
        drift.psi(pd.DataFrame({"a": [1]}), pd.Series([1]))
    with pytest.raises(DataError, match="missing column"):
        drift.drift_table(pd.DataFrame({"temp": [1.0]}), pd.DataFrame({"temp": [1.0], "month": [1]}), ["tmp"])
    with pytest.raises(DataTypeError, match="reference must be a pandas DataFrame"):
        drift.drift_table([1, 2], pd.DataFrame({"temp": [1.0], "month": [1]}), ["temp"])
