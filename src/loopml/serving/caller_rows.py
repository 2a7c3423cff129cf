"""What a caller says about its own rows: :class:`CallerRows`, the per-row event times and ids
a request may carry beside its rows (``"timestamps"`` and ``"ids"`` of ``/predict``, the
``timestamps`` and ``ids`` parameters of the Open Inference Protocol).

Both are checked when the request arrives, before anything is predicted or logged: one value
per row, every timestamp an ISO 8601 time (a naive one is UTC) or epoch milliseconds, every id
a string or an integer (kept as text) and no id twice. The work is vectorized (pandas parses
every timestamp of a request in one call), except for a few plain values (up to 64 numbers or
strings of the common ISO 8601 forms), read in Python for the same result without pandas'
fixed cost; a request without them costs nothing here.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import infer_dtype

from loopml.core.errors import InvalidArgumentError

#: The latest epoch millisecond a timestamp may be (the range of nanosecond timestamps,
#: years 1677 to 2262, so that any reader of the log can hold it).
MAX_MS = np.iinfo(np.int64).max // 1_000_000
_NUMBERS = frozenset({"integer", "floating", "mixed-integer-float"})
_TIMES = frozenset({"string", "datetime", "datetime64", "date"})
_SHOWN = 60  # characters of a bad value quoted in a message
#: Values up to which :func:`event_times` tries :func:`_quick_times` (pandas' fixed cost of
#: a call is most of a small request's).
_QUICK = 64
#: The ISO 8601 forms :func:`_quick_times` reads; pandas reads every other one.
_ISO = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,9}))?)?(Z|[+-][0-9]{2}:[0-9]{2})?)?"
)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class CallerRows:
    """The caller's event time and id of each row of one request.

    Attributes:
        event_at: One event time per row, in milliseconds since the epoch (UTC), or None
            when the request gave no timestamps.
        ids: One caller id per row (as text), or None when the request gave no ids.
    """

    event_at: list[int] | None = None
    ids: list[str] | None = None


def caller_rows(timestamps: Any, ids: Any, *, rows: int) -> CallerRows | None:
    """Check the ``timestamps`` and ``ids`` a request gave for its ``rows`` rows.

    Args:
        timestamps: None, or one time per row: ISO 8601 strings (with or without a zone; a
            naive time is UTC) or epoch milliseconds (numbers), one form per request.
        ids: None, or one id per row: strings or integers, unique within the request.
        rows: The number of rows of the request.

    Returns:
        The parsed values, or None when neither was given.

    Raises:
        InvalidArgumentError: Not a list, not one value per row, a null or unparseable
            timestamp, an id that is not a string or an integer, or an id given twice (the
            message names the row and the value).

    Example:
        >>> caller_rows(["2024-01-05T10:00:00Z"], [17], rows=1)
        CallerRows(event_at=[1704448800000], ids=['17'])
    """
    if timestamps is None and ids is None:
        return None
    return CallerRows(
        event_at=None if timestamps is None else event_times(timestamps, rows=rows),
        ids=None if ids is None else caller_ids(ids, rows=rows),
    )


def _values(values: Any, name: str, rows: int, what: str) -> Any:
    if isinstance(values, str | bytes | dict) or not isinstance(
        values, list | tuple | np.ndarray | pd.Series | pd.Index
    ):
        raise InvalidArgumentError(
            f"'{name}' must be a list of {what}, one per row. Got {type(values).__name__} instead."
        )
    if len(values) != rows:
        raise InvalidArgumentError(
            f"'{name}' has {len(values)} values but the request has {rows} rows: give one "
            f"per row, in the rows' order (or leave '{name}' out)."
        )
    return values


def _shown(value: Any) -> str:
    if value is None:
        return "null"
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def event_times(values: Any, *, rows: int) -> list[int]:
    """Each row's event time in milliseconds since the epoch (UTC); see :func:`caller_rows`.

    Raises:
        InvalidArgumentError: The values are not one valid time per row.
    """
    values = _values(values, "timestamps", rows, "times (ISO 8601 strings or epoch ms)")
    if isinstance(values, pd.Series | pd.Index):
        values = values.to_numpy()  # by position; to_datetime then gives an index
    if rows == 0:
        return []
    if rows <= _QUICK and isinstance(values, list | tuple):
        quick = _quick_times(values)
        if quick is not None:
            return quick
    nulls = np.asarray(pd.isna(np.asarray(values, dtype=object)), dtype=bool)
    if nulls.any():
        i = int(nulls.argmax())
        raise InvalidArgumentError(
            f"timestamps[{i}] is null: give every row its event time (or leave 'timestamps' "
            "out, and the time the request arrived is used)."
        )
    kind = infer_dtype(values, skipna=False)
    if kind in _NUMBERS:
        ms = np.asarray(values, dtype=np.float64)
        bad = ~np.isfinite(ms) | (np.abs(ms) > MAX_MS)
        if bad.any():
            i = int(bad.argmax())
            raise InvalidArgumentError(
                f"timestamps[{i}] is {_shown(values[i])}: a number is read as milliseconds "
                f"since the Unix epoch and must lie within +-{MAX_MS:,} (years 1677 to 2262). "
                "Send milliseconds (not seconds or nanoseconds), or an ISO 8601 string."
            )
        return [int(v) for v in np.rint(ms).astype(np.int64).tolist()]
    if kind in _TIMES:
        try:
            parsed = pd.to_datetime(values, utc=True, format="ISO8601", errors="coerce")
        except (ValueError, TypeError, OverflowError):  # out of range
            parsed = pd.DatetimeIndex([pd.NaT] * rows, tz="UTC")
        bad = np.asarray(parsed.isna(), dtype=bool)
        if not bad.any():
            ms = parsed.as_unit("ms").asi8
            bad = np.abs(ms) > MAX_MS
        if bad.any():
            i = int(bad.argmax())
            raise InvalidArgumentError(
                f"timestamps[{i}] is {_shown(values[i])}, not an ISO 8601 time between the "
                "years 1677 and 2262 (e.g. '2024-05-01T12:30:00Z'; one without a zone is "
                "UTC). Send times as ISO 8601 strings or as epoch milliseconds."
            )
        return [int(v) for v in ms.tolist()]
    first_kind = type(values[0])
    for i, value in enumerate(values):  # the error path only: name the first odd one
        number = isinstance(value, int | float | np.number) and not isinstance(value, bool)
        if isinstance(value, bool) or not (number or isinstance(value, str)):
            raise InvalidArgumentError(
                f"timestamps[{i}] is {_shown(value)} (a {type(value).__name__}): a timestamp "
                "is an ISO 8601 string or a number of epoch milliseconds."
            )
        if type(value) is not first_kind and (isinstance(value, str) or first_kind is str):
            raise InvalidArgumentError(
                f"timestamps[{i}] is {_shown(value)} but timestamps[0] is {_shown(values[0])}: "
                "send every timestamp of a request in one form, all ISO 8601 strings or all "
                "epoch milliseconds."
            )
    raise InvalidArgumentError(  # pragma: no cover - every kind is handled above
        f"The timestamps have values of kind {kind!r}; send ISO 8601 strings or epoch ms."
    )


def _quick_times(values: list[Any] | tuple[Any, ...]) -> list[int] | None:
    """The epoch milliseconds of a few plain values, as the pandas path of
    :func:`event_times` reads them, without its fixed cost: all ints or floats within
    :data:`MAX_MS` (a float rounded half to even, as ``np.rint``), or all strings of the
    common ISO 8601 forms (``YYYY-MM-DD``, optionally ``[T ]HH:MM[:SS[.f{1,9}]][Z|+HH:MM]``)
    in the years 1678 to 2261 (floored to the millisecond, as ``as_unit("ms")``). None for
    anything else (bools, nulls, other forms, invalid dates, out of range): the general path
    reads it or words the error."""
    if type(values[0]) is str:
        out: list[int] = []
        for value in values:
            match = _ISO.fullmatch(value) if type(value) is str else None
            if match is None or not 1678 <= int(match.group(1)) <= 2261:
                return None
            try:  # the form is checked above; Python reads it (fractions past us truncated)
                parsed = dt.datetime.fromisoformat(value)
            except ValueError:  # 2024-02-30, 25:00:00, a leap second, a +24:00 offset
                return None
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=dt.UTC)
            delta = parsed - _EPOCH
            out.append((delta.days * 86_400 + delta.seconds) * 1_000 + delta.microseconds // 1_000)
        return out
    numbers: list[int] = []
    for value in values:
        kind = type(value)
        if kind is int:
            if not -MAX_MS <= value <= MAX_MS:
                return None
            numbers.append(value)
        elif kind is float:
            if not (math.isfinite(value) and abs(value) <= MAX_MS):
                return None
            numbers.append(round(value))
        else:
            return None
    return numbers


def caller_ids(values: Any, *, rows: int) -> list[str]:
    """Each row's caller id as text; see :func:`caller_rows`.

    Raises:
        InvalidArgumentError: The values are not one unique string or integer per row.
    """
    values = _values(values, "ids", rows, "ids (strings or integers)")
    kind = infer_dtype(values, skipna=False)
    if kind == "string":
        texts = [str(v) for v in values] if not isinstance(values, list) else values
    elif kind == "integer":
        texts = [str(v) for v in values]
    elif kind == "empty":
        return []
    else:  # strings and integers mixed are fine; anything else is named
        for i, value in enumerate(values):
            if isinstance(value, bool) or not isinstance(value, str | int | np.integer):
                raise InvalidArgumentError(
                    f"ids[{i}] is {_shown(value)}"
                    + ("" if value is None else f" (a {type(value).__name__})")
                    + ": an id is a string or an integer."
                )
        texts = [v if isinstance(v, str) else str(v) for v in values]
    if not all(texts):
        i = texts.index("")
        raise InvalidArgumentError(
            f"ids[{i}] is an empty string: give each row an id that names it (labels join "
            "on it later)."
        )
    if len(set(texts)) < len(texts):
        seen: dict[str, int] = {}
        for i, text in enumerate(texts):
            if text in seen:
                raise InvalidArgumentError(
                    f"ids[{i}] is {text!r}, the same as ids[{seen[text]}] (ids are compared "
                    "as text, so 7 and '7' are the same): give each row of a request its own "
                    "id."
                )
            seen[text] = i
    return list(texts)
