"""Input checks for learner-facing helpers: clear messages instead of a KeyError deep in pandas."""

from __future__ import annotations

from typing import Iterable

import pandas as pd

from mlops_course.errors import DataError, DataTypeError


def require_frame(frame: object, columns: Iterable[str] = (), name: str = "data", allow_empty: bool = False) -> pd.DataFrame:
    """Check that `frame` is a non-empty DataFrame with `columns`; return it unchanged.

    The message names the argument and the missing columns, and lists the
    columns the frame does have, because that is what a learner needs to fix it.
    """
    if not isinstance(frame, pd.DataFrame):
        raise DataTypeError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        have = ", ".join(map(str, frame.columns[:30])) + (" ..." if len(frame.columns) > 30 else "")
        raise DataError(f"{name} is missing column(s) {', '.join(missing)}; it has: {have}")
    if frame.empty and not allow_empty:
        raise DataError(f"{name} is empty (0 rows); check the filter or join that produced it")
    return frame
