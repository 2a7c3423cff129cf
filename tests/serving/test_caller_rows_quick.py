"""The quick path of :func:`~loopml.serving.caller_rows.event_times` (a few plain values read
without pandas) gives exactly what the pandas path gives: the same milliseconds for every
value it reads, and it leaves every other value, valid or not, to the pandas path (same
result, same message)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loopml.core.errors import InvalidArgumentError
from loopml.serving import caller_rows as module
from loopml.serving.caller_rows import MAX_MS, event_times

READ_QUICKLY: list[list[Any]] = [
    ["2024-01-05T10:00:00Z", "2024-01-05T10:00:00+02:00", "2024-01-05T10:00:00-05:30"],
    ["2024-01-05", "2024-01-05 10:00", "2024-01-05T10:00", "2024-01-05 10:00:00"],
    ["2024-01-05T10:00:00.1", "2024-01-05T10:00:00.123456789Z", "2024-01-05T10:00:00.9999Z"],
    ["1969-12-31T23:59:59.9996Z", "1969-12-31T23:59:59.0004", "1970-01-01T00:00:00.000001Z"],
    ["1678-01-01T00:00:00Z", "2261-12-31T23:59:59.999999999Z", "1700-02-28T00:00:00+23:59"],
    ["2024-02-29T00:00:00-00:00", "2000-02-29", "1900-03-01T00:30:00+01:00"],
    ["2024-01-05T10:00Z", "2024-01-05T10:00+01:00"],
    [0, 1, -1, 1_704_412_800_000, MAX_MS, -MAX_MS],
    [0.4, 0.5, 1.5, 2.5, -0.5, -1.5, 1_704_412_800_000.6, float(MAX_MS), -0.0],
    [1_704_412_800_000, 1.5, 3],
]

LEFT_TO_PANDAS: list[list[Any]] = [
    ["2024-01-05T10:00:00+0200", "2024-01-05T10:00:00+02"],  # valid, other forms
    ["20240105T100000Z"],
    ["2024-01-05T10:00:00,5Z"],
    ["2024-01-05T10:00:00.1234567891Z"],  # ten digits
    ["2024-01-05t10:00:00z"],
    [" 2024-01-05T10:00:00Z", "2024-01-05T10:00:00Z "],
    ["2024-01-05T10:00:00Z\n"],
    ["2024-02-30", "2023-02-29"],  # invalid dates
    ["2024-01-05T24:00:00Z", "2024-01-05T23:60:00Z", "2024-01-05T23:59:60Z"],
    ["2024-01-05T10:00:00+24:00", "2024-01-05T10:00:00+02:60"],
    ["1677-09-22T00:00:00Z", "2262-04-10T00:00:00Z"],  # in range, near the edges
    ["1677-09-21T00:00:00Z", "2262-04-12T00:00:00Z", "1600-01-01", "9999-12-31", "0000-01-01"],
    ["2262-04-11T23:47:16.854775807Z", "2262-04-11T23:47:16.855Z"],
    ["\u0662\u0660\u0662\u0664-01-05"],  # Arabic-Indic digits
    ["", "now", "today", "1704412800000", "2024-01-05T10:00:00ZZ"],
    ["2024-01-05T10:00:00Z", None],
    ["2024-01-05T10:00:00Z", 1_704_412_800_000],
    [1_704_412_800_000, "2024-01-05T10:00:00Z"],
    [True, 1],
    [1, False],
    [MAX_MS + 1],
    [-MAX_MS - 1],
    [float(MAX_MS) + 1.0],
    [float("nan")],
    [float("inf"), 1],
    [2**53 + 1],
    [10**30],
    [np.int64(5), 3],
    [3, np.float64(2.5)],
    [None],
    [dt.datetime(2024, 1, 5, 10, tzinfo=dt.UTC), "2024-01-05"],
    [dt.date(2024, 1, 5)],
    [b"2024-01-05"],
    [{"at": 1}],
    [[1]],
]


def outcome(values: Any, *, rows: int | None = None) -> Any:
    try:
        return event_times(values, rows=len(values) if rows is None else rows)
    except InvalidArgumentError as exc:
        return ("error", str(exc))


def pandas_outcome(values: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    with monkeypatch.context() as patched:
        patched.setattr(module, "_QUICK", 0)
        return outcome(values)


@pytest.mark.parametrize("values", READ_QUICKLY)
def test_the_quick_path_reads_plain_values_as_pandas_does(
    values: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    quick = module._quick_times(values)
    assert quick is not None
    assert quick == pandas_outcome(values, monkeypatch)
    assert outcome(values) == quick
    assert outcome(tuple(values)) == quick


@pytest.mark.parametrize("values", LEFT_TO_PANDAS)
def test_anything_else_is_left_to_pandas(
    values: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert module._quick_times(values) is None
    assert outcome(values) == pandas_outcome(values, monkeypatch)


def test_bad_values_get_the_pandas_paths_messages() -> None:
    with pytest.raises(InvalidArgumentError, match=r"timestamps\[1\] is '2024-02-30', not an"):
        event_times(["2024-01-05", "2024-02-30"], rows=2)
    with pytest.raises(InvalidArgumentError, match=r"timestamps\[0\] is 9223372036855"):
        event_times([MAX_MS + 1], rows=1)
    with pytest.raises(InvalidArgumentError, match=r"timestamps\[1\] is null"):
        event_times([1, None], rows=2)
    with pytest.raises(InvalidArgumentError, match=r"has 2 values but the request has 3 rows"):
        event_times(["2024-01-05", "2024-01-06"], rows=3)


def test_more_values_than_the_quick_path_takes_go_to_pandas(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    values = ["2024-01-05T10:00:00Z"] * (module._QUICK + 1)
    calls: list[Any] = []
    monkeypatch.setattr(module, "_quick_times", calls.append)
    assert event_times(values, rows=len(values)) == [1_704_448_800_000] * len(values)
    assert calls == []


ZONES = st.sampled_from(["", "Z", "+00:00", "-00:00", "+02:00", "-05:30", "+13:45", "-23:59"])


@st.composite
def iso_strings(draw: st.DrawFn) -> str:
    moment = draw(
        st.datetimes(min_value=dt.datetime(1600, 1, 1), max_value=dt.datetime(2300, 1, 1))
    )
    form = draw(st.sampled_from(["date", "minutes", "seconds", "fraction"]))
    if form == "date":
        return moment.strftime("%Y-%m-%d")
    sep = draw(st.sampled_from(["T", " "]))
    text = moment.strftime(f"%Y-%m-%d{sep}%H:%M")
    if form != "minutes":
        text += moment.strftime(":%S")
    if form == "fraction":
        text += "." + str(draw(st.integers(0, 10**9 - 1))).zfill(9)[: draw(st.integers(1, 9))]
    return text + draw(ZONES)


@settings(max_examples=300, deadline=None)
@given(st.lists(iso_strings(), min_size=1, max_size=8))
def test_random_iso_times_agree_with_pandas(values: list[str]) -> None:
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(module, "_QUICK", 0)
        expected = outcome(values)
    assert outcome(values) == expected


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.integers(-2 * MAX_MS, 2 * MAX_MS),
            st.floats(-2.0 * MAX_MS, 2.0 * MAX_MS),
            st.floats(allow_nan=True, allow_infinity=True),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_random_numbers_agree_with_pandas(values: list[Any]) -> None:
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(module, "_QUICK", 0)
        expected = outcome(values)
    assert outcome(values) == expected
