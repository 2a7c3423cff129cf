"""Type changes between a reference column and a batch column, and whether they are safe.

The batch's values are judged by whether they can be cast to the reference type without loss:

* same family (int32 -> int64, string -> large_string, timestamp unit or zone): warning;
* integer/bool -> float or decimal, bool -> integer, date <-> timestamp, anything -> string:
  warning (a widening the reference type can absorb);
* float -> integer and narrowing numbers: warning when every value casts exactly
  (:func:`pyarrow.compute.cast` with ``safe=True``), else error;
* text where numbers, booleans or times were, numbers where booleans or times were, and
  anything else: error, and the column is not checked further.
"""

from __future__ import annotations

from typing import Any

from loopml.core.entities.data import Anomaly, ColumnSchema, Severity

_NUMBER = ("int", "float", "decimal")


def family(dtype: str) -> str:
    """Family of an Arrow type's text: int, float, decimal, bool, string, timestamp, date, other."""
    if dtype.startswith("dictionary<values="):
        dtype = dtype[len("dictionary<values=") :].split(",", 1)[0]
    if dtype in ("string", "large_string", "string_view", "utf8", "large_utf8"):
        return "string"
    if dtype == "bool":
        return "bool"
    if dtype.startswith(("int", "uint")):
        return "int"
    if dtype in ("float", "double", "halffloat", "float16", "float32", "float64"):
        return "float"
    for prefix in ("decimal", "timestamp", "date"):
        if dtype.startswith(prefix):
            return prefix
    return "other"


def type_change(col: ColumnSchema, arrow_type: Any, values: Any) -> tuple[Anomaly | None, bool]:
    """Compare a batch column's type with the reference.

    Args:
        col: The reference column.
        arrow_type: The batch column's Arrow type.
        values: The batch column (to try a lossless cast when the verdict depends on values).

    Returns:
        ``(anomaly or None, usable)``: the ``type_change`` finding, and whether the column can
        still be checked against the reference statistics.
    """
    observed = str(arrow_type)
    if observed == col.dtype:
        return None, True
    ref, new = family(col.dtype), family(observed)
    safe, reason = _verdict(ref, new, col.dtype, values)
    severity: Severity = "warning" if safe else "error"
    fix = (
        "it is still checked as the reference type"
        if safe
        else f"cast it to {col.dtype} upstream or register a new version"
    )
    return (
        Anomaly(
            column=col.name,
            kind="type_change",
            severity=severity,
            observed=observed,
            expected=col.dtype,
            rows=None,
            message=(
                f"Column {col.name!r} has type {observed} where the reference has {col.dtype}; "
                f"{reason}, so {fix}."
            ),
        ),
        safe,
    )


def _verdict(ref: str, new: str, ref_dtype: str, values: Any) -> tuple[bool, str]:
    if ref == new:
        return True, "same kind of values"
    if ref == "string":
        return True, "the values can be read as text"
    if new == "string":
        return False, "text cannot stand in for " + ("numbers" if ref in _NUMBER else ref)
    if ref in _NUMBER and new in ("int", "bool"):
        return True, "a widening that loses nothing"
    if ref in _NUMBER and new in _NUMBER:
        return _try_cast(ref_dtype, values)
    if {ref, new} == {"date", "timestamp"}:
        return True, "dates and timestamps convert into each other"
    return False, f"{new} values cannot be cast safely to {ref}"


def _try_cast(ref_dtype: str, values: Any) -> tuple[bool, str]:
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        target = pa.type_for_alias(ref_dtype)
    except (ValueError, KeyError):
        return True, "a change between number types"
    try:
        pc.cast(values, target, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False, f"some values do not fit {ref_dtype} exactly"
    return True, f"every value casts exactly to {ref_dtype}"
