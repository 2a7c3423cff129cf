"""Checking the per-row event times and ids a request gives (:mod:`loopml.serving.caller_rows`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loopml.core.errors import InvalidArgumentError
from loopml.serving.caller_rows import MAX_MS, CallerRows, caller_ids, caller_rows, event_times

JAN_5 = 1_704_412_800_000  # 2024-01-05T00:00:00Z


def test_nothing_given_is_nothing_to_do() -> None:
    assert caller_rows(None, None, rows=3) is None
    assert caller_rows(None, ["a", "b"], rows=2) == CallerRows(event_at=None, ids=["a", "b"])


def test_iso_times_with_and_without_zone_and_epoch_ms_agree() -> None:
    iso = ["2024-01-05T00:00:00Z", "2024-01-05T02:00:00+02:00", "2024-01-05", "2024-01-05 00:00"]
    assert event_times(iso, rows=4) == [JAN_5] * 4  # naive is UTC
    assert event_times([JAN_5, float(JAN_5) + 0.4, JAN_5 + 1], rows=3) == [JAN_5, JAN_5, JAN_5 + 1]
    assert event_times(["2024-01-05T00:00:00.123456Z"], rows=1) == [JAN_5 + 123]
    assert event_times([], rows=0) == []


def test_many_times_match_pandas_own_parse() -> None:
    times = pd.date_range("2020-02-28", periods=50_000, freq="37min", tz="Europe/Paris")
    strings = [t.isoformat() for t in times]
    assert event_times(strings, rows=len(strings)) == times.as_unit("ms").asi8.tolist()
    numbers = np.asarray(times.as_unit("ms").asi8)
    assert event_times(numbers, rows=len(numbers)) == numbers.tolist()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["2024-01-05", "2024-02-30"], r"timestamps\[1\] is '2024-02-30', not an ISO 8601 time"),
        (["1704412800000"], r"timestamps\[0\] is '1704412800000', not an ISO 8601 time"),
        (["3000-01-01"], r"timestamps\[0\] is '3000-01-01', not an ISO 8601 time between"),
        ([JAN_5, "2024-01-05"], r"timestamps\[1\] is '2024-01-05' but timestamps\[0\] is"),
        ([MAX_MS + 1], r"timestamps\[0\] is \d+: a number is read as milliseconds"),
        ([JAN_5, float("nan")], r"timestamps\[1\] is null"),
        ([[JAN_5]], r"timestamps\[0\] is \[1704412800000\] \(a list\)"),
        ("x" * 100, r"'timestamps' must be a list of times .* Got str instead"),
    ],
)
def test_bad_times_name_the_row_and_the_value(values: object, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        event_times(values, rows=len(values))  # type: ignore[arg-type]


def test_ids_are_text_and_unique() -> None:
    assert caller_ids([1, "b", np.int64(3)], rows=3) == ["1", "b", "3"]
    assert caller_ids(np.arange(3), rows=3) == ["0", "1", "2"]
    with pytest.raises(InvalidArgumentError, match=r"ids\[3\] is 'b', the same as ids\[1\]"):
        caller_ids(["a", "b", "c", "b"], rows=4)
    with pytest.raises(InvalidArgumentError, match=r"ids\[0\] is False \(a bool\)"):
        caller_ids([False], rows=1)
    with pytest.raises(InvalidArgumentError, match=r"'ids' has 1 values but the request has 2"):
        caller_ids(["a"], rows=2)
