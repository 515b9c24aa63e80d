"""Data schemas: what each column looked like in training, and what is anomalous in new data.

A schema is inferred once from data someone has looked at (the training
window), reviewed, kept in version control as JSON, and then every new batch
(a month of flights, a single prediction request) is validated against it
(Breck et al., "Data Validation for Machine Learning", MLSys 2019). Validation
collects *every* anomaly into a report instead of raising on the first one:
whoever decides whether a batch is usable needs the whole picture, and a
monitoring job wants counts it can plot, not a traceback.

The course's reference version: Lab 02 has learners write their own; Lab 04
validates prediction requests with this one, Lab 05 and Lab 06 use it for
monitoring and data tests. `to_pandera` turns a schema into the same rules for
pandera, the declarative validator the labs compare it with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from mlops_course.checks import require_frame
from mlops_course.errors import DataError, MissingFileError

TYPES = ("boolean", "integer", "float", "datetime", "string")
ANOMALY_KINDS = ("missing_column", "extra_column", "type_change", "unexpected_nulls", "out_of_range", "new_category")
# How many offending values an anomaly's detail shows; the count says how many there are in all.
EXAMPLES_SHOWN = 5

_INFERRED = {
    "boolean": "boolean", "integer": "integer", "floating": "float", "mixed-integer-float": "float",
    "decimal": "float", "datetime64": "datetime", "datetime": "datetime", "date": "datetime",
}


def column_type(series: pd.Series) -> str | None:
    """The logical type of a column, one of TYPES; None when it holds nothing but missing values.

    Logical rather than pandas dtypes, so that int32 and int64 (or object
    columns of Python ints, as a JSON request produces) count as the same type.
    """
    if series.isna().all():
        return None
    if pd.api.types.is_bool_dtype(series):
        return "boolean"
    if pd.api.types.is_integer_dtype(series):
        return "integer"
    if pd.api.types.is_float_dtype(series):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "datetime"
    if pd.api.types.is_object_dtype(series):
        return _INFERRED.get(pd.api.types.infer_dtype(series, skipna=True), "string")
    return "string"


def compatible(expected: str, actual: str | None) -> bool:
    """Whether values of type `actual` are valid where the schema expects `expected`.

    Integers are valid floats (a request may send the temperature 40 for 40.0);
    the other way round a fraction would be lost, so it is a type change.
    """
    return actual is None or actual == expected or (expected == "float" and actual == "integer")


@dataclass(frozen=True)
class ColumnSchema:
    """The expectations for one column. `min`/`max` apply to numbers and dates, `categories` to strings."""

    type: str
    nullable: bool
    min: Any = None
    max: Any = None
    categories: tuple[str, ...] | None = None

    def __post_init__(self):
        if self.type not in TYPES:
            raise DataError(f"unknown column type '{self.type}'; the schema knows: {', '.join(TYPES)}")

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"type": self.type, "nullable": self.nullable}
        if self.min is not None:
            out["min"], out["max"] = self.min, self.max
        if self.categories is not None:
            out["categories"] = list(self.categories)
        return out

    @classmethod
    def from_dict(cls, name: str, spec: dict) -> "ColumnSchema":
        if not isinstance(spec, dict) or "type" not in spec or "nullable" not in spec:
            raise DataError(f"column '{name}' of the schema needs at least 'type' and 'nullable', got {spec!r}")
        unknown = set(spec) - {"type", "nullable", "min", "max", "categories"}
        if unknown:
            raise DataError(f"column '{name}' of the schema has unknown field(s) {sorted(unknown)}")
        categories = spec.get("categories")
        return cls(
            type=spec["type"], nullable=bool(spec["nullable"]), min=spec.get("min"), max=spec.get("max"),
            categories=None if categories is None else tuple(categories),
        )


@dataclass(frozen=True)
class Schema:
    """The expectations for a whole table, column by column, in order."""

    columns: dict[str, ColumnSchema]

    def to_dict(self) -> dict:
        return {"columns": {name: column.to_dict() for name, column in self.columns.items()}}

    @classmethod
    def from_dict(cls, spec: dict) -> "Schema":
        if not isinstance(spec, dict) or not isinstance(spec.get("columns"), dict):
            raise DataError("a schema is a mapping with a 'columns' mapping: {'columns': {name: {...}}}")
        return cls({name: ColumnSchema.from_dict(name, s) for name, s in spec["columns"].items()})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "Schema":
        return cls.from_dict(json.loads(text))

    def save(self, path: Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json())
        return path

    @classmethod
    def load(cls, path: Path) -> "Schema":
        path = Path(path)
        if not path.is_file():
            raise MissingFileError(f"no schema file at {path}; write one with infer_schema(frame).save(path)")
        return cls.from_json(path.read_text())


def _plain(value: Any) -> Any:
    """A JSON-friendly version of a pandas/NumPy scalar."""
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    return value


def infer_column(series: pd.Series, max_categories: int | None = None) -> ColumnSchema:
    """What the values of one column say about it: type, nulls, range or categories."""
    kind = column_type(series) or ("float" if pd.api.types.is_numeric_dtype(series) else "string")
    values = series.dropna()
    nullable = bool(series.isna().any())
    if kind in ("integer", "float", "datetime") and len(values):
        return ColumnSchema(kind, nullable, _plain(values.min()), _plain(values.max()))
    if kind == "string":
        distinct = sorted(str(v) for v in values.unique())
        if max_categories is None or len(distinct) <= max_categories:
            return ColumnSchema(kind, nullable, categories=tuple(distinct))
    return ColumnSchema(kind, nullable)


def infer_schema(frame: pd.DataFrame, columns: Iterable[str] | None = None, max_categories: int | None = None) -> Schema:
    """The schema of `frame` (or of its `columns`), as observed: a starting point for a person to review.

    String columns with more than `max_categories` distinct values (ids, tail
    numbers) get no list of allowed values.
    """
    require_frame(frame, [] if columns is None else list(columns), "frame")
    names = list(frame.columns) if columns is None else list(columns)
    return Schema({str(name): infer_column(frame[name], max_categories) for name in names})


@dataclass(frozen=True)
class Anomaly:
    """One problem with one column: what kind, how many rows it affects, and what was seen."""

    column: str
    kind: str
    count: int
    detail: str


@dataclass(frozen=True)
class ValidationReport:
    """Every anomaly found in a table, in column order; empty when the table matches the schema."""

    rows: int
    anomalies: tuple[Anomaly, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.anomalies

    def kinds(self, column: str | None = None) -> set[str]:
        """The kinds of anomaly found, in one column or in all."""
        return {a.kind for a in self.anomalies if column is None or a.column == column}

    def to_frame(self) -> pd.DataFrame:
        """One row per anomaly: column, anomaly, count (rows affected), detail."""
        rows = [{"column": a.column, "anomaly": a.kind, "count": a.count, "detail": a.detail} for a in self.anomalies]
        return pd.DataFrame(rows, columns=["column", "anomaly", "count", "detail"])

    def __str__(self) -> str:
        if self.ok:
            return f"no anomalies in {self.rows} rows"
        lines = [f"{len(self.anomalies)} anomalies in {self.rows} rows:"]
        lines += [f"  {a.column}: {a.kind} ({a.count} rows) {a.detail}" for a in self.anomalies]
        return "\n".join(lines)


def _examples(values: pd.Series) -> str:
    shown = sorted(map(str, values.unique()))
    more = f" and {len(shown) - EXAMPLES_SHOWN} more" if len(shown) > EXAMPLES_SHOWN else ""
    return ", ".join(shown[:EXAMPLES_SHOWN]) + more


def _bound(value: Any, kind: str) -> Any:
    return pd.Timestamp(value) if kind == "datetime" else value


def validate_column(name: str, series: pd.Series, expected: ColumnSchema) -> list[Anomaly]:
    """The anomalies of one column present in both the schema and the data."""
    found = []
    rows = len(series)
    nulls = int(series.isna().sum())
    if nulls and not expected.nullable:
        found.append(Anomaly(name, "unexpected_nulls", nulls, f"{nulls} missing values in a column that had none"))
    actual = column_type(series)
    if not compatible(expected.type, actual):
        found.append(Anomaly(name, "type_change", rows, f"expected {expected.type}, got {actual} (dtype {series.dtype})"))
        return found  # ranges and categories mean nothing for values of another type
    values = series.dropna()
    if expected.min is not None and len(values):
        low, high = _bound(expected.min, expected.type), _bound(expected.max, expected.type)
        outside = values[(values < low) | (values > high)]
        if len(outside):
            found.append(Anomaly(name, "out_of_range", len(outside),
                                 f"{len(outside)} values outside [{expected.min}, {expected.max}]: "
                                 f"min {_plain(outside.min())}, max {_plain(outside.max())}"))
    if expected.categories is not None and len(values):
        new = values[~values.astype(str).isin(expected.categories)]
        if len(new):
            found.append(Anomaly(name, "new_category", len(new), f"values never seen in training: {_examples(new)}"))
    return found


def validate(frame: pd.DataFrame, schema: Schema) -> ValidationReport:
    """Check `frame` against `schema` and report every anomaly (never raises for bad data).

    An empty frame is valid input here (a quiet hour has no requests); a
    non-DataFrame or a non-Schema is a programming error and raises.
    """
    require_frame(frame, [], "frame", allow_empty=True)
    if not isinstance(schema, Schema):
        raise DataError(f"schema must be a mlops_course.schema.Schema (see Schema.from_dict), got {type(schema).__name__}")
    rows = len(frame)
    found: list[Anomaly] = []
    for name, expected in schema.columns.items():
        if name not in frame.columns:
            found.append(Anomaly(name, "missing_column", rows, "column not in the data"))
        else:
            found.extend(validate_column(name, frame[name], expected))
    for name in frame.columns:
        if name not in schema.columns:
            found.append(Anomaly(str(name), "extra_column", rows, "column not in the schema"))
    return ValidationReport(rows, tuple(found))


def to_pandera(schema: Schema, strict: bool = True):
    """The same rules as a pandera DataFrameSchema, for pipelines and data tests that use pandera.

    Float columns coerce, so integers pass as they do in `validate`.
    """
    import pandera.pandas as pa

    dtypes = {"boolean": bool, "integer": "int64", "float": float, "datetime": "datetime64[ns]", "string": str}
    columns = {}
    for name, spec in schema.columns.items():
        checks = []
        if spec.min is not None:
            checks.append(pa.Check.in_range(_bound(spec.min, spec.type), _bound(spec.max, spec.type)))
        if spec.categories is not None:
            checks.append(pa.Check.isin(list(spec.categories)))
        columns[name] = pa.Column(dtypes[spec.type], checks, nullable=spec.nullable, coerce=spec.type == "float")
    return pa.DataFrameSchema(columns, strict=strict)
