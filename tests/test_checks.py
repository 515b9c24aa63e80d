"""Do the input checks that learner-facing helpers use say exactly what is wrong?"""

from __future__ import annotations

import pandas as pd
import pytest

from mlops_course.checks import require_frame
from mlops_course.errors import DataError, DataTypeError


def test_a_good_frame_is_returned_unchanged():
    """Does a valid frame pass through untouched?"""
    frame = pd.DataFrame({"a": [1], "b": [2]})
    assert require_frame(frame, ["a"], "flights") is frame


def test_not_a_dataframe_names_the_argument_and_the_type():
    """Is passing a list instead of a DataFrame reported with both names?"""
    with pytest.raises(DataTypeError, match="flights must be a pandas DataFrame, got list"):
        require_frame([1, 2], ["a"], "flights")


def test_missing_columns_are_listed_with_the_columns_present():
    """Does a missing column error list what is missing and what is there?"""
    with pytest.raises(DataError) as excinfo:
        require_frame(pd.DataFrame({"dep_delay": [1.0]}), ["month", "dep_delay", "hour"], "flights")
    assert "missing column(s) month, hour" in str(excinfo.value) and "it has: dep_delay" in str(excinfo.value)


def test_an_empty_frame_is_refused_unless_allowed():
    """Is an empty frame an error by default, and accepted when the caller allows it?"""
    empty = pd.DataFrame({"month": []})
    with pytest.raises(DataError, match="empty"):
        require_frame(empty, ["month"], "test")
    assert require_frame(empty, ["month"], "test", allow_empty=True) is empty


def test_errors_are_value_and_type_errors():
    """Can learners catch these errors with the exceptions they already know?"""
    assert issubclass(DataError, ValueError) and issubclass(DataTypeError, TypeError)
