"""Converting one input column to what a model's signature says it must be.

:func:`column_spec` works out, once per column, the kind and pandas dtype a column must have
(:class:`ColumnSpec`); :func:`convert_column` converts a column of another dtype to it, or
words what is wrong with its values; :func:`quick_column` takes a few JSON values that need no
conversion straight into the column's dtype. The rules (what is converted, what is refused)
are listed in :mod:`loopml.registry.enforce`, which applies them to a whole input.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from loopml.core.entities.data import ColumnRole, ColumnSchema
from loopml.core.errors import InvalidArgumentError
from loopml.data.casting import family

__all__ = [
    "STRING_DTYPE",
    "ColumnSpec",
    "Kind",
    "column_spec",
    "convert_column",
    "quick_column",
    "show_values",
]

Kind = Literal["int", "float", "bool", "datetime", "string"]

#: pandas' default string dtype, which string columns are enforced to.
STRING_DTYPE = ptypes.pandas_dtype("str")
_TIMESTAMP = re.compile(r"timestamp\[(s|ms|us|ns)(?:, tz=(.+))?\]")
_BOOL_TEXT = {"true": True, "false": False, "1": True, "0": False}


@dataclass(frozen=True)
class ColumnSpec:
    """What one input column must be, worked out once per enforcer (:func:`column_spec`)."""

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


_FLOAT_OK = (int, float)


def quick_column(spec: ColumnSpec, values: list[Any]) -> Any:
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


def column_spec(column: ColumnSchema, *, check_unseen: bool) -> ColumnSpec:
    """Work out what ``column`` must be: its kind, pandas dtype and (with ``check_unseen``, for
    a categorical string column with known categories) the categories to check.

    Raises:
        InvalidArgumentError: The column's Arrow type cannot be read.

    Example:
        >>> from loopml.core.entities.data import ColumnRole, ColumnSchema
        >>> age = ColumnSchema("age", "int32", ColumnRole.NUMERIC, nullable=False)
        >>> column_spec(age, check_unseen=False).dtype
        dtype('int32')
    """
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
        kind, dtype = "string", STRING_DTYPE
    checks = (
        check_unseen
        and kind == "string"
        and column.role is ColumnRole.CATEGORICAL
        and column.categories is not None
        and not column.other_bucket
    )
    return ColumnSpec(
        name=column.name,
        kind=kind,
        dtype=dtype,
        nullable=column.nullable,
        signature_dtype=column.dtype,
        tz=tz,
        known=column.categories if checks else None,
    )


def convert_column(spec: ColumnSpec, series: pd.Series) -> tuple[pd.Series, str | None]:
    """Convert one column to the spec's dtype; ``(series, None)`` or ``(input, problem)``."""
    if spec.kind in ("int", "float"):
        return _to_number(spec, series)
    if spec.kind == "bool":
        return _to_bool(spec, series)
    if spec.kind == "datetime":
        return _to_datetime(spec, series)
    return _to_text(series), None


def _to_number(spec: ColumnSpec, series: pd.Series) -> tuple[pd.Series, str | None]:
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
                f"{show_values(raw[bad][:3].tolist(), int(bad.sum()))}. Clean them, or make them "
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
            f"{show_values(values[fraction][:3].tolist(), int(fraction.sum()))}. Round them "
            f"(df[{spec.name!r}].round()) or fix the values."
        )
    limits = np.iinfo(spec.dtype)
    outside = present & ((values < limits.min) | (values > limits.max))
    if outside.any():
        return series, _out_of_range(spec, values[outside], limits)
    if not present.all():  # missing values: float64 with NaN, as pandas reads such a column
        return pd.Series(values, index=series.index, name=series.name), None
    return pd.Series(values.astype(spec.dtype), index=series.index, name=series.name), None


def _out_of_range(spec: ColumnSpec, outside: np.ndarray, limits: Any) -> str:
    """The problem of values the column's type cannot hold (never wrapped or made inf)."""
    count = len(outside)
    return (
        f"Column {spec.name!r} has {count} values outside the range of its type "
        f"{spec.signature_dtype} ({limits.min:g} to {limits.max:g}): "
        f"{show_values(outside[:3].tolist(), count)}. Fix the values or their unit."
    )


def _to_bool(spec: ColumnSpec, series: pd.Series) -> tuple[pd.Series, str | None]:
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
            f"'true'/'false') but has {len(bad)} other values: {show_values(bad[:3], len(bad))}. "
            "Map them to True/False."
        )
    if any(v is None for v in out):
        return pd.Series(out, index=series.index, name=series.name, dtype="boolean"), None
    return pd.Series(out, index=series.index, name=series.name, dtype=bool), None


def _to_datetime(spec: ColumnSpec, series: pd.Series) -> tuple[pd.Series, str | None]:
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
                f"{show_values(series[bad][:3].tolist(), int(bad.sum()))}. Pass ISO 8601 text "
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
        return series.astype(STRING_DTYPE)
    if inferred in ("integer", "floating", "boolean", "mixed-integer-float", "decimal"):
        try:
            text = pc.cast(pa.array(series, from_pandas=True), pa.string())
            out = pd.Series(text.to_pandas(), name=series.name).astype(STRING_DTYPE)
            out.index = series.index
            return out
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
            pass  # e.g. an int beyond 64 bits: value by value below
    values = [_text(v) for v in series.tolist()]
    return pd.Series(values, index=series.index, name=series.name, dtype=STRING_DTYPE)


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


def show_values(values: Sequence[Any], total: int) -> str:
    """Up to three values for a message, and how many more there are.

    Example:
        >>> show_values([1, 2, 3, 4], 10)
        '1, 2, 3 and 7 more'
    """
    shown = ", ".join(repr(v.item() if isinstance(v, np.generic) else v) for v in values[:3])
    return shown + (f" and {total - 3} more" if total > 3 else "")
