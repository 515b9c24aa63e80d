"""Does the reference schema describe training data, survive JSON, and report every anomaly of new data?"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlops_course import schema
from mlops_course.data import load_flights
from mlops_course.errors import DataError, DataTypeError


@pytest.fixture
def train():
    return pd.DataFrame({
        "carrier": ["AA", "UA", "AA", "DL"],
        "month": [1, 2, 3, 3],
        "temp": [10.5, np.nan, 30.0, 20.0],
        "cancelled": [False, True, False, False],
        "when": pd.to_datetime(["2013-01-01", "2013-01-02", "2013-03-01", "2013-03-31"]),
    })


def test_inferred_schema_describes_the_training_data(train):
    """Are types, nullability, ranges and categories read off the data?"""
    s = schema.infer_schema(train)
    assert s.columns["carrier"] == schema.ColumnSchema("string", False, categories=("AA", "DL", "UA"))
    assert s.columns["month"] == schema.ColumnSchema("integer", False, 1, 3)
    assert s.columns["temp"] == schema.ColumnSchema("float", True, 10.5, 30.0)
    assert s.columns["cancelled"].type == "boolean"
    assert s.columns["when"].type == "datetime" and s.columns["when"].max.startswith("2013-03-31")
    assert list(schema.infer_schema(train, columns=["temp", "month"]).columns) == ["temp", "month"]


def test_many_distinct_strings_get_no_category_list():
    """Does an id-like column above max_categories stay a string without allowed values?"""
    ids = pd.DataFrame({"tailnum": [f"N{i}" for i in range(20)]})
    assert schema.infer_schema(ids, max_categories=10).columns["tailnum"].categories is None
    assert len(schema.infer_schema(ids).columns["tailnum"].categories) == 20


def test_json_round_trip(train, tmp_path):
    """Is a schema saved as JSON and loaded back equal, with plain JSON numbers?"""
    s = schema.infer_schema(train)
    assert schema.Schema.from_json(s.to_json()) == s
    path = s.save(tmp_path / "schema" / "flights.json")
    assert schema.Schema.load(path) == s
    assert '"max": 3' in path.read_text()


def test_clean_data_has_no_anomalies(train):
    """Does the training data itself validate clean, and an empty batch too?"""
    s = schema.infer_schema(train)
    report = schema.validate(train, s)
    assert report.ok and report.to_frame().empty and "no anomalies" in str(report)
    assert schema.validate(train.iloc[:0], s).ok


def test_every_kind_of_anomaly_is_reported_at_once(train):
    """Are a missing and an extra column, a type change, nulls, out-of-range values and new categories all reported together?"""
    s = schema.infer_schema(train)
    batch = pd.DataFrame({
        "carrier": ["AA", "ZZ", "ZZ", None],
        "month": [1, 3, 4, 0],
        "temp": ["hot", "cold", "mild", "hot"],
        "extra": [1, 2, 3, 4],
        "when": pd.to_datetime(["2013-01-01"] * 4),
    })
    report = schema.validate(batch, s)
    frame = report.to_frame().set_index(["column", "anomaly"])
    assert set(frame.index) == {
        ("carrier", "new_category"), ("carrier", "unexpected_nulls"), ("month", "out_of_range"),
        ("temp", "type_change"), ("cancelled", "missing_column"), ("extra", "extra_column"),
    }
    assert frame.loc[("carrier", "new_category"), "count"] == 2 and "ZZ" in frame.loc[("carrier", "new_category"), "detail"]
    assert frame.loc[("month", "out_of_range"), "count"] == 2
    assert report.kinds("month") == {"out_of_range"} and not report.ok


def test_bounds_are_inclusive_and_integers_are_valid_floats():
    """Are the training min and max themselves valid, and integers accepted in a float column (not the reverse)?"""
    s = schema.infer_schema(pd.DataFrame({"temp": [10.0, 30.0], "month": [1, 12]}))
    assert schema.validate(pd.DataFrame({"temp": [10, 30], "month": [1, 12]}), s).ok
    report = schema.validate(pd.DataFrame({"temp": [10.0, 30.0], "month": [1.5, 12.0]}), s)
    assert report.kinds() == {"type_change"}


def test_a_json_request_validates_like_a_frame():
    """Does a one-row frame built from a request (None for a missing number) get the right anomalies?"""
    s = schema.infer_schema(pd.DataFrame({"carrier": ["AA", "UA"], "temp": [10.0, 30.0]}))
    request = pd.DataFrame([{"carrier": "UA", "temp": None}])
    assert schema.validate(request, s).kinds() == {"unexpected_nulls"}
    assert schema.validate(pd.DataFrame([{"carrier": "UA", "temp": 25}]), s).ok


def test_later_months_show_real_anomalies():
    """On the flights data, does a schema of January-August flag destinations first served in the autumn?"""
    flights = load_flights(fraction=0.2, seed=3)
    columns = ["carrier", "origin", "dest", "distance", "hour"]
    s = schema.infer_schema(flights[flights["month"] <= 8], columns=columns)
    report = schema.validate(flights.loc[flights["month"] == 11, columns], s)
    assert report.kinds("dest") == {"new_category"} and "ILM" in report.to_frame()["detail"].str.cat()


def test_bad_input_is_named():
    """Do a non-DataFrame, an empty frame, an unknown column and a broken schema give clear errors?"""
    with pytest.raises(DataTypeError, match="frame must be a pandas DataFrame, got dict"):
        schema.infer_schema({"a": [1]})
    with pytest.raises(DataError, match="empty"):
        schema.infer_schema(pd.DataFrame({"a": []}))
    with pytest.raises(DataError, match="missing column"):
        schema.infer_schema(pd.DataFrame({"a": [1]}), columns=["b"])
    with pytest.raises(DataError, match="schema must be"):
        schema.validate(pd.DataFrame({"a": [1]}), {"columns": {}})
    with pytest.raises(DataError, match="unknown column type 'number'"):
        schema.Schema.from_dict({"columns": {"a": {"type": "number", "nullable": False}}})
    with pytest.raises(DataError, match="needs at least 'type' and 'nullable'"):
        schema.Schema.from_dict({"columns": {"a": {"type": "float"}}})


def test_pandera_enforces_the_same_rules(train):
    """Does the pandera version accept the training data and reject the same anomalies, all at once?"""
    import pandera.pandas as pa

    rules = schema.to_pandera(schema.infer_schema(train.drop(columns=["when"])))
    rules.validate(train.drop(columns=["when"]))
    bad = train.drop(columns=["when"]).assign(carrier=["AA", "ZZ", "AA", "DL"], month=[1, 2, 3, 9], extra=0)
    with pytest.raises(pa.errors.SchemaErrors) as excinfo:
        rules.validate(bad, lazy=True)
    failures = excinfo.value.failure_cases
    assert {"ZZ", "extra"} <= set(failures["failure_case"].astype(str)) and 9 in set(failures["failure_case"])
