"""Hostile input to registration and validation: each a clear InvalidArgumentError naming the
column, value or line and the fix (never an error from deep inside DuckDB or pyarrow), or,
for types DuckDB cannot read, a lossless widening so that register and validate work."""

from __future__ import annotations

import datetime as dt
import decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from loopml.core.errors import InvalidArgumentError, NotFoundError
from loopml.core.ids import RunId
from loopml.data import DatasetService, ingest
from loopml.data.profile import as_datetime, profile_table
from loopml.data.schema import infer_schema


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (pd.DataFrame({"a": [1], "": [2]}), r"Column 2 has an empty name.*rename\(columns="),
        (pa.table({"x\x00y": [1]}), r"Column 1 has the name 'x\\x00y', which holds a NUL"),
        (
            pd.DataFrame({"x": pd.Series([1, 2**64], dtype=object)}),
            r"Column 'x' holds integers beyond 64 bits \(e.g. 18446744073709551616\).*astype",
        ),
        (
            pd.DataFrame({"raw": [b"ok", b"caf\xe9", None]}),
            r"Column 'raw' holds bytes that are not UTF-8 text \(row 1: b'caf\\xe9', byte "
            r"offset 3\)\. Decode it",
        ),
        (
            pd.DataFrame({"z": np.array([1 + 2j, 3j]), "a": [1, 2]}),
            r"Column 'z' \(complex128\) cannot be stored: .*astype\(str\)",
        ),
        (
            pd.DataFrame({"span": pd.interval_range(0, 3)}),
            r"Column 'span' has the nested type extension<pandas.interval.*their ends as two",
        ),
        (
            pa.table({"d": pa.array([decimal.Decimal("1" + "0" * 45)], pa.decimal256(50, 2))}),
            r"Column 'd' \(decimal256\(50, 2\)\) does not fit decimal128\(38, 2\).*float64",
        ),
    ],
)
def test_hostile_tables_are_refused_naming_the_column(data: object, match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        ingest.to_table(data)


def test_a_polars_column_arrow_cannot_hold_is_named() -> None:
    import polars as pl

    if not hasattr(pl, "Int128"):
        pytest.skip("this polars has no Int128")
    frame = pl.DataFrame({"ok": [1, 2], "wide": pl.Series([1, 2], dtype=pl.Int128)})
    with pytest.raises(InvalidArgumentError, match=r"Column 'wide' \(Int128\) cannot be stored"):
        ingest.to_table(frame)


def test_a_csv_with_an_empty_header_field_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "saved_index.csv"
    path.write_text(",a\n0,1\n1,2\n")
    with pytest.raises(InvalidArgumentError, match="Column 1 has an empty name.*index=False"):
        ingest.to_table(path)


def test_a_csv_that_is_not_utf8_names_the_file_line_and_offset(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("name,city\nana,Zürich\n".encode() + "bob,Liège\n".encode("cp1252"))
    with pytest.raises(
        InvalidArgumentError,
        match=r"'.*latin\.csv' is not UTF-8: byte b'\\xe8' at byte offset 28 \(line 3\).*cp1252",
    ):
        ingest.to_table(path)


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 7, 1 << 20])
def test_the_utf8_scan_is_exact_across_chunk_boundaries(tmp_path: Path, chunk_size: int) -> None:
    good = "a,b\né,😀\n" * 3
    path = tmp_path / "d.csv"
    path.write_bytes(good.encode())
    ingest._check_utf8(path, chunk_size=chunk_size)  # valid UTF-8, cut anywhere: no error
    path.write_bytes(good.encode() + b"x,\xff\n")
    offset = len(good.encode()) + 2
    with pytest.raises(InvalidArgumentError, match=rf"byte offset {offset} \(line 7\)"):
        ingest._check_utf8(path, chunk_size=chunk_size)
    path.write_bytes(good.encode() + "é".encode()[:1])  # a character cut by the end of file
    with pytest.raises(InvalidArgumentError, match=rf"byte offset {len(good.encode())} "):
        ingest._check_utf8(path, chunk_size=chunk_size)


def test_float16_registers_and_validates_as_float32(datasets: DatasetService) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"h": rng.normal(size=200).astype(np.float16), "n": range(200)})
    version = datasets.register("half", frame)
    assert version.schema.column("h").dtype == "float"
    summary = version.profile.column("h").numeric
    assert summary is not None and summary.max == pytest.approx(float(frame["h"].max()))
    report = datasets.validate(frame, against="half@1")
    assert report.ok and report.anomalies == ()


def test_uint64_timestamps_in_ns_and_wide_decimals_register(datasets: DatasetService) -> None:
    moments = pd.to_datetime(["2013-01-01 05:00", "2013-01-02 05:00"]).tz_localize("Europe/Paris")
    table = pa.table(
        {
            "u": pa.array([2**64 - 1, 1], pa.uint64()),
            "t": pa.array(moments.as_unit("ns")),
            "d": pa.array([decimal.Decimal("1.5"), decimal.Decimal("2.25")], pa.decimal256(50, 2)),
        }
    )
    version = datasets.register("odd-types", table)
    assert version.schema.column("d").dtype == "decimal128(38, 2)"
    u = version.profile.column("u").numeric
    assert u is not None and u.max == float(2**64 - 1)
    t = version.profile.column("t").numeric
    assert t is not None
    assert as_datetime(t.min, version.schema.column("t").dtype) == moments[0].to_pydatetime()
    assert datasets.validate(table, against="odd-types@1").ok


@pytest.mark.parametrize(
    ("ref", "match"),
    [
        ("ds@²", r"Dataset reference 'ds@²' has a bad version '²'"),
        ("m@99999999999999999999", r"has version 99999999999999999999: versions are whole"),
    ],
)
def test_bad_references_are_invalid_arguments(
    datasets: DatasetService, ref: str, match: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        datasets.get(ref)


def test_validating_a_missing_file_says_so_before_the_reference(
    datasets: DatasetService, tmp_path: Path
) -> None:
    missing = tmp_path / "missing.csv"
    with pytest.raises(NotFoundError, match=r"Cannot validate '.*missing\.csv': no such file"):
        datasets.validate(missing, against="never-registered@1")


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        ("timestamp[us, tz=UTC]", "2013-01-01T05:00:00.123000+00:00"),
        ("timestamp[ns, tz=America/New_York]", "2013-01-01T00:00:00.123000-05:00"),
        ("timestamp[ms, tz=+05:30]", "2013-01-01T10:30:00.123000+05:30"),
        ("timestamp[s]", "2013-01-01T05:00:00.123000"),
        ("date32[day]", "2013-01-01"),
    ],
)
def test_datetime_statistics_read_back_in_the_column_zone(dtype: str, expected: str) -> None:
    moment = as_datetime(1357016400123.0, dtype)
    assert moment is not None and moment.isoformat() == expected


def test_a_profile_minimum_is_the_earliest_time() -> None:
    moments = [dt.datetime(2013, 1, 1, 5, tzinfo=dt.UTC), dt.datetime(2013, 2, 1, tzinfo=dt.UTC)]
    table = pa.table({"t": pa.array(moments, pa.timestamp("us", tz="UTC"))})
    summary = profile_table(table, infer_schema(table)).column("t").numeric
    assert summary is not None
    assert as_datetime(summary.min, "timestamp[us, tz=UTC]") == moments[0]
    assert as_datetime(summary.max, "timestamp[us, tz=UTC]") == moments[1]
    assert as_datetime(summary.min, "double") is None


def test_the_sdk_validates_against_a_saved_file_without_a_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json
    import os

    import loopml
    from loopml.client import fluent

    for var in [k for k in os.environ if k.startswith("LOOPML_") and k != "LOOPML_TEST_PG_URL"]:
        monkeypatch.delenv(var)
    home = tmp_path / ".loopml"
    monkeypatch.setenv("LOOPML_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    fluent.reset_client()
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
    schema = infer_schema(pa.Table.from_pandas(frame, preserve_index=False))
    (tmp_path / "schema.json").write_text(json.dumps(schema.to_dict()))
    try:
        assert loopml.datasets.validate(frame, against="schema.json").ok
        assert not loopml.datasets.validate(frame[["a"]], against=schema).ok
    finally:
        fluent.reset_client()
    assert not home.exists()


def test_names_that_differ_only_in_case_are_profiled_apart(datasets: DatasetService) -> None:
    # DuckDB identifiers ignore case: quoted by name, "a" read the values of "A".
    frame = pd.DataFrame({"A": [1.0, 2.0, 3.0], "a": [50.0, 70.0, 60.0]})
    version = datasets.register("cased", frame)
    upper, lower = version.profile.column("A").numeric, version.profile.column("a").numeric
    assert upper is not None and (upper.min, upper.max) == (1.0, 3.0)
    assert lower is not None and (lower.min, lower.max) == (50.0, 70.0)
    report = datasets.validate(frame.assign(a=[55.0, 65.0, 60.0]), against="cased@1")
    assert report.ok and not [a for a in report.anomalies if a.kind == "out_of_range"]


def test_a_diff_tells_columns_apart_by_case(datasets: DatasetService) -> None:
    old = pd.DataFrame({"id": [1, 2, 3], "A": [1.0, 2.0, 3.0], "a": [5.0, 6.0, 7.0]})
    datasets.register("cased-diff", old, key="id")
    datasets.register("cased-diff", old.assign(a=[5.0, 6.0, 8.0]), key="id")
    assert datasets.diff("cased-diff@1", "cased-diff@2").rows_changed == 1


def test_nul_in_a_description_or_role_is_refused_before_anything_is_stored(
    datasets: DatasetService,
) -> None:
    frame = pd.DataFrame({"d": [1, 2, 3]})
    with pytest.raises(InvalidArgumentError, match=r"description must be text without NUL"):
        datasets.register("nul", frame, description="a\x00b")
    with pytest.raises(NotFoundError):
        datasets.versions("nul")
    version = datasets.register("nul", frame)
    with pytest.raises(InvalidArgumentError, match=r"role must be text of 1-64 characters"):
        datasets.log_input(RunId("0" * 32), version, role="tr\x00ain")


def test_a_utf16_csv_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("a,b\n1,2\n".encode("utf-16"))
    with pytest.raises(
        InvalidArgumentError, match=r"byte order mark: convert it with `iconv -f utf-16 -t utf-8"
    ):
        ingest.to_table(path)


def test_an_empty_csv_file_is_said_to_be_empty(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(InvalidArgumentError, match=r"'.*empty\.csv' is empty \(0 bytes\)"):
        ingest.to_table(path)


def test_a_range_wider_than_the_largest_float_gets_finite_edges() -> None:
    import warnings

    table = pa.table({"x": [1e308, -1e308, 1e308, 0.0, 1.0, 2.0]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's overflow warning was the symptom
        summary = profile_table(table, infer_schema(table)).column("x").numeric
    assert summary is not None
    edges = np.asarray(summary.bin_edges)
    assert np.all(np.isfinite(edges)) and np.all(np.diff(edges) > 0)
    assert (edges[0], edges[-1]) == (-1e308, 1e308) and sum(summary.bin_counts) == 6
