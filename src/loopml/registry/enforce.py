"""Enforce a model's input signature on prediction inputs, on every ``predict`` call.

:class:`InputEnforcer` is built once per loaded model: it works out per column what the model
was trained on, so each call only looks at what can be wrong. The result is a new DataFrame
with exactly the signature's columns, in order, each in the pandas dtype the model was trained
with:

* integers and floats: the NumPy type of the Arrow type (``int64``, ``float64``, ...), decimals
  ``float64``; ``bool``: ``bool``; timestamps: ``datetime64[unit, tz]``, dates ``datetime64[s]``;
  strings (and other types): pandas' default string dtype (``str``);
* in a nullable column that misses values, integers are ``float64`` with NaN (as pandas reads
  such a column) and booleans pandas ``boolean``.

What is converted and what is refused (each refusal an
:class:`~loopml.core.errors.InvalidArgumentError` naming the column, up to 3 offending values
and the fix; the problems of all columns come together):

* numbers: numeric text is read (``"3"``), other text (``"abc"``) refused; booleans count as
  0/1; fractions (or inf) in an integer column and date-times are refused, as are numbers
  the column's type cannot hold (300 in a uint8 column, 1e300 in a float32 one: never
  wrapped or made infinite);
* booleans: ``True``/``False``, ``1``/``0`` and the text ``true``/``false``/``1``/``0`` (any
  case); anything else is refused;
* date-times: datetime values and text pandas parses (ISO 8601 first, then other formats);
  naive times are read as UTC; numbers are refused (their unit is ambiguous);
* strings: numbers and booleans become their text as Arrow casts them, the form dataset
  categories are stored in (``3`` and ``3.0`` -> ``'3'``, ``True`` -> ``'true'``), so a model
  trained on string codes gets ``'3'`` for ``3``;
* missing values (None, NaN, NaT) pass in nullable columns and are refused, with their count,
  in columns marked ``nullable=False``;
* unseen categories (categorical columns with known categories and no ``other_bucket``):
  ``unseen="allow"`` passes them (the model's encoder decides), ``"error"`` refuses them,
  ``"null"`` makes them missing (after the missing-value check: use it when the model handles
  missing values);
* extra columns are dropped (``extra="drop"``) or refused (``"error"``); missing ones refused.

A DataFrame that already has the signature's dtypes takes a fast path: no per-value work
beyond the missing-value and unseen-category checks that apply.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from loopml.core.entities.data import ColumnRole, ColumnSchema
from loopml.core.entities.registry import ModelSignature
from loopml.core.errors import InvalidArgumentError, did_you_mean
from loopml.data.casting import family
from loopml.registry.signature import to_frame

__all__ = ["EXTRA_MODES", "UNSEEN_MODES", "InputEnforcer", "enforce"]

#: Values of ``extra``: drop or refuse columns the model does not take.
EXTRA_MODES: tuple[str, ...] = ("drop", "error")
#: Values of ``unseen``: pass, refuse or blank out unseen categories.
UNSEEN_MODES: tuple[str, ...] = ("allow", "error", "null")

Kind = Literal["int", "float", "bool", "datetime", "string"]

_STR = ptypes.pandas_dtype("str")
#: Rows up to which value checks loop in Python (cheaper than vectorized calls on tiny frames).
_SMALL = 64
_TIMESTAMP = re.compile(r"timestamp\[(s|ms|us|ns)(?:, tz=(.+))?\]")
_BOOL_TEXT = {"true": True, "false": False, "1": True, "0": False}


@dataclass(frozen=True)
class _Spec:
    """What one input column must be, worked out once per enforcer."""

    name: str
    kind: Kind
    dtype: Any
    nullable: bool
    signature_dtype: str
    tz: str | None = None
    known: tuple[str, ...] | None = None  # categories checked for unseen values

    @property
    def can_miss(self) -> bool:
        """Whether the enforced dtype can hold a missing value on the fast path."""
        return self.kind not in ("int", "bool")


class InputEnforcer:
    """Check and convert prediction inputs against a model's input signature.

    Args:
        inputs: The model's signature or its input columns.
        extra: What to do with columns the model does not take: ``"drop"`` or ``"error"``.
        unseen: What to do with values outside a categorical column's known categories:
            ``"allow"`` (the model's encoder decides), ``"error"`` or ``"null"`` (make them
            missing). Columns whose categories are only the top-k (``other_bucket``) are
            never checked.

    Raises:
        InvalidArgumentError: An unknown ``extra``/``unseen`` value, no input columns,
            duplicate names, or a dtype the enforcer cannot produce.

    Example:
        >>> from loopml.core.entities.data import ColumnRole, ColumnSchema
        >>> age = ColumnSchema("age", "int64", ColumnRole.NUMERIC, nullable=False)
        >>> InputEnforcer([age]).enforce({"age": ["31"], "name": ["x"]}).dtypes.to_dict()
        {'age': dtype('int64')}
    """

    def __init__(
        self,
        inputs: ModelSignature | Sequence[ColumnSchema],
        *,
        extra: str = "drop",
        unseen: str = "allow",
    ) -> None:
        for param, value, allowed in (
            ("extra", extra, EXTRA_MODES),
            ("unseen", unseen, UNSEEN_MODES),
        ):
            if value not in allowed:
                raise InvalidArgumentError(
                    f"The {param!r} parameter of InputEnforcer must be one of "
                    f"{', '.join(repr(a) for a in allowed)}. Got {value!r} instead."
                )
        columns = tuple(inputs.inputs if isinstance(inputs, ModelSignature) else inputs)
        if not columns or not all(isinstance(c, ColumnSchema) for c in columns):
            raise InvalidArgumentError(
                "The 'inputs' parameter of InputEnforcer must be a ModelSignature or a "
                f"non-empty sequence of ColumnSchema. Got {inputs!r:.100} instead."
            )
        names = [c.name for c in columns]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise InvalidArgumentError(
                f"The signature lists the input columns {dupes} more than once; each column "
                "must appear once. Rebuild the signature."
            )
        self.inputs = columns
        self.extra = extra
        self.unseen = unseen
        self._names = names
        self._name_set = frozenset(names)
        self._specs = tuple(_spec(c, check_unseen=unseen != "allow") for c in columns)
        self._dtypes = [s.dtype for s in self._specs]
        self._null_checked = [i for i, s in enumerate(self._specs) if not s.nullable]
        self._unseen_checked = [i for i, s in enumerate(self._specs) if s.known is not None]
        self._float_checked = [i for i, s in enumerate(self._specs) if s.kind == "float"]

    def enforce(self, data: Any) -> pd.DataFrame:
        """Return the input as a new DataFrame of the signature's columns and dtypes.

        Args:
            data: Prediction input in any form :func:`~loopml.registry.signature.to_frame`
                reads. Its index is kept.

        Returns:
            A new DataFrame: exactly the signature's columns, in order, in the trained dtypes.

        Raises:
            InvalidArgumentError: Unreadable input, missing (or, with ``extra="error"``,
                extra) columns, values of the wrong type, missing values in a column trained
                without them, or (with ``unseen="error"``) unseen categories.
        """
        if self.extra == "drop" and not self._unseen_checked:
            quick = self._quick(data)
            if quick is not None:
                return quick
        source = to_frame(data)
        frame = self._select(source)
        problems: list[str] = []
        failed: set[int] = set()
        converted: dict[int, pd.Series] = {}
        dtypes = frame.dtypes.tolist()  # read once: building it is most of a 1-row call
        for i, dtype in enumerate(dtypes):
            if dtype != self._dtypes[i]:
                series, problem = _convert(self._specs[i], frame[self._names[i]])
                if problem is None:
                    converted[i] = series
                else:
                    problems.append(problem)
                    failed.add(i)
        if frame is source or converted:
            frame = frame.copy(deep=False)
        for i, series in converted.items():
            frame.isetitem(i, series.array)
        self._check_nulls(frame, dtypes, failed, problems)
        self._check_infinite(frame, failed, problems)
        if self._unseen_checked:
            self._check_unseen(frame, failed, problems)
        if problems:
            head = "" if len(problems) == 1 else f"The input has {len(problems)} problems:\n- "
            raise InvalidArgumentError(head + "\n- ".join(problems))
        return frame

    def _quick(self, data: Any) -> pd.DataFrame | None:
        """The frame of a few clean JSON-like rows, built straight from the values (what one
        server request sends: a record, a list of records, or a dict of lists).

        Only values that need no conversion pass: ints in integer columns, ints and finite
        floats in float columns, bools in boolean ones, text in string ones, None where the
        column is nullable (not in integer or boolean columns). Anything else returns None,
        and the general path converts it or words the error. Twice as fast as the general
        path on one row (most of the rest is the DataFrame itself).
        """
        pick: Callable[[Any, str], list[Any] | None]
        if isinstance(data, dict):
            first = next(iter(data.values()), None)
            if isinstance(first, list):
                if not 0 < len(first) <= _SMALL:
                    return None
                pick = _column_of_lists
            else:
                pick = _column_of_record
        elif isinstance(data, list) and 0 < len(data) <= _SMALL:
            pick = _column_of_records
        else:
            return None
        columns: dict[str, Any] = {}
        for spec in self._specs:
            values = pick(data, spec.name)
            if values is None:
                return None
            column = _quick_column(spec, values)
            if column is None:
                return None
            columns[spec.name] = column
        return pd.DataFrame(columns)

    def _select(self, frame: pd.DataFrame) -> pd.DataFrame:
        columns = frame.columns
        if len(columns) == len(self._names) and columns.tolist() == self._names:
            return frame
        if not columns.is_unique:
            dupes = sorted({str(c) for c in columns[columns.duplicated()]})
            raise InvalidArgumentError(
                f"The input has duplicate columns {dupes}; each column must appear once. "
                "Rename or drop the duplicates."
            )
        present = set(columns)
        missing = [n for n in self._names if n not in present]
        extra = [c for c in columns if c not in self._name_set]
        if missing:
            hints = "".join(did_you_mean(m, [str(e) for e in extra]) for m in missing)
            raise InvalidArgumentError(
                f"The input is missing {len(missing)} of the model's {len(self._names)} "
                f"columns: {_names(missing, limit=len(missing))}.{hints} The model takes: "
                f"{_names(self._names, limit=50)}. Add the missing columns (in any order)."
            )
        if extra and self.extra == "error":
            raise InvalidArgumentError(
                f"The input has {len(extra)} columns the model does not take: "
                f"{_names(extra, limit=10)}. Drop them, or build the enforcer with "
                "extra='drop' to drop them silently."
            )
        return frame.loc[:, self._names]

    def _check_nulls(
        self, frame: pd.DataFrame, dtypes: list[Any], failed: set[int], problems: list[str]
    ) -> None:
        """Count missing values where the signature allows none: in columns whose dtype can
        hold them, and in every column that was converted (``dtypes`` is before conversion)."""
        checked = [
            i
            for i in self._null_checked
            if i not in failed and (self._specs[i].can_miss or dtypes[i] != self._dtypes[i])
        ]
        if not checked:
            return
        mask = frame.isna().to_numpy()[:, checked]
        counts = mask.sum(axis=0)
        for position, i in enumerate(checked):
            if counts[position]:
                rows = frame.index[mask[:, position]][:3].tolist()
                count = int(counts[position])
                problems.append(
                    f"Column {self._names[i]!r} has {count} missing values (rows "
                    f"{_values(rows, count)}) "
                    "but the model was trained without missing values in it (nullable=False). "
                    "Fill them (e.g. with the training median or most frequent value) or drop "
                    "those rows."
                )
                failed.add(i)

    def _check_infinite(self, frame: pd.DataFrame, failed: set[int], problems: list[str]) -> None:
        """Infinity is never a feature value a model was trained on: refuse it by column."""
        checked = [i for i in self._float_checked if i not in failed]
        if not checked:
            return
        for i in checked:  # column by column: selecting a block of columns copies them all
            values = frame.iloc[:, i].to_numpy(dtype=np.float64, na_value=np.nan)
            infinite = np.isinf(values)
            if not infinite.any():
                continue
            count = int(infinite.sum())
            problems.append(
                f"Column {self._names[i]!r} has {count} infinite values; a model takes finite "
                "numbers. Replace them (e.g. with the column's training maximum) or drop "
                "those rows."
            )
            failed.add(i)

    def _check_unseen(self, frame: pd.DataFrame, failed: set[int], problems: list[str]) -> None:
        for i in self._unseen_checked:
            if i in failed:
                continue
            spec = self._specs[i]
            known = spec.known or ()
            series = frame[spec.name]
            if len(series) <= _SMALL:
                allowed = set(known)
                values = [v for v in series.array if isinstance(v, str) and v not in allowed]
                if not values:
                    continue
                unseen = list(dict.fromkeys(values))
                mask = series.isin(unseen).to_numpy()
            else:
                mask = (~series.isin(known) & series.notna()).to_numpy()
                if not mask.any():
                    continue
                unseen = pd.unique(series.to_numpy()[mask]).tolist()
            if self.unseen == "null":
                frame.isetitem(i, series.where(~mask).array)
                continue
            problems.append(
                f"Column {spec.name!r} has {int(mask.sum())} values in {len(unseen)} categories "
                f"not seen in training: {_values(unseen, len(unseen))} (known: "
                f"{_values(list(known), len(known))}). Map them to a known category, or build "
                "the enforcer with unseen='null' to send them as missing values or "
                "unseen='allow' to let the model's encoder decide."
            )


def enforce(
    data: Any,
    inputs: ModelSignature | Sequence[ColumnSchema],
    *,
    extra: str = "drop",
    unseen: str = "allow",
) -> pd.DataFrame:
    """Enforce an input signature once: ``InputEnforcer(inputs, ...).enforce(data)``.

    Build an :class:`InputEnforcer` instead when enforcing many inputs (it precomputes the
    checks). Args, returns and errors as :class:`InputEnforcer`.

    Example:
        >>> from loopml.core.entities.data import ColumnRole, ColumnSchema
        >>> flag = ColumnSchema("flag", "bool", ColumnRole.BOOLEAN, nullable=False)
        >>> enforce([{"flag": 1}, {"flag": 0}], [flag])["flag"].tolist()
        [True, False]
    """
    return InputEnforcer(inputs, extra=extra, unseen=unseen).enforce(data)


def _column_of_records(data: list[Any], name: str) -> list[Any] | None:
    try:
        return [record[name] for record in data]
    except (KeyError, TypeError):  # a missing column, or not records: the general path
        return None


def _column_of_record(data: dict[str, Any], name: str) -> list[Any] | None:
    if name not in data:
        return None
    value = data[name]
    return None if isinstance(value, list | dict | tuple) else [value]


def _column_of_lists(data: dict[str, Any], name: str) -> list[Any] | None:
    values = data.get(name)
    if not isinstance(values, list) or len(values) != len(next(iter(data.values()))):
        return None
    return values


_FLOAT_OK = (int, float)


def _quick_column(spec: _Spec, values: list[Any]) -> Any:
    """``values`` as the column ``spec`` wants, when they need no conversion; else None."""
    kind = spec.kind
    try:
        if kind == "int":
            if not all(type(v) is int for v in values):
                return None
            return np.array(values, dtype=spec.dtype)
        if kind == "float":
            if not all(type(v) in _FLOAT_OK or (v is None and spec.nullable) for v in values):
                return None
            with np.errstate(over="ignore"):  # a float32 column: too large becomes inf
                array = np.array([np.nan if v is None else v for v in values], dtype=spec.dtype)
            if np.isinf(array).any() or (not spec.nullable and np.isnan(array).any()):
                return None  # the general path words the error
            return array
        if kind == "bool":
            return np.array(values, dtype=bool) if all(type(v) is bool for v in values) else None
        if kind == "string":
            if not all(type(v) is str or (v is None and spec.nullable) for v in values):
                return None
            return pd.array(values, dtype=spec.dtype)
    except (OverflowError, ValueError, FloatingPointError):  # out of the dtype's range
        return None
    return None  # date-times are parsed by the general path


def _spec(column: ColumnSchema, *, check_unseen: bool) -> _Spec:
    import pyarrow as pa

    fam = family(column.dtype)
    tz: str | None = None
    kind: Kind
    if fam in ("int", "float"):
        kind = fam  # type: ignore[assignment]  # the two literals
        try:
            dtype: Any = np.dtype(pa.type_for_alias(column.dtype).to_pandas_dtype())
        except (ValueError, KeyError, NotImplementedError) as exc:
            raise InvalidArgumentError(
                f"Input column {column.name!r} has the type {column.dtype!r}, which the "
                f"enforcer cannot read ({exc}); use an Arrow type such as int64 or double."
            ) from None
    elif fam == "decimal":
        kind, dtype = "float", np.dtype(np.float64)
    elif fam == "bool":
        kind, dtype = "bool", np.dtype(bool)
    elif fam == "date":
        kind, dtype = "datetime", np.dtype("datetime64[s]")
    elif fam == "timestamp":
        kind = "datetime"
        match = _TIMESTAMP.fullmatch(column.dtype)
        unit: Literal["s", "ms", "us", "ns"] = match.group(1) if match else "us"  # type: ignore[assignment]
        tz = match.group(2) if match else None
        dtype = pd.DatetimeTZDtype(unit, tz) if tz else np.dtype(f"datetime64[{unit}]")
    else:
        kind, dtype = "string", _STR
    checks = (
        check_unseen
        and kind == "string"
        and column.role is ColumnRole.CATEGORICAL
        and column.categories is not None
        and not column.other_bucket
    )
    return _Spec(
        name=column.name,
        kind=kind,
        dtype=dtype,
        nullable=column.nullable,
        signature_dtype=column.dtype,
        tz=tz,
        known=column.categories if checks else None,
    )


def _convert(spec: _Spec, series: pd.Series) -> tuple[pd.Series, str | None]:
    """Convert one column to the spec's dtype; ``(series, None)`` or ``(input, problem)``."""
    if spec.kind in ("int", "float"):
        return _to_number(spec, series)
    if spec.kind == "bool":
        return _to_bool(spec, series)
    if spec.kind == "datetime":
        return _to_datetime(spec, series)
    return _to_text(series), None


def _to_number(spec: _Spec, series: pd.Series) -> tuple[pd.Series, str | None]:
    dtype = series.dtype
    if ptypes.is_datetime64_any_dtype(dtype) or ptypes.is_timedelta64_dtype(dtype):
        return series, (
            f"Column {spec.name!r} must hold numbers (the model was trained on "
            f"{spec.signature_dtype}) but holds {dtype} values. Convert it to numbers upstream."
        )
    if not (ptypes.is_numeric_dtype(dtype) or ptypes.is_bool_dtype(dtype)):
        raw = series.to_numpy(dtype=object)
        numbers = pd.to_numeric(raw, errors="coerce")
        bad = pd.notna(raw) & np.isnan(numbers.astype(np.float64))
        if bad.any():
            return series, (
                f"Column {spec.name!r} must hold numbers (the model was trained on "
                f"{spec.signature_dtype}) but has {int(bad.sum())} values that are not: "
                f"{_values(raw[bad][:3].tolist(), int(bad.sum()))}. Clean them, or make them "
                f"missing with pd.to_numeric(df[{spec.name!r}], errors='coerce')."
            )
        series = pd.Series(numbers, index=series.index, name=series.name)
        dtype = series.dtype
    if spec.kind == "float":
        wide = series.to_numpy(dtype=np.float64, na_value=np.nan)
        with np.errstate(over="ignore"):
            values = wide.astype(spec.dtype)
        too_large = np.isfinite(wide) & np.isinf(values)
        if too_large.any():
            return series, _out_of_range(spec, wide[too_large], np.finfo(spec.dtype))
        return pd.Series(values, index=series.index, name=series.name), None
    if (ptypes.is_integer_dtype(dtype) or ptypes.is_bool_dtype(dtype)) and not series.hasnans:
        raw = series.to_numpy()
        limits = np.iinfo(spec.dtype)
        if len(raw) and (int(raw.min()) < limits.min or int(raw.max()) > limits.max):
            outside = raw[(raw < limits.min) | (raw > limits.max)]
            return series, _out_of_range(spec, outside, limits)
        return pd.Series(raw.astype(spec.dtype), index=series.index, name=series.name), None
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    present = ~np.isnan(values)
    fraction = present & ~(np.isfinite(values) & (values == np.trunc(values)))
    if fraction.any():
        return series, (
            f"Column {spec.name!r} must hold whole numbers (the model was trained on "
            f"{spec.signature_dtype}) but has {int(fraction.sum())} values with a fraction: "
            f"{_values(values[fraction][:3].tolist(), int(fraction.sum()))}. Round them "
            f"(df[{spec.name!r}].round()) or fix the values."
        )
    limits = np.iinfo(spec.dtype)
    outside = present & ((values < limits.min) | (values > limits.max))
    if outside.any():
        return series, _out_of_range(spec, values[outside], limits)
    if not present.all():  # missing values: float64 with NaN, as pandas reads such a column
        return pd.Series(values, index=series.index, name=series.name), None
    return pd.Series(values.astype(spec.dtype), index=series.index, name=series.name), None


def _out_of_range(spec: _Spec, outside: np.ndarray, limits: Any) -> str:
    """The problem of values the column's type cannot hold (never wrapped or made inf)."""
    count = len(outside)
    return (
        f"Column {spec.name!r} has {count} values outside the range of its type "
        f"{spec.signature_dtype} ({limits.min:g} to {limits.max:g}): "
        f"{_values(outside[:3].tolist(), count)}. Fix the values or their unit."
    )


def _to_bool(spec: _Spec, series: pd.Series) -> tuple[pd.Series, str | None]:
    out: list[bool | None] = []
    bad: list[Any] = []
    for value in series.tolist():
        if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
            out.append(None)
        elif isinstance(value, str):
            word = _BOOL_TEXT.get(value.strip().lower())
            out.append(word)
            if word is None:
                bad.append(value)
        elif isinstance(value, bool | int | float | np.bool_ | np.number) and value in (0, 1):
            out.append(bool(value))
        else:
            out.append(None)
            bad.append(value)
    if bad:
        return series, (
            f"Column {spec.name!r} must hold booleans (True/False, 1/0 or the text "
            f"'true'/'false') but has {len(bad)} other values: {_values(bad[:3], len(bad))}. "
            "Map them to True/False."
        )
    if any(v is None for v in out):
        return pd.Series(out, index=series.index, name=series.name, dtype="boolean"), None
    return pd.Series(out, index=series.index, name=series.name, dtype=bool), None


def _to_datetime(spec: _Spec, series: pd.Series) -> tuple[pd.Series, str | None]:
    dtype = series.dtype
    if ptypes.is_datetime64_any_dtype(dtype):
        parsed = series
    elif ptypes.is_numeric_dtype(dtype) or ptypes.is_bool_dtype(dtype):
        return series, (
            f"Column {spec.name!r} must hold date-times (the model was trained on "
            f"{spec.signature_dtype}) but holds numbers ({dtype}), whose unit is ambiguous. "
            f"Convert them, e.g. pd.to_datetime(df[{spec.name!r}], unit='s', utc=True)."
        )
    else:
        present = series.notna().to_numpy()
        parsed = pd.to_datetime(series, utc=True, errors="coerce", format="ISO8601")
        retry = present & parsed.isna().to_numpy()
        if retry.any():
            parsed = parsed.copy()
            parsed[retry] = pd.to_datetime(series[retry], utc=True, errors="coerce", format="mixed")
        bad = present & parsed.isna().to_numpy()
        if bad.any():
            return series, (
                f"Column {spec.name!r} must hold date-times (the model was trained on "
                f"{spec.signature_dtype}) but has {int(bad.sum())} values that do not parse: "
                f"{_values(series[bad][:3].tolist(), int(bad.sum()))}. Pass ISO 8601 text "
                "(2024-05-01T12:00:00Z) or datetime values."
            )
    if parsed.dt.tz is None:
        parsed = parsed.dt.tz_localize("UTC")
    parsed = parsed.dt.tz_convert(spec.tz) if spec.tz else parsed.dt.tz_convert(None)
    return parsed.astype(spec.dtype), None


def _to_text(series: pd.Series) -> pd.Series:
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(series.dtype, pd.CategoricalDtype):
        series = series.astype(object)
    inferred = ptypes.infer_dtype(series, skipna=True)
    if inferred in ("string", "empty"):
        return series.astype(_STR)
    if inferred in ("integer", "floating", "boolean", "mixed-integer-float", "decimal"):
        try:
            text = pc.cast(pa.array(series, from_pandas=True), pa.string())
            out = pd.Series(text.to_pandas(), name=series.name).astype(_STR)
            out.index = series.index
            return out
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
            pass  # e.g. an int beyond 64 bits: value by value below
    values = [_text(v) for v in series.tolist()]
    return pd.Series(values, index=series.index, name=series.name, dtype=_STR)


def _text(value: Any) -> str | None:
    """One value as Arrow's cast to string writes it (the text categories are stored in)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = repr(value)
        return str(int(value)) if value.is_integer() and "e" not in text else text
    return str(value)


def _values(values: Sequence[Any], total: int) -> str:
    shown = ", ".join(repr(v.item() if isinstance(v, np.generic) else v) for v in values[:3])
    return shown + (f" and {total - 3} more" if total > 3 else "")


def _names(names: Sequence[Any], *, limit: int) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
