"""Cutting current rows into windows: by event time on UTC calendar boundaries, or by row count.

Duration windows (``1d``, ``6h``, ``1mo``, ``1y``) are aligned to the calendar in UTC: a day
from midnight, six hours from 00:00, 06:00, ...; a week from Monday; a month from its first day;
a year from 1 January.
Every window between the first and the last (or ``start`` and ``end``) is kept, so an hour
without traffic shows as a window with no rows (its checks "not computable") rather than
disappearing. Row-count windows take rows in event-time order when there is a time column,
else in the order given; the last, partial window is kept with its row count.

The cut is one vectorized pass: each row's window start is its time floored to the unit, and
one stable sort groups the rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from loopml.core.errors import InvalidArgumentError
from loopml.health.settings import MAX_WINDOWS, WindowSpec


@dataclass(frozen=True)
class Window:
    """The rows of one window.

    Attributes:
        index: 0, 1, ... in order.
        start: First instant (UTC), None for row-count windows.
        end: First instant after the window.
        positions: Row positions in the current frame.
    """

    index: int
    start: pd.Timestamp | None
    end: pd.Timestamp | None
    positions: np.ndarray

    @property
    def rows(self) -> int:
        """Rows in the window."""
        return int(self.positions.size)


def event_times(frame: pd.DataFrame, column: str) -> pd.Series:
    """The column as UTC timestamps (naive times are read as UTC).

    Raises:
        InvalidArgumentError: The column is missing or does not hold times.
    """
    if column not in frame.columns:
        raise InvalidArgumentError(
            f"The timestamp column {column!r} is not in the current data. Its columns are "
            f"{list(frame.columns)[:20]}; pass timestamp_column= naming the event time."
        )
    try:
        times = pd.to_datetime(frame[column], utc=True)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(
            f"The timestamp column {column!r} does not hold times ({exc}). Pass a column of "
            "datetimes or ISO 8601 text."
        ) from None
    return times


def _floor(times: pd.Series, spec: WindowSpec) -> pd.Series:
    if spec.unit in ("M", "Y"):
        naive = times.dt.tz_convert("UTC").dt.tz_localize(None)
        out: pd.Series = naive.dt.to_period(spec.unit).dt.start_time.dt.tz_localize("UTC")
    elif spec.unit == "W":
        days = times.dt.floor("D")
        out = days - pd.to_timedelta(days.dt.day_of_week, unit="D")
    else:
        out = times.dt.floor(f"{spec.count}{spec.unit}")
    return out


def _step(spec: WindowSpec) -> pd.DateOffset | pd.Timedelta:
    if spec.unit == "M":
        return pd.DateOffset(months=spec.count)
    if spec.unit == "Y":
        return pd.DateOffset(years=spec.count)
    if spec.unit == "W":
        return pd.Timedelta(weeks=spec.count)
    return pd.Timedelta(f"{spec.count}{spec.unit}")


def _utc(value: object, name: str) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            ts = pd.Timestamp(value, unit="ms")  # a number is ms since the epoch, not ns
        else:
            ts = pd.Timestamp(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"{name}={value!r} is not a time ({exc}).") from None
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def utc_ms(value: object, name: str) -> int | None:
    """``start=``/``end=`` as milliseconds since the epoch (UTC when naive; None stays None).

    Raises:
        InvalidArgumentError: The value is not a time.
    """
    ts = _utc(value, name)
    return None if ts is None else int(ts.value // 1_000_000)


def cut(
    frame: pd.DataFrame,
    spec: WindowSpec,
    *,
    timestamp_column: str | None,
    start: object = None,
    end: object = None,
) -> list[Window]:
    """Cut ``frame`` into windows (rows outside ``[start, end)`` are left out).

    Raises:
        InvalidArgumentError: A duration window without a time column, ``start`` after
            ``end``, or more than :data:`MAX_WINDOWS` windows.
    """
    times = None
    if timestamp_column is not None:
        times = event_times(frame, timestamp_column)
    elif spec.by_time or start is not None or end is not None:
        raise InvalidArgumentError(
            "Windows by time (window='1d', start=, end=) need the event time of each row: pass "
            "timestamp_column= naming a column of the current data (or register the dataset "
            "with timestamp=)."
        )
    lo, hi = _utc(start, "start"), _utc(end, "end")
    if lo is not None and hi is not None and lo >= hi:
        raise InvalidArgumentError(f"start={lo} must be before end={hi}.")
    keep = np.ones(len(frame), dtype=bool)
    if times is not None:
        if times.isna().any():
            keep &= ~times.isna().to_numpy()
        if lo is not None:
            keep &= (times >= lo).to_numpy()
        if hi is not None:
            keep &= (times < hi).to_numpy()
    positions = np.flatnonzero(keep)
    if times is not None and not times.iloc[positions].is_monotonic_increasing:
        order = np.argsort(times.iloc[positions].to_numpy(), kind="stable")
        positions = positions[order]
    if spec.by_time:
        assert times is not None  # checked above
        return _by_time(times, positions, spec, lo, hi)
    first = last = None
    if times is not None and positions.size:
        first, last = times.iloc[positions[0]], times.iloc[positions[-1]]
    if spec.rows is None:
        return [Window(0, lo or first, hi or _after(last), positions)]
    if positions.size == 0:
        return [Window(0, None, None, positions)]
    chunks = range(0, positions.size, spec.rows)
    if len(chunks) > MAX_WINDOWS:
        raise InvalidArgumentError(_too_many(len(chunks)))
    return [Window(i, None, None, positions[s : s + spec.rows]) for i, s in enumerate(chunks)]


def _after(last: pd.Timestamp | None) -> pd.Timestamp | None:
    return None if last is None else last + pd.Timedelta(microseconds=1)


def _ns(values: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """UTC times as int64 nanoseconds (for a vectorized search)."""
    return np.asarray(pd.DatetimeIndex(values).tz_convert("UTC").as_unit("ns").asi8)


def _too_many(n: int) -> str:
    return (
        f"That window cuts the current data into {n:,} windows, more than {MAX_WINDOWS:,}. "
        "Pass a longer window, or start= and end= to look at a shorter period."
    )


def _by_time(
    times: pd.Series,
    positions: np.ndarray,
    spec: WindowSpec,
    lo: pd.Timestamp | None,
    hi: pd.Timestamp | None,
) -> list[Window]:
    floors = _floor(times.iloc[positions], spec) if positions.size else None
    first = _floor(pd.Series([lo]), spec).iloc[0] if lo is not None else None
    if first is None:
        if floors is None:
            return [Window(0, None, hi, positions)]
        first = floors.iloc[0]
    stop = hi if hi is not None else times.iloc[positions[-1]] + pd.Timedelta(microseconds=1)
    edges = [first]
    step = _step(spec)
    while edges[-1] + step < stop:
        edges.append(edges[-1] + step)
        if len(edges) > MAX_WINDOWS:
            raise InvalidArgumentError(_too_many(len(edges)))
    edges.append(edges[-1] + step)
    bounds = pd.DatetimeIndex(edges)
    if positions.size == 0:
        return [Window(i, bounds[i], bounds[i + 1], positions) for i in range(len(bounds) - 1)]
    cuts = np.searchsorted(_ns(times.iloc[positions]), _ns(bounds), side="left")
    return [
        Window(i, bounds[i], bounds[i + 1], positions[cuts[i] : cuts[i + 1]])
        for i in range(len(bounds) - 1)
    ]
