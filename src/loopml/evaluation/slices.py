"""Slices: the subpopulations an evaluation reports on, as boolean row masks.

A slice spec is one of:

* ``"origin"``: one slice per value of a column (the ``max_values`` most frequent; missing
  values are their own slice, ``origin is missing``);
* ``{"column": "distance", "bins": [0, 500, 1000, 5000]}``: one slice per interval
  ``[a, b)`` (the last one closed); ``"bins": 4`` cuts at quantiles;
* ``("origin", "carrier")`` or ``{"cross": ["origin", "carrier"]}``: one slice per pair of
  values seen together;
* ``{"name": "night", "where": "dep_time >= 2200 or dep_time < 500"}``: rows where a pandas
  expression holds (``DataFrame.eval``; backquote odd column names: ```mean radius` > 10``).

A spec that cannot be applied (an unknown column, an expression that does not evaluate) gives
one slice with no rows and the reason, never an exception: the rest of the evaluation goes on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from loopml.core.errors import InvalidArgumentError, did_you_mean
from loopml.core.jsonable import Jsonable

#: Most values of one column turned into slices (the most frequent ones).
MAX_VALUES = 50


@dataclass(frozen=True)
class SliceSpec(Jsonable):
    """One declared slice family.

    Attributes:
        kind: ``value``, ``bin``, ``cross`` or ``expression``.
        columns: The columns it reads (none for an expression).
        bins: Interval edges (``bin``), or None for quantile bins.
        quantiles: Number of quantile bins when ``bins`` is None.
        name: The declared name (``expression``).
        where: The expression (``expression``).
    """

    kind: str
    columns: tuple[str, ...] = ()
    bins: tuple[float, ...] | None = None
    quantiles: int = 4
    name: str | None = None
    where: str | None = None


@dataclass(frozen=True)
class Slice:
    """A materialized slice: its name, kind, row mask, and why it is empty (if it is)."""

    name: str
    kind: str
    mask: np.ndarray
    reason: str = ""

    @property
    def support(self) -> int:
        """Rows in the slice."""
        return int(self.mask.sum())


def parse_slices(specs: Sequence[Any] | None) -> list[SliceSpec]:
    """Normalize the ``slices=`` argument of an evaluation.

    Raises:
        InvalidArgumentError: A spec of no known form (the message shows the forms).
    """
    out: list[SliceSpec] = []
    for position, spec in enumerate(specs or ()):
        out.append(_parse_one(spec, position))
    return out


_FORMS = (
    "a column name ('origin'), a pair of columns (('origin', 'carrier') or "
    "{'cross': ['origin', 'carrier']}), bins ({'column': 'distance', 'bins': [0, 500, 1000]} "
    "or {'column': 'distance', 'bins': 4}), or a named expression ({'name': 'night', "
    "'where': 'dep_time >= 2200'})"
)


def _parse_one(spec: Any, position: int) -> SliceSpec:
    where = f"slices[{position}]"
    if isinstance(spec, str):
        return SliceSpec("value", (spec,))
    if isinstance(spec, tuple | list) and len(spec) == 2 and all(isinstance(c, str) for c in spec):
        return SliceSpec("cross", (spec[0], spec[1]))
    if isinstance(spec, Mapping):
        keys = set(spec)
        if keys == {"cross"}:
            cols = spec["cross"]
            if isinstance(cols, list | tuple) and len(cols) == 2:
                return SliceSpec("cross", (str(cols[0]), str(cols[1])))
        if keys == {"column", "bins"}:
            bins = spec["bins"]
            if isinstance(bins, int) and not isinstance(bins, bool) and bins >= 2:
                return SliceSpec("bin", (str(spec["column"]),), quantiles=bins)
            if isinstance(bins, list | tuple) and len(bins) >= 2:
                try:
                    edges = tuple(float(b) for b in bins)
                except (TypeError, ValueError):
                    edges = ()
                if edges and list(edges) == sorted(set(edges)):
                    return SliceSpec("bin", (str(spec["column"]),), bins=edges)
            raise InvalidArgumentError(
                f"{where}: 'bins' must be an int >= 2 (quantile bins) or at least two "
                f"increasing numbers. Got {bins!r} instead."
            )
        if keys == {"name", "where"} and all(isinstance(spec[k], str) for k in keys):
            return SliceSpec("expression", name=spec["name"], where=spec["where"])
        if keys == {"column"}:
            return SliceSpec("value", (str(spec["column"]),))
    raise InvalidArgumentError(f"{where} is not a slice spec: {spec!r}. Use {_FORMS}.")


def materialize(
    spec: SliceSpec, frame: pd.DataFrame, *, max_values: int = MAX_VALUES
) -> list[Slice]:
    """Turn one spec into slices over ``frame``'s rows."""
    missing = [c for c in spec.columns if c not in frame.columns]
    if missing:
        label = " x ".join(spec.columns)
        hint = did_you_mean(missing[0], [str(c) for c in frame.columns])
        return [
            Slice(
                label,
                spec.kind,
                np.zeros(len(frame), dtype=bool),
                f"column {missing[0]!r} is not in the dataset.{hint}",
            )
        ]
    if spec.kind == "value":
        return _values(frame[spec.columns[0]], spec.columns[0], max_values)
    if spec.kind == "bin":
        return _bins(frame[spec.columns[0]], spec)
    if spec.kind == "cross":
        return _cross(frame, spec.columns, max_values)
    return [_expression(frame, spec)]


def _label(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _values(series: pd.Series, column: str, max_values: int) -> list[Slice]:
    counts = series.value_counts(dropna=True)
    out = [
        Slice(f"{column} = {_label(value)}", "value", (series == value).to_numpy(dtype=bool))
        for value in counts.index[:max_values]
    ]
    nulls = series.isna().to_numpy()
    if nulls.any():
        out.append(Slice(f"{column} is missing", "value", nulls))
    return out


def _bins(series: pd.Series, spec: SliceSpec) -> list[Slice]:
    column = spec.columns[0]
    values = pd.to_numeric(series, errors="coerce")
    if values.notna().sum() == 0:
        return [
            Slice(
                f"{column} bins",
                "bin",
                np.zeros(len(series), dtype=bool),
                f"column {column!r} holds no numbers to bin.",
            )
        ]
    if spec.bins is not None:
        edges = np.asarray(spec.bins, dtype=float)
    else:
        quantiles = np.linspace(0, 1, spec.quantiles + 1)
        edges = np.unique(np.nanquantile(values.to_numpy(dtype=float), quantiles))
    array = values.to_numpy(dtype=float)
    out = []
    for i in range(len(edges) - 1):
        low, high = edges[i], edges[i + 1]
        last = i == len(edges) - 2
        mask = (array >= low) & ((array <= high) if last else (array < high))
        bracket = "]" if last else ")"
        out.append(Slice(f"{column} in [{_label(low)}, {_label(high)}{bracket}", "bin", mask))
    nulls = np.isnan(array)
    if nulls.any():
        out.append(Slice(f"{column} is missing", "bin", nulls))
    return out


def _cross(frame: pd.DataFrame, columns: tuple[str, ...], max_values: int) -> list[Slice]:
    first, second = columns
    pairs = frame[[first, second]].value_counts(dropna=True)
    out = []
    a, b = frame[first], frame[second]
    for x, y in pairs.index[: max_values * 2]:
        mask = ((a == x) & (b == y)).to_numpy(dtype=bool)
        out.append(Slice(f"{first} = {_label(x)} & {second} = {_label(y)}", "cross", mask))
    return out


def _expression(frame: pd.DataFrame, spec: SliceSpec) -> Slice:
    name = spec.name or str(spec.where)
    try:
        result = frame.eval(str(spec.where), engine="python")
    except Exception as exc:  # the expression is the user's: report it, never crash
        return Slice(
            name,
            "expression",
            np.zeros(len(frame), dtype=bool),
            f"the expression {spec.where!r} does not evaluate: {type(exc).__name__}: {exc}",
        )
    mask = np.asarray(result)
    if mask.shape != (len(frame),) or mask.dtype != bool:
        return Slice(
            name,
            "expression",
            np.zeros(len(frame), dtype=bool),
            f"the expression {spec.where!r} must give one True/False per row; got "
            f"{type(result).__name__} of dtype {getattr(mask, 'dtype', '?')}.",
        )
    return Slice(name, "expression", mask)


def search_candidates(
    frame: pd.DataFrame,
    columns: Sequence[str],
    *,
    min_support: int,
    max_values: int = 30,
    max_cross_columns: int = 6,
) -> list[Slice]:
    """The subpopulations the worst-slice search looks at: each value of each categorical
    column, quartile bins of each numeric column, and pairs of values of the (up to
    ``max_cross_columns``) categorical columns with the fewest distinct values; only those with
    at least ``min_support`` rows."""
    out: list[Slice] = []
    categorical: list[tuple[int, str]] = []
    for column in columns:
        series = frame[column]
        if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
            out.extend(_values(series, column, max_values))
            categorical.append((int(series.nunique(dropna=True)), column))
        elif series.nunique(dropna=True) > 4:
            out.extend(_bins(series, SliceSpec("bin", (column,), quantiles=4)))
        else:
            out.extend(_values(series, column, max_values))
    chosen = [c for _, c in sorted(categorical)[:max_cross_columns]]
    for i, first in enumerate(chosen):
        for second in chosen[i + 1 :]:
            out.extend(_cross(frame, (first, second), max_values))
    return [Slice(s.name, "auto", s.mask) for s in out if s.support >= min_support and not s.reason]
