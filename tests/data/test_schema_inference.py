"""infer_schema: roles, categories and nullability on real and generated data."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pytest

from loopml.core.entities.data import ColumnRole, DatasetSchema
from loopml.core.errors import InvalidArgumentError
from loopml.data.schema import infer_schema


def roles(schema: DatasetSchema) -> dict[str, ColumnRole]:
    return {c.name: c.role for c in schema.columns}


def test_flights_roles(jan: Any, jan_frame: Any) -> None:
    schema = infer_schema(jan, target="arr_delay", timestamp="time_hour", max_categories=50)
    r = roles(schema)
    assert r["arr_delay"] == ColumnRole.TARGET
    assert schema.column("arr_delay").categories is None  # regression target
    assert r["time_hour"] == ColumnRole.DATETIME
    assert schema.column("time_hour").dtype == "timestamp[us, tz=UTC]"
    for name in ("dep_delay", "distance", "month", "hour", "flight"):
        assert r[name] == ColumnRole.NUMERIC  # integers with few values stay numeric
    assert r["carrier"] == ColumnRole.CATEGORICAL
    assert r["origin"] == ColumnRole.CATEGORICAL
    carrier = schema.column("carrier")
    counts = jan_frame["carrier"].value_counts()
    assert set(carrier.categories or ()) == set(counts.index)
    assert carrier.categories[0] == counts.index[0]  # most frequent first
    assert not carrier.other_bucket
    dest = schema.column("dest")
    assert dest.other_bucket and len(dest.categories or ()) == 50
    top = jan_frame["dest"].value_counts()
    assert list(dest.categories or ())[:5] == list(top.index[:5])
    assert schema.column("dep_delay").nullable
    assert not schema.column("carrier").nullable
    assert (schema.target, schema.timestamp, schema.key) == ("arr_delay", "time_hour", None)


def test_churn_roles_and_classification_target(churn: Any) -> None:
    schema = infer_schema(churn, target="churn", key="rownames")
    r = roles(schema)
    assert r["rownames"] == ColumnRole.IDENTIFIER
    assert r["churn"] == ColumnRole.TARGET
    assert schema.column("churn").categories == ("No", "Yes")
    assert r["contract"] == ColumnRole.CATEGORICAL
    assert schema.column("contract").categories == ("Month-to-month", "Two year", "One year")
    assert r["monthly_charges"] == ColumnRole.NUMERIC
    assert r["female"] == ColumnRole.NUMERIC
    assert schema.column("total_charges").nullable  # 11 missing in the source
    assert not schema.column("tenure").nullable


def test_generated_edge_cases() -> None:
    n = 200
    table = pa.table(
        {
            "id": [f"user-{i:05d}" for i in range(n)],
            "text": [f"review {i}: " + "lorem ipsum dolor sit amet " * 3 for i in range(n)],
            "flag": [i % 3 == 0 for i in range(n)],
            "day": pa.array([19000 + i for i in range(n)], pa.date32()),
            "dict": pa.array(["x", "y"] * (n // 2)).dictionary_encode(),
            "nan": [float("nan") if i == 5 else 1.0 for i in range(n)],
            "few": ["b", "a", "a", "c"] * (n // 4),
            "int_target": [i % 3 for i in range(n)],
            "bool_target": [i % 2 == 0 for i in range(n)],
        }
    )
    schema = infer_schema(table, target="int_target", max_categories=2)
    r = roles(schema)
    assert r["id"] == ColumnRole.IDENTIFIER
    assert r["text"] == ColumnRole.TEXT
    assert r["flag"] == ColumnRole.BOOLEAN
    assert r["day"] == ColumnRole.DATETIME
    assert r["dict"] == ColumnRole.CATEGORICAL
    assert schema.column("dict").categories == ("x", "y")
    assert schema.column("dict").dtype == "dictionary<values=string, indices=int32, ordered=0>"
    assert schema.column("nan").nullable  # NaN counts as a missing value
    few = schema.column("few")
    assert few.categories == ("a", "b") and few.other_bucket  # ties broken by value
    assert schema.column("int_target").categories is None  # 3 values > max_categories=2
    wide = infer_schema(table, target="int_target")
    assert wide.column("int_target").categories == ("0", "1", "2")
    boolean = infer_schema(table, target="bool_target")
    assert boolean.column("bool_target").categories == ("false", "true")


def test_short_unique_column_is_not_an_identifier() -> None:
    schema = infer_schema(pa.table({"city": ["Paris", "Rome", "Oslo"]}))
    assert schema.column("city").role == ColumnRole.CATEGORICAL


def test_empty_and_all_null_columns() -> None:
    table = pa.table({"x": pa.array([], pa.float64()), "s": pa.array([], pa.string())})
    schema = infer_schema(table)
    assert roles(schema) == {"x": ColumnRole.NUMERIC, "s": ColumnRole.CATEGORICAL}
    nulls = infer_schema(pa.table({"s": pa.array([None, None], pa.string())}))
    assert nulls.column("s").nullable and nulls.column("s").categories == ()


def test_declared_columns_must_exist() -> None:
    table = pa.table({"arr_delay": [1.0]})
    with pytest.raises(InvalidArgumentError, match=r"'target' column 'arr_dely'.*Did you mean"):
        infer_schema(table, target="arr_dely")
    with pytest.raises(InvalidArgumentError, match=r"'max_categories'.*Got 0"):
        infer_schema(table, max_categories=0)


def test_schema_round_trips_through_json(jan: Any, churn: Any) -> None:
    for schema in (infer_schema(jan, target="arr_delay"), infer_schema(churn, target="churn")):
        text = json.dumps(schema.to_dict(), allow_nan=False)
        assert DatasetSchema.from_dict(json.loads(text)) == schema
