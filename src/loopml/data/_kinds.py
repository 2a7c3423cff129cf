"""Column kinds: how an Arrow type is profiled and compared, and the DuckDB SQL that reads it.

Internal to :mod:`loopml.data`. Every statistic of a column goes through one SQL value
expression, so the reference profile and a later batch are measured the same way:

* numeric columns as ``DOUBLE`` with NaN read as NULL (NaN is a missing value, as in pandas);
* booleans as 0/1;
* timestamps and dates as milliseconds since the epoch (UTC);
* categories as ``CAST(col AS VARCHAR)`` (``true``/``false`` for booleans, ``12`` for ints),
  the same text :func:`pyarrow.compute.cast` to string gives.
"""

from __future__ import annotations

import math
from typing import Any, Literal

Kind = Literal["numeric", "boolean", "datetime", "string", "other"]

#: Probabilities of the reference quantiles, in the order they are stored.
QUANTILES: tuple[float, ...] = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


def kind_of(arrow_type: Any) -> Kind:
    """Return the kind of an Arrow type (dictionaries by their value type)."""
    import pyarrow as pa

    t = arrow_type.value_type if pa.types.is_dictionary(arrow_type) else arrow_type
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "numeric"
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "datetime"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or _is_string_view(t):
        return "string"
    return "other"


def is_float(arrow_type: Any) -> bool:
    """True for floating-point Arrow types (the ones that can hold NaN)."""
    import pyarrow as pa

    return bool(pa.types.is_floating(arrow_type))


def quote(name: str) -> str:
    """Quote a column name as a DuckDB identifier."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    """Quote a string as a DuckDB literal."""
    return "'" + value.replace("'", "''") + "'"


def number(value: float) -> str:
    """Render a float as a DuckDB DOUBLE literal (non-finite values included)."""
    if math.isnan(value):
        return "'nan'::DOUBLE"
    if value in (float("inf"), float("-inf")):
        return "'inf'::DOUBLE" if value > 0 else "'-inf'::DOUBLE"
    return f"{value!r}::DOUBLE"


def value_sql(name: str, arrow_type: Any) -> str:
    """SQL for the column as a DOUBLE: NaN as NULL, booleans 0/1, datetimes as epoch ms."""
    import pyarrow as pa

    col = quote(name)
    kind = kind_of(arrow_type)
    if kind == "boolean":
        return f"CAST({col} AS DOUBLE)"
    if kind == "datetime":
        # Through microseconds: DuckDB has no epoch_ms of TIMESTAMPTZ_NS; a zone-aware value
        # stays an instant (TIMESTAMPTZ), a naive one a wall time (TIMESTAMP).
        zoned = pa.types.is_timestamp(arrow_type) and arrow_type.tz is not None
        return f"CAST(epoch_ms(CAST({col} AS {'TIMESTAMPTZ' if zoned else 'TIMESTAMP'})) AS DOUBLE)"
    if is_float(arrow_type):
        return f"(CASE WHEN isnan({col}) THEN NULL ELSE CAST({col} AS DOUBLE) END)"
    return f"CAST({col} AS DOUBLE)"


def stat_sql(name: str, arrow_type: Any) -> str:
    """SQL for the column as a finite DOUBLE (NaN and inf as NULL): what moments are taken of."""
    if is_float(arrow_type):
        col = quote(name)
        return f"(CASE WHEN isfinite({col}) THEN CAST({col} AS DOUBLE) END)"
    return value_sql(name, arrow_type)


def count_sql(name: str, arrow_type: Any) -> str:
    """SQL aggregate counting the present values (not NULL and, for floats, not NaN)."""
    col = quote(name)
    if is_float(arrow_type):
        return f"count_if(NOT isnan({col}))"
    return f"count({col})"


def text_sql(name: str) -> str:
    """SQL for the column as text (the representation categories are stored in)."""
    return f"CAST({quote(name)} AS VARCHAR)"


def present_sql(name: str, arrow_type: Any) -> str:
    """SQL condition: the value is not missing (neither NULL nor, for floats, NaN)."""
    col = quote(name)
    if is_float(arrow_type):
        return f"({col} IS NOT NULL AND NOT isnan({col}))"
    return f"({col} IS NOT NULL)"


def histogram_sql(value: str, edges: tuple[float, ...]) -> str:
    """SQL aggregate counting a DOUBLE expression in fixed bins (decode with :func:`dense_bins`).

    Bins are ``[e_i, e_i+1)``; the last bin also holds its right edge, and values below the first
    edge or above the last one go to the first/last bin, as :func:`loopml.data.binning.bin_counts`.
    DuckDB's ``histogram(x, boundaries)`` counts ``x <= b``; the boundaries are the interior edges
    moved down by one ulp, so ``x <= b`` is exactly ``x < e``.
    """
    import numpy as np

    interior = edges[1:-1]
    if not interior:
        return f"count({value})"
    bounds = np.nextafter(np.asarray(interior, dtype=np.float64), -np.inf)
    listed = ", ".join(repr(float(b)) for b in bounds)
    return f"histogram({value}, [{listed}]::DOUBLE[])"


def dense_bins(result: Any, edges: tuple[float, ...]) -> tuple[int, ...]:
    """Counts per bin from the value of :func:`histogram_sql` (None for no values)."""
    import numpy as np

    size = len(edges) - 1
    if result is None:
        return (0,) * size
    if not isinstance(result, dict):
        return (int(result),)
    bounds = np.nextafter(np.asarray(edges[1:-1], dtype=np.float64), -np.inf)
    counts = [0] * size
    for key, count in result.items():
        index = int(np.searchsorted(bounds, float(key), side="left"))
        counts[min(index, size - 1)] += int(count)
    return tuple(counts)


def as_text(column: Any) -> Any:
    """The column as Arrow strings: the text categories are stored and compared as
    (``true``/``false`` for booleans, ``12`` for ints)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(column.type):
        column = pc.cast(column, column.type.value_type)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column
    try:
        return pc.cast(column, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pc.cast(pc.cast(column, pa.binary()), pa.string(), safe=False)


def text_counts(column: Any) -> tuple[list[str], list[int]]:
    """Distinct non-null values as text and their counts (NaN excluded), computed by Arrow:
    far cheaper per column than a DuckDB ``histogram`` aggregate, which dominated the
    profile of wide tables."""
    import pyarrow.compute as pc

    if is_float(column.type):
        column = pc.filter(column, pc.invert(pc.is_nan(column)))
    counted = pc.value_counts(as_text(column))
    values = counted.field("values").to_pylist()
    counts = counted.field("counts").to_pylist()
    pairs = [(v, int(c)) for v, c in zip(values, counts, strict=True) if v is not None]
    return [v for v, _ in pairs], [c for _, c in pairs]


def _is_string_view(arrow_type: Any) -> bool:
    import pyarrow as pa

    check = getattr(pa.types, "is_string_view", None)
    return bool(check(arrow_type)) if check is not None else False
