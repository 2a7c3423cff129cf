"""profile_table against pandas/NumPy on the same real data, and its edge cases."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from loopml.core.entities.data import OTHER, DatasetProfile, DatasetSchema
from loopml.core.errors import InvalidArgumentError
from loopml.data.binning import bin_counts, category_counts, reference_edges
from loopml.data.profile import profile_table
from loopml.data.schema import infer_schema

NUMERIC = ["dep_delay", "arr_delay", "distance", "dep_time", "air_time", "hour", "day"]


@pytest.mark.parametrize("name", NUMERIC)
def test_numeric_summary_matches_pandas(
    name: str, jan_frame: pd.DataFrame, jan_reference: tuple[DatasetSchema, DatasetProfile]
) -> None:
    _, profile = jan_reference
    col = profile.column(name)
    values = jan_frame[name].astype("float64")
    present = values.dropna().to_numpy()
    assert profile.rows == len(jan_frame) == col.count
    assert col.nulls == int(values.isna().sum())
    num = col.numeric
    assert num is not None
    assert num.min == present.min() and num.max == present.max()
    assert num.mean == pytest.approx(present.mean(), rel=1e-9)
    assert num.std == pytest.approx(present.std(ddof=1), rel=1e-9)
    assert abs(col.distinct - len(np.unique(present))) <= 0.05 * len(np.unique(present)) + 2
    for key, q in num.quantiles.items():
        # approximate quantile: its rank is within 2 points of the asked probability
        below = (present < q).mean()
        at_or_below = (present <= q).mean()
        assert below - 0.02 <= float(key) <= at_or_below + 0.02, (key, q)
    assert sum(num.bin_counts) == len(present)
    assert len(num.bin_edges) == len(num.bin_counts) + 1 <= 21
    assert list(num.bin_edges) == sorted(set(num.bin_edges))
    assert num.bin_counts == bin_counts(present, num.bin_edges)  # SQL and NumPy agree


def test_datetime_as_epoch_ms(
    jan_frame: pd.DataFrame, jan_reference: tuple[DatasetSchema, DatasetProfile]
) -> None:
    num = jan_reference[1].column("time_hour").numeric
    assert num is not None
    ms = jan_frame["time_hour"].astype("int64") // 1000  # microseconds -> ms
    assert num.min == ms.min() and num.max == ms.max()
    assert num.mean == pytest.approx(ms.mean(), rel=1e-12)
    assert sum(num.bin_counts) == len(ms)


def test_frequencies_match_value_counts(
    jan_frame: pd.DataFrame, jan_reference: tuple[DatasetSchema, DatasetProfile]
) -> None:
    schema, profile = jan_reference
    carrier = profile.column("carrier")
    assert carrier.frequencies == dict(jan_frame["carrier"].value_counts())
    assert carrier.distinct == jan_frame["carrier"].nunique()
    dest = profile.column("dest")
    counts = jan_frame["dest"].value_counts()
    known = schema.column("dest").categories or ()
    assert dest.frequencies is not None
    assert list(dest.frequencies) == [*known, OTHER]
    assert dest.frequencies[OTHER] == int(counts.drop(list(known)).sum())
    assert sum(dest.frequencies.values()) == jan_frame["dest"].notna().sum()
    tail = profile.column("tailnum")
    assert tail.frequencies is not None
    assert sum(tail.frequencies.values()) == jan_frame["tailnum"].notna().sum()
    assert tail.nulls == jan_frame["tailnum"].isna().sum()


def test_churn_profile(churn: Any, churn_frame: pd.DataFrame) -> None:
    schema = infer_schema(churn, target="churn", key="rownames")
    profile = profile_table(churn, schema)
    assert profile.column("churn").frequencies == dict(churn_frame["churn"].value_counts())
    assert profile.column("rownames").numeric is None  # identifiers get counts only
    charges = profile.column("total_charges")
    assert charges.nulls == churn_frame["total_charges"].isna().sum() == 11
    assert charges.numeric is not None
    assert charges.numeric.mean == pytest.approx(churn_frame["total_charges"].mean(), rel=1e-9)
    tenure = profile.column("tenure").numeric
    assert tenure is not None and sum(tenure.bin_counts) == len(churn_frame)


def test_nan_is_null_and_inf_goes_to_outer_bins() -> None:
    values = [1.0, 2.0, 3.0, 4.0, float("nan"), None, float("inf"), float("-inf")]
    table = pa.table({"x": pa.array(values, pa.float64())})
    profile = profile_table(table, infer_schema(table), bins=3)
    col = profile.column("x")
    assert (col.count, col.nulls) == (8, 2)
    num = col.numeric
    assert num is not None
    assert (num.min, num.max, num.mean) == (1.0, 4.0, 2.5)  # finite values only
    assert sum(num.bin_counts) == 6  # the infinities are counted, NaN/None are not
    assert num.bin_counts[0] >= 2 and num.bin_counts[-1] >= 2
    assert num.bin_counts == bin_counts(np.array(values, dtype=float), num.bin_edges)


def test_constant_all_null_empty_and_boolean_columns() -> None:
    table = pa.table(
        {
            "const": [7.0] * 10,
            "nulls": pa.array([None] * 10, pa.float64()),
            "flag": [True] * 7 + [False, None, False],
        }
    )
    profile = profile_table(table, infer_schema(table))
    const = profile.column("const").numeric
    assert const is not None
    assert const.bin_edges == (7.0, 7.0) and const.bin_counts == (10,) and const.std == 0.0
    assert profile.column("nulls").numeric is None and profile.column("nulls").nulls == 10
    flag = profile.column("flag")
    assert flag.frequencies == {"false": 2, "true": 7}
    assert flag.numeric is not None and flag.numeric.mean == pytest.approx(7 / 9)
    assert sum(flag.numeric.bin_counts) == 9 and len(flag.numeric.bin_counts) == 2

    empty = table.slice(0, 0)
    profile = profile_table(empty, infer_schema(table))
    assert profile.rows == 0
    assert profile.column("const").numeric is None
    assert profile.column("flag").frequencies == {"false": 0, "true": 0}


def test_top_k_and_bad_arguments(jan: Any, jan_reference: tuple[DatasetSchema, Any]) -> None:
    schema = jan_reference[0]
    small = jan.select(["carrier", "distance"])
    sub = DatasetSchema(columns=(schema.column("carrier"), schema.column("distance")))
    freq = profile_table(small, sub, top_k=3).column("carrier").frequencies
    assert freq is not None and len(freq) == 4 and OTHER in freq
    assert sum(freq.values()) == jan.num_rows
    with pytest.raises(InvalidArgumentError, match=r"'bins' parameter.*Got 0"):
        profile_table(small, sub, bins=0)
    with pytest.raises(InvalidArgumentError, match=r"'top_k' parameter.*or None"):
        profile_table(small, sub, top_k=-1)
    with pytest.raises(InvalidArgumentError, match=r"\['dep_delay'\] are missing"):
        profile_table(small, schema.__class__(columns=(schema.column("dep_delay"),)))


def test_binning_helpers() -> None:
    assert bin_counts([0.0, 1.0, 2.0, 2.0, 9.0, float("nan")], (0.0, 1.0, 2.0)) == (1, 4)
    assert bin_counts(pa.array([None, -5.0, 0.5]), (0.0, 1.0)) == (2,)
    assert bin_counts(pa.chunked_array([[True, False, None]]), (0.0, 0.5, 1.0)) == (1, 1)
    with pytest.raises(InvalidArgumentError, match=r"'edges' argument of bin_counts"):
        bin_counts([1.0], (2.0, 1.0))
    assert category_counts([True, False, None, True], ["false", "true"], other_bucket=False) == {
        "false": 1,
        "true": 2,
    }
    assert category_counts(["z"], ["a"], other_bucket=False) == {"a": 0, OTHER: 1}
    assert reference_edges(5.0, 5.0, [5.0], bins=10, distinct=1) == (5.0, 5.0)
    # quantiles collapsed (few distinct values): equal-width edges instead
    assert reference_edges(1.0, 12.0, [1.0] * 9, bins=10, distinct=30) == tuple(
        np.linspace(1.0, 12.0, 11)
    )


def test_profile_round_trips_through_json(jan_reference: tuple[Any, DatasetProfile]) -> None:
    profile = jan_reference[1]
    table = pa.table({"x": [1.0, float("inf"), float("nan")], "c": ["a", None, "b"]})
    for p in (profile, profile_table(table, infer_schema(table))):
        text = json.dumps(p.to_dict(), allow_nan=False)
        assert DatasetProfile.from_dict(json.loads(text)) == p


def test_few_distinct_values_get_one_bin_each() -> None:
    edges = reference_edges(1.0, 12.0, [3.5, 6.5, 9.5], bins=20, distinct=12)
    assert len(edges) == 13
    assert bin_counts(np.arange(1.0, 13.0), edges) == (1,) * 12
