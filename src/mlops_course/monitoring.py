"""Replaying the past as production traffic, week by week, and drawing what monitoring saw.

Lab 05 monitors a deployed model on the flights of 2013 as if they arrived live.
The bookkeeping that is not the lesson lives here: the calendar (which
Monday starts a flight's week, which full weeks lie between two dates), a
replay iterator that hands out one week of inputs at a time with that week's
labels kept apart (a flight's delay is only known later), and a timeline plot
with alerts and retraining marked. What to log, when a label may be used, what
to alert on and when to retrain is what the learners write in the lab.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import pandas as pd

from mlops_course.checks import require_frame
from mlops_course.datasets import TARGET
from mlops_course.errors import ArgumentError

DATE_COLUMNS = ["year", "month", "day"]
# Columns that exist only once a flight has left: never part of what the model sees live.
OUTCOME_COLUMNS = [TARGET, "dep_delay"]


def flight_dates(frame: pd.DataFrame) -> pd.Series:
    """The scheduled day of each flight (midnight), from its year, month and day columns."""
    require_frame(frame, DATE_COLUMNS, "frame", allow_empty=True)
    return pd.to_datetime(frame[DATE_COLUMNS]).rename("date")


def week_start(dates: pd.Series | pd.Timestamp) -> pd.Series | pd.Timestamp:
    """The Monday that starts each date's week: weeks run Monday to Sunday, labelled by their Monday."""
    if isinstance(dates, pd.Timestamp):
        day = dates.normalize()
        return day - pd.Timedelta(days=day.dayofweek)
    dates = pd.to_datetime(dates).dt.normalize()
    return (dates - pd.to_timedelta(dates.dt.dayofweek, unit="D")).rename("week")


def full_weeks(start: str | pd.Timestamp, end: str | pd.Timestamp) -> list[pd.Timestamp]:
    """The Mondays of the whole weeks inside [start, end): a week that would straddle either end is left out.

    Comparing a two-day week with seven-day ones would make its figures noisy
    for no reason other than the calendar.
    """
    start, end = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    if end <= start:
        raise ArgumentError(f"end ({end.date()}) must be after start ({start.date()}); swap them")
    first = start + pd.Timedelta(days=(7 - start.dayofweek) % 7)
    return list(pd.date_range(first, end - pd.Timedelta(days=7), freq="7D"))


@dataclass(frozen=True)
class Week:
    """One week of production traffic: the inputs the model sees, and the outcomes that come later."""

    start: pd.Timestamp
    inputs: pd.DataFrame
    labels: pd.DataFrame

    @property
    def end(self) -> pd.Timestamp:
        """The Monday after the week: the first day that is not part of it."""
        return self.start + pd.Timedelta(days=7)


def replay(frame: pd.DataFrame, start: str | pd.Timestamp, end: str | pd.Timestamp) -> Iterator[Week]:
    """The flights of ``frame`` in [start, end) as a stream of whole weeks, oldest first.

    Each week's ``inputs`` hold every column except the outcome (``late``,
    ``dep_delay``), plus its ``date``; its ``labels`` hold ``flight_id``, ``date``
    and ``late`` for the same flights. Keeping them apart is the point: a
    monitoring job sees inputs at once and outcomes only when they arrive.
    """
    require_frame(frame, DATE_COLUMNS + ["flight_id", TARGET], "frame")
    dated = frame.assign(date=flight_dates(frame))
    weeks = week_start(dated["date"])
    for monday in full_weeks(start, end):
        part = dated[weeks == monday]
        inputs = part.drop(columns=[c for c in OUTCOME_COLUMNS if c in part.columns]).reset_index(drop=True)
        labels = part[["flight_id", "date", TARGET]].reset_index(drop=True)
        yield Week(monday, inputs, labels)


def plot_timeline(table: pd.DataFrame, panels: dict[str, str], alerts: dict[str, pd.Series] | None = None,
                  thresholds: dict[str, float] | None = None, events: dict[str, list] | None = None,
                  shade: tuple | None = None, axes=None, title: str | None = None):
    """One panel per monitored value over time, with its alert threshold, the weeks that alerted, and events.

    ``table`` is indexed by week (Timestamps); ``panels`` maps a column of it to
    the panel's label; ``alerts`` maps a column to a boolean Series on the same
    index (alerting weeks get a red marker); ``thresholds`` draws a dashed line;
    ``events`` maps a legend label to dates drawn as vertical lines in every
    panel (retraining, promotions); ``shade`` = (start, end, label) greys a
    period (the validation weeks the thresholds came from).
    """
    import matplotlib.pyplot as plt

    require_frame(table, list(panels), "table")
    alerts, thresholds, events = alerts or {}, thresholds or {}, events or {}
    if axes is None:
        _, axes = plt.subplots(len(panels), 1, figsize=(11, 2.4 * len(panels)), sharex=True, squeeze=False)
        axes = axes[:, 0]
    styles = ["tab:green", "tab:purple", "tab:orange", "tab:brown"]
    for ax, (column, label) in zip(axes, panels.items()):
        ax.plot(table.index, table[column], marker=".", color="tab:blue", label=label)
        if column in thresholds:
            ax.axhline(thresholds[column], color="tab:red", linestyle="--", linewidth=1, label="alert threshold")
        if column in alerts:
            fired = alerts[column].reindex(table.index, fill_value=False).astype(bool)
            ax.scatter(table.index[fired], table.loc[fired, column], color="tab:red", zorder=3, s=40, label="alert")
        for (name, dates), colour in zip(events.items(), styles):
            for i, date in enumerate(dates):
                ax.axvline(pd.Timestamp(date), color=colour, linewidth=1, alpha=0.7, label=name if i == 0 else None)
        if shade is not None:
            ax.axvspan(pd.Timestamp(shade[0]), pd.Timestamp(shade[1]), color="0.9", zorder=0, label=shade[2])
        ax.set_ylabel(label)
        ax.legend(loc="upper left", fontsize=7, ncols=3)
    axes[0].set_title(title or "Monitoring timeline")
    axes[-1].set_xlabel("week (Monday)")
    return axes
