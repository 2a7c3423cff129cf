"""Windows: UTC calendar alignment by event time, row counts with the partial last window kept,
empty windows kept (and reported as such), bad specs refused with the fix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loopml.core.errors import InvalidArgumentError
from loopml.health.settings import parse_window, resolve_thresholds
from loopml.health.windows import cut


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    times = pd.date_range("2013-01-01 03:00", periods=100, freq="7h", tz="UTC")
    return pd.DataFrame({"t": times[::-1], "x": np.arange(100.0)})  # newest first


def test_duration_windows_are_aligned_to_the_utc_calendar(frame: pd.DataFrame) -> None:
    days = cut(frame, parse_window("1d"), timestamp_column="t")
    assert days[0].start == pd.Timestamp("2013-01-01", tz="UTC")
    assert all(w.end - w.start == pd.Timedelta("1D") for w in days)
    assert sum(w.rows for w in days) == 100
    six = cut(frame, parse_window("6h"), timestamp_column="t")
    assert {w.start.hour for w in six} == {0, 6, 12, 18}
    months = cut(frame, parse_window("1mo"), timestamp_column="t")
    assert [w.start.day for w in months] == [1] and months[0].rows == 100
    weeks = cut(frame, parse_window("1w"), timestamp_column="t")
    assert {w.start.weekday() for w in weeks} == {0}  # Mondays
    # rows land in the window of their own time, in time order
    for w in days:
        times = frame["t"].iloc[w.positions]
        assert ((times >= w.start) & (times < w.end)).all() and times.is_monotonic_increasing


def test_year_windows_start_on_the_first_of_january() -> None:
    times = pd.Series(["2016-03-05", "2016-12-31 23:59", "2017-01-01", "2018-07-01"])
    frame = pd.DataFrame({"t": pd.to_datetime(times, utc=True, format="ISO8601")})
    years = cut(frame, parse_window("1y"), timestamp_column="t")
    assert [w.start.isoformat() for w in years] == [
        f"{y}-01-01T00:00:00+00:00" for y in (2016, 2017, 2018)
    ]
    assert [w.rows for w in years] == [2, 1, 1]
    assert years[-1].end == pd.Timestamp("2019-01-01", tz="UTC")
    two = cut(frame, parse_window("2y"), timestamp_column="t")
    assert [(w.start.year, w.rows) for w in two] == [(2016, 3), (2018, 1)]


def test_naive_times_are_utc_and_text_times_are_parsed() -> None:
    naive = pd.DataFrame({"t": ["2013-01-01 23:30", "2013-01-02 00:30"]})
    windows = cut(naive, parse_window("1d"), timestamp_column="t")
    assert [w.rows for w in windows] == [1, 1]


def test_row_count_windows_keep_the_partial_last_window(frame: pd.DataFrame) -> None:
    windows = cut(frame, parse_window(30), timestamp_column="t")
    assert [w.rows for w in windows] == [30, 30, 30, 10]
    assert windows[0].start is None
    first = frame["t"].iloc[windows[0].positions]
    assert first.is_monotonic_increasing  # event-time order, not the order given
    untimed = cut(frame, parse_window("45"), timestamp_column=None)
    assert [w.rows for w in untimed] == [45, 45, 10]
    assert untimed[0].positions.tolist() == list(range(45))


def test_empty_windows_are_kept(frame: pd.DataFrame) -> None:
    windows = cut(
        frame, parse_window("1d"), timestamp_column="t", start="2014-01-01", end="2014-01-03"
    )
    assert [w.rows for w in windows] == [0, 0]
    assert windows[1].start == pd.Timestamp("2014-01-02", tz="UTC")


@pytest.mark.parametrize(
    ("window", "match"),
    [
        ("1 fortnight", r"window='1 fortnight' is not a window\. Pass a duration"),
        (0, r"row-count window must be >= 1"),
        (True, r"is not a window"),
        ("0d", r"is not a window"),
    ],
)
def test_bad_window_specs_say_what_to_pass(window: object, match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        parse_window(window)


def test_time_windows_need_a_time_column(frame: pd.DataFrame) -> None:
    with pytest.raises(InvalidArgumentError, match=r"need the event time .* timestamp_column="):
        cut(frame, parse_window("1d"), timestamp_column=None)
    with pytest.raises(InvalidArgumentError, match=r"timestamp column 'when' is not in"):
        cut(frame, parse_window("1d"), timestamp_column="when")
    with pytest.raises(InvalidArgumentError, match=r"more than 5,000"):
        cut(frame, parse_window("1min"), timestamp_column="t")
    with pytest.raises(InvalidArgumentError, match=r"must be before end"):
        cut(frame, parse_window("1d"), timestamp_column="t", start="2013-02-01", end="2013-01-01")


def test_thresholds_are_checked() -> None:
    with pytest.raises(
        InvalidArgumentError, match=r"Unknown monitoring threshold 'aplha'.*'alpha'"
    ):
        resolve_thresholds({"aplha": 0.01})
    with pytest.raises(InvalidArgumentError, match=r"'alpha' must be in \(0, 1\)"):
        resolve_thresholds({"alpha": 1.5})
    assert resolve_thresholds({"psi": 0.3})["psi"] == 0.3


def test_a_time_column_is_not_a_feature(frame: pd.DataFrame) -> None:
    import loopml

    with pytest.raises(
        InvalidArgumentError, match=r"Feature 't' holds times, .* timestamp_column="
    ):
        loopml.monitor(current=frame, reference=frame, features=["t", "x"])
    report = loopml.monitor(
        current=frame, reference=frame, window="1w", timestamp_column="t", multivariate=False
    )
    assert list(report.windows[0].features) == ["x"]  # the time column is left out by default


def test_the_sdk_and_the_service_take_the_same_options() -> None:
    """``loopml.monitor`` fronts ``MonitorService.monitor``: same keywords, same defaults (a
    test rather than a second definition that could drift)."""
    import inspect

    import loopml
    from loopml.health import MonitorService

    sdk = inspect.signature(loopml.monitor).parameters
    service = dict(inspect.signature(MonitorService.monitor).parameters)
    service.pop("self")
    assert [(p.name, p.kind, p.default) for p in sdk.values()] == [
        (p.name, p.kind, p.default) for p in service.values()
    ]


def test_a_number_as_start_or_end_is_milliseconds_since_the_epoch() -> None:
    from loopml.health.windows import utc_ms

    ms = int(pd.Timestamp("2013-07-01", tz="UTC").timestamp() * 1000)
    assert utc_ms(ms, "start") == ms  # was read as nanoseconds: a time in January 1970
    assert utc_ms("2013-07-01", "end") == ms
    assert utc_ms(pd.Timestamp("2013-07-01 02:00", tz="Europe/Paris"), "end") == ms
