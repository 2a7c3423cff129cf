"""Reference bins and categories, and counting a new batch with them.

The profile of a dataset version fixes its bin edges and its known categories once; validation
and drift monitoring count every later batch with exactly those, so counts line up bin for bin.

Rules:

* Bins are ``[e_i, e_i+1)``; the last bin also holds its right edge. Values below the first
  edge go to the first bin, values above the last edge (``+inf`` included) to the last one.
* NaN and nulls are missing values: they are never counted in a bin or a category.
* Categories are compared as text (``true``/``false`` for booleans); values that are not a
  known category are counted under :data:`~loopml.core.entities.data.OTHER`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from loopml.core.entities.data import OTHER
from loopml.core.errors import InvalidArgumentError

#: Quantile edges are dropped for equal-width ones when fewer than this share of bins survive.
_MIN_SURVIVING_SHARE = 0.5


def reference_edges(
    minimum: float,
    maximum: float,
    quantile_values: Sequence[float],
    *,
    bins: int,
    distinct: int,
) -> tuple[float, ...]:
    """Choose the fixed bin edges of a reference column.

    A column with at most ``bins`` distinct values (booleans, small codes) gets ``distinct``
    equal-width bins over ``[min, max]``. Otherwise quantile-based edges (``min``, the
    ``k/bins`` quantiles, ``max``), deduplicated; when fewer
    than ``min(distinct, bins / 2)`` bins survive (the quantiles collapsed: few distinct values
    or a heavy spike), equal-width edges over ``[min, max]`` with ``min(bins, distinct)`` bins
    instead. A constant column
    gets one bin ``(value, value)``.

    Args:
        minimum: Smallest finite value.
        maximum: Largest finite value.
        quantile_values: The ``1/bins ... (bins-1)/bins`` quantiles (any order).
        bins: Most bins wanted (>= 1).
        distinct: Distinct values (approximate is fine).

    Returns:
        Increasing edges, ``len(edges) - 1`` bins.
    """
    if maximum <= minimum:
        return (float(minimum), float(minimum))
    if distinct <= bins:
        # few distinct values: interpolated quantiles would make empty bins between them
        return _even_edges(minimum, maximum, max(1, distinct))
    inner = [q for q in quantile_values if minimum < q < maximum and np.isfinite(q)]
    edges = np.unique(np.asarray([minimum, *inner, maximum], dtype=np.float64))
    if len(edges) - 1 >= min(distinct, max(1, int(bins * _MIN_SURVIVING_SHARE))):
        return tuple(float(e) for e in edges)
    return _even_edges(minimum, maximum, max(1, min(bins, distinct)))


def _even_edges(minimum: float, maximum: float, count: int) -> tuple[float, ...]:
    """``count`` equal-width bins over ``[minimum, maximum]``; for a range wider than the
    largest float (``-1e308`` to ``1e308``), where ``np.linspace`` overflows to inf, as
    weighted means of the two ends."""
    if math.isfinite(maximum - minimum):
        return tuple(float(e) for e in np.linspace(minimum, maximum, count + 1))
    t = np.linspace(0.0, 1.0, count + 1)
    edges = np.maximum.accumulate(minimum * (1.0 - t) + maximum * t)
    edges[0], edges[-1] = minimum, maximum
    return tuple(float(e) for e in edges)


def bin_counts(values: Any, edges: Sequence[float]) -> tuple[int, ...]:
    """Count values in fixed bins (the reference profile's ``bin_edges``).

    Args:
        values: A NumPy array, a sequence or a pyarrow array of numbers (booleans as 0/1,
            datetimes already as epoch milliseconds). Nulls and NaN are skipped.
        edges: Increasing edges, at least two.

    Returns:
        One count per bin (``len(edges) - 1``); values outside the edges count in the first or
        last bin, ``-inf``/``+inf`` included.

    Raises:
        InvalidArgumentError: Fewer than two edges, or edges that decrease.

    Example:
        >>> bin_counts([0.0, 1.0, 2.0, 2.0, 9.0, float("nan")], (0.0, 1.0, 2.0))
        (1, 4)
    """
    edge_arr = np.asarray(edges, dtype=np.float64)
    if edge_arr.ndim != 1 or edge_arr.size < 2 or np.any(np.diff(edge_arr) < 0):
        raise InvalidArgumentError(
            f"The 'edges' argument of bin_counts must be at least two increasing numbers. "
            f"Got {list(edges)!r} instead. Pass the reference profile's 'bin_edges'."
        )
    arr = _to_float_array(values)
    arr = arr[~np.isnan(arr)]
    idx = np.searchsorted(edge_arr[1:-1], arr, side="right")
    counts = np.bincount(idx, minlength=edge_arr.size - 1)
    return tuple(int(c) for c in counts)


def category_counts(
    values: Iterable[Any], categories: Sequence[str], *, other_bucket: bool = True
) -> dict[str, int]:
    """Count values over known categories, the rest under :data:`OTHER`.

    Args:
        values: Values of any type; compared as text (booleans as ``true``/``false``). None and
            NaN are skipped.
        categories: The known categories (the reference schema's ``categories``).
        other_bucket: Include the :data:`OTHER` key even when it is 0.

    Returns:
        ``{category: count}`` in the order of ``categories``, then :data:`OTHER` when
        ``other_bucket`` or when some value was not a known category.

    Example:
        >>> category_counts(["a", "b", "a", "z", None], ["a", "b"])
        {'a': 2, 'b': 1, '__other__': 1}
    """
    known = {c: 0 for c in categories}
    other = 0
    for value in _as_text(values):
        if value in known:
            known[value] += 1
        else:
            other += 1
    if other_bucket or other:
        known[OTHER] = other
    return known


def fold_frequencies(
    value_counts: Mapping[Any, int] | None, categories: Sequence[str], *, other_bucket: bool
) -> dict[str, int]:
    """Fold per-value counts (DuckDB ``histogram``) into the known categories plus OTHER.

    Keys are compared as text (``True`` as ``true``); NaN/None keys are skipped. The result is
    ordered like :func:`category_counts`: every category (0 when absent), then
    :data:`~loopml.core.entities.data.OTHER` when ``other_bucket`` or when it is not 0.
    """
    out = {c: 0 for c in categories}
    other = 0
    for key, count in (value_counts or {}).items():
        if key is None or (isinstance(key, float) and math.isnan(key)):
            continue
        text = "true" if key is True else "false" if key is False else str(key)
        if text in out:
            out[text] += int(count)
        else:
            other += int(count)
    if other_bucket or other:
        out[OTHER] = other
    return out


def _to_float_array(values: Any) -> np.ndarray[Any, np.dtype[np.float64]]:
    if hasattr(values, "to_numpy") and hasattr(values, "null_count"):  # pyarrow array
        import pyarrow as pa
        import pyarrow.compute as pc

        if pa.types.is_boolean(values.type):
            values = pc.cast(values, pa.float64())
        values = pc.cast(values, pa.float64()).fill_null(float("nan"))
        return np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)
    arr = np.asarray(values, dtype=object if _has_none(values) else None)
    if arr.dtype == object:
        arr = np.asarray([np.nan if v is None else v for v in arr.ravel()], dtype=np.float64)
    return np.asarray(arr, dtype=np.float64).ravel()


def _has_none(values: Any) -> bool:
    return isinstance(values, list | tuple) and any(v is None for v in values)


def _as_text(values: Iterable[Any]) -> Iterable[str]:
    for value in values:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        if isinstance(value, bool | np.bool_):
            yield "true" if value else "false"
        else:
            yield str(value)
