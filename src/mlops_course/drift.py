"""Has the data moved since training? Population stability index and two-sample tests, feature by feature.

The two measures answer different questions. A two-sample test (Kolmogorov-
Smirnov for numbers, chi-square for categories) asks whether a difference is
more than sampling noise: with tens of thousands of flights a month it says
"yes" to almost everything. The population stability index (PSI) measures how
*much* a distribution moved, whatever the sample size. A drift matters when it
is both real (small p-value) and large (PSI above a threshold); `drift_level`
applies that rule. The usual PSI thresholds, 0.1 and 0.25, are a rule of thumb
from credit scoring, not a law: tune them on drifts that hurt your model.

The course's reference version: Lab 02 has learners write their own; Lab 05
monitors production data with this one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
import pandas as pd

from mlops_course.checks import require_frame
from mlops_course.errors import DataError

DEFAULT_BINS = 10
# Empty bins would make PSI infinite (log of zero); a small floor keeps it finite and comparable.
EPSILON = 1e-4
PSI_MODERATE = 0.1
PSI_MAJOR = 0.25
ALPHA = 0.01
LEVELS = ("none", "negligible", "moderate", "major")
MISSING = "(missing)"


def _series(values: object, name: str) -> pd.Series:
    if isinstance(values, pd.DataFrame):
        raise DataError(f"{name} must be one column (a Series or array), got a DataFrame with columns {list(values.columns)}")
    series = values.reset_index(drop=True) if isinstance(values, pd.Series) else pd.Series(np.asarray(values))
    if series.empty:
        raise DataError(f"{name} is empty (0 values); there is no distribution to compare")
    return series


def is_numeric(values: pd.Series) -> bool:
    """Numbers are binned by quantiles; booleans and everything else are categories."""
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def bin_edges(reference: pd.Series, bins: int = DEFAULT_BINS) -> np.ndarray:
    """Inner bin edges at the reference's quantiles; repeated edges (discrete data) are merged."""
    values = reference.dropna().to_numpy(dtype=float)
    if not len(values):
        return np.array([])
    return np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]))


def _numeric_counts(values: pd.Series, inner: np.ndarray) -> pd.Series:
    present = values.dropna().to_numpy(dtype=float)
    # Bin i holds (edge[i-1], edge[i]]; the outer bins are open, so values beyond the reference count too.
    counts = np.bincount(np.searchsorted(inner, present, side="left"), minlength=len(inner) + 1)
    return pd.Series(counts, index=[f"bin {i}" for i in range(len(inner) + 1)])


def counts(reference: pd.Series, current: pd.Series, bins: int = DEFAULT_BINS) -> pd.DataFrame:
    """Counts per bin (numbers) or category, with missing values in a bin of their own."""
    reference, current = _series(reference, "reference"), _series(current, "current")
    if is_numeric(reference) and is_numeric(current):
        inner = bin_edges(reference, bins)
        table = pd.DataFrame({"reference": _numeric_counts(reference, inner), "current": _numeric_counts(current, inner)})
    else:
        table = pd.DataFrame({
            "reference": reference.dropna().astype(str).value_counts(),
            "current": current.dropna().astype(str).value_counts(),
        }).fillna(0).sort_index()
    table.loc[MISSING] = [int(reference.isna().sum()), int(current.isna().sum())]
    return table.astype(int)


def psi(reference: object, current: object, bins: int = DEFAULT_BINS, epsilon: float = EPSILON) -> float:
    """Population stability index of `current` against `reference`: sum of (a - e) * ln(a / e) over bins.

    Numbers: bins at the reference's deciles (or `bins` quantiles), open at
    both ends. Categories: one bin per value seen in either sample. Missing
    values: one more bin, so a column that starts arriving empty drifts too.
    Proportions are floored at `epsilon` so empty bins stay finite.
    """
    table = counts(reference, current, bins)
    expected = np.clip(table["reference"] / table["reference"].sum(), epsilon, None)
    actual = np.clip(table["current"] / table["current"].sum(), epsilon, None)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


@dataclass(frozen=True)
class TestResult:
    """A two-sample test: which one, its statistic and p-value (NaN when a sample has no values)."""

    test: str
    statistic: float
    p_value: float


def two_sample_test(reference: object, current: object) -> TestResult:
    """Kolmogorov-Smirnov for numbers, chi-square on the category counts otherwise; missing values ignored."""
    from scipy import stats

    reference, current = _series(reference, "reference"), _series(current, "current")
    ref, cur = reference.dropna(), current.dropna()
    if is_numeric(reference) and is_numeric(current):
        if ref.empty or cur.empty:
            return TestResult("ks", float("nan"), float("nan"))
        result = stats.ks_2samp(ref.to_numpy(dtype=float), cur.to_numpy(dtype=float))
        return TestResult("ks", float(result.statistic), float(result.pvalue))
    table = pd.DataFrame({"reference": ref.astype(str).value_counts(), "current": cur.astype(str).value_counts()}).fillna(0)
    if ref.empty or cur.empty:
        return TestResult("chi2", float("nan"), float("nan"))
    if len(table) < 2:
        return TestResult("chi2", 0.0, 1.0)  # one category on both sides: nothing can differ
    statistic, p_value, _, _ = stats.chi2_contingency(table.to_numpy())
    return TestResult("chi2", float(statistic), float(p_value))


def drift_level(psi_value: float, p_value: float, alpha: float = ALPHA,
                moderate: float = PSI_MODERATE, major: float = PSI_MAJOR) -> str:
    """Which drifts matter: "none" (not significant), "negligible" (significant but small), "moderate", "major".

    A p-value of exactly `alpha` is not significant; a PSI of exactly a threshold reaches it.
    """
    if not p_value < alpha:  # NaN (no data) counts as no evidence of drift
        return "none"
    if psi_value < moderate:
        return "negligible"
    if psi_value < major:
        return "moderate"
    return "major"


def drift_table(reference: pd.DataFrame, current: pd.DataFrame, features: Iterable[str], by: str = "month",
                bins: int = DEFAULT_BINS, alpha: float = ALPHA) -> pd.DataFrame:
    """PSI, two-sample test and drift level of every feature in every group of `current` (a month by default).

    One row per feature and group, in that order, ready for `plot_heatmap`.
    """
    features = list(features)
    require_frame(reference, features, "reference")
    require_frame(current, features + [by], "current")
    rows = []
    for feature in features:
        for group, part in current.groupby(by, sort=True):
            test = two_sample_test(reference[feature], part[feature])
            value = psi(reference[feature], part[feature], bins)
            rows.append({
                "feature": feature, by: group, "psi": value, "test": test.test, "statistic": test.statistic,
                "p_value": test.p_value, "level": drift_level(value, test.p_value, alpha), "n": len(part),
            })
    return pd.DataFrame(rows)


def plot_heatmap(table: pd.DataFrame, value: str = "psi", by: str = "month", ax=None, title: str | None = None):
    """Feature x group heatmap of `value`, each cell annotated, the PSI thresholds marked on the colour bar."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import BoundaryNorm

    require_frame(table, ["feature", by, value], "table")
    grid = table.pivot(index="feature", columns=by, values=value).reindex(list(dict.fromkeys(table["feature"])))
    if ax is None:
        _, ax = plt.subplots(figsize=(1.0 + 0.6 * grid.shape[1], 0.8 + 0.4 * grid.shape[0]))
    top = max(0.5, float(np.nanmax(grid.to_numpy())))
    norm = BoundaryNorm([0, 0.05, PSI_MODERATE, 0.175, PSI_MAJOR, 0.375, top], ncolors=256) if value == "psi" else None
    image = ax.imshow(grid.to_numpy(dtype=float), cmap="Reds", aspect="auto", norm=norm)
    ax.set_xticks(range(grid.shape[1]), [str(c) for c in grid.columns])
    ax.set_yticks(range(grid.shape[0]), list(grid.index))
    for (i, j), v in np.ndenumerate(grid.to_numpy(dtype=float)):
        if np.isfinite(v):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if value == "psi" and v >= PSI_MAJOR else "black")
    bar = ax.figure.colorbar(image, ax=ax, label=value.upper() if value == "psi" else value)
    if value == "psi":
        bar.set_ticks([0, PSI_MODERATE, PSI_MAJOR, top], labels=["0", f"{PSI_MODERATE:g}", f"{PSI_MAJOR:g}", f"{top:.2g}"])
    ax.set(xlabel=by, title=title or f"{value} per feature and {by}")
    return ax
