"""Does the replay hand out whole weeks in time order, with the outcomes kept apart from the inputs?"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pandas as pd
import pytest

from mlops_course import monitoring


def _flights(days: list[str]) -> pd.DataFrame:
    dates = pd.to_datetime(days)
    return pd.DataFrame({
        "year": dates.year, "month": dates.month, "day": dates.day,
        "flight_id": [f"f{i}" for i in range(len(days))], "carrier": "AA",
        "dep_delay": [0.0] * len(days), "late": [i % 2 for i in range(len(days))],
    })


def test_week_start_is_the_monday_of_the_week():
    """Are Monday and Sunday of the same week both labelled by that Monday?"""
    dates = pd.Series([pd.Timestamp("2013-06-03"), pd.Timestamp("2013-06-09"), pd.Timestamp("2013-06-10"), pd.Timestamp("2013-06-01 17:30")])
    assert list(monitoring.week_start(dates)) == list(pd.to_datetime(["2013-06-03", "2013-06-03", "2013-06-10", "2013-05-27"]))
    assert monitoring.week_start(pd.Timestamp("2013-06-09")) == pd.Timestamp("2013-06-03")


def test_full_weeks_leaves_out_weeks_that_straddle_either_end():
    """From Saturday 1 June to 1 July, are only the four whole weeks Monday 3 June to Sunday 30 June kept?"""
    assert monitoring.full_weeks("2013-06-01", "2013-07-01") == list(pd.to_datetime(
        ["2013-06-03", "2013-06-10", "2013-06-17", "2013-06-24"]))
    # A start on a Monday is itself the first week; an end on a Monday closes the week before it.
    assert monitoring.full_weeks("2013-06-03", "2013-06-17") == list(pd.to_datetime(["2013-06-03", "2013-06-10"]))


def test_full_weeks_refuses_an_empty_period():
    """Is an end before the start an error that names both dates?"""
    with pytest.raises(ValueError, match="2013-05-01"):
        monitoring.full_weeks("2013-06-01", "2013-05-01")


def test_replay_yields_whole_weeks_in_order_with_labels_apart():
    """Does each week carry its own flights, inputs without the outcome, labels with it?"""
    frame = _flights(["2013-06-02", "2013-06-03", "2013-06-09", "2013-06-12", "2013-06-17", "2013-06-24"])
    weeks = list(monitoring.replay(frame, "2013-06-01", "2013-06-24"))
    assert [w.start for w in weeks] == list(pd.to_datetime(["2013-06-03", "2013-06-10", "2013-06-17"]))
    assert list(weeks[2].inputs["flight_id"]) == ["f4"], "a flight on the end date (2013-06-24) is outside"
    assert list(weeks[0].inputs["flight_id"]) == ["f1", "f2"] and list(weeks[1].inputs["flight_id"]) == ["f3"]
    assert "late" not in weeks[0].inputs.columns and "dep_delay" not in weeks[0].inputs.columns
    assert list(weeks[0].labels.columns) == ["flight_id", "date", "late"]
    assert list(weeks[0].labels["late"]) == [1, 0]
    assert weeks[0].end == pd.Timestamp("2013-06-10")
    assert list(weeks[0].inputs["date"]) == list(pd.to_datetime(["2013-06-03", "2013-06-09"]))


def test_replay_needs_the_outcome_column():
    """Is a frame without `late` refused with a message naming it?"""
    with pytest.raises(ValueError, match="late"):
        list(monitoring.replay(_flights(["2013-06-03"]).drop(columns="late"), "2013-06-01", "2013-07-01"))


def test_plot_timeline_marks_alerts_thresholds_and_events():
    """Does each panel show its series, threshold line, alert markers and the retraining lines?"""
    weeks = pd.to_datetime(["2013-06-03", "2013-06-10", "2013-06-17"])
    table = pd.DataFrame({"cost": [1.0, 3.0, 2.0], "psi": [0.1, 0.2, 0.3]}, index=weeks)
    axes = monitoring.plot_timeline(
        table, {"cost": "cost", "psi": "PSI"}, alerts={"cost": pd.Series([False, True, False], index=weeks)},
        thresholds={"cost": 2.5}, events={"retrained": [weeks[2]]}, shade=(weeks[0], weeks[1], "validation"))
    assert len(axes) == 2
    labels = [t.get_text() for t in axes[0].get_legend().get_texts()]
    assert {"cost", "alert threshold", "alert", "retrained", "validation"} <= set(labels)
    (markers,) = axes[0].collections[:1]
    assert len(markers.get_offsets()) == 1 and markers.get_offsets()[0][1] == 3.0
    import matplotlib.pyplot as plt

    plt.close("all")
