"""Schema inference: the Arrow type, role, nullability and known categories of each column.

Roles, in order of precedence:

1. the declared ``target`` is :attr:`ColumnRole.TARGET` (with ``categories`` when it looks like a
   classification target: booleans, strings, or integers with at most ``max_categories``
   distinct values); the declared ``key`` is :attr:`ColumnRole.IDENTIFIER`;
2. booleans are BOOLEAN, timestamps and dates DATETIME, integers/floats/decimals NUMERIC (even
   integers with few distinct values: codes that mean categories should be strings);
3. strings (and dictionaries of strings) are TEXT when they are long free text (mean length
   > 50 characters and more than ``max_categories`` distinct values), IDENTIFIER when (nearly)
   every value is distinct (>= 95% of the non-null values, and more than ``max_categories`` of
   them, so a short column never looks like a key), else CATEGORICAL with the
   ``max_categories`` most frequent values (ties broken by value) and ``other_bucket`` when there
   were more.

Other Arrow types (binary, time of day, durations, ...) are read as their text and follow the
string rules. NaN in a float column counts as a null (``nullable=True``).
"""

from __future__ import annotations

from typing import Any

from loopml.core.entities.data import ColumnRole, ColumnSchema, DatasetSchema
from loopml.core.errors import InvalidArgumentError, did_you_mean
from loopml.data import _kinds
from loopml.data._kinds import is_float, kind_of

#: Share of distinct non-null values from which a string column is an identifier.
IDENTIFIER_DISTINCT_SHARE = 0.95
#: Mean length (characters) from which a high-cardinality string column is free text.
TEXT_MEAN_LENGTH = 50.0


def infer_schema(
    table: Any,
    *,
    target: str | None = None,
    timestamp: str | None = None,
    key: str | None = None,
    max_categories: int = 50,
) -> DatasetSchema:
    """Infer the schema of a table.

    Args:
        table: A :class:`pyarrow.Table` (unique column names, no nested types).
        target: The label column, if any.
        timestamp: The event-time column, if any (recorded; its role follows its type).
        key: The row-identifier column, if any.
        max_categories: Most categories kept per categorical column (>= 1).

    Returns:
        The schema, columns in table order.

    Raises:
        InvalidArgumentError: A declared column is not in the table, or ``max_categories`` < 1.

    Example:
        >>> import pyarrow as pa
        >>> schema = infer_schema(pa.table({"x": [1.0, None], "c": ["a", "b"]}))
        >>> [(c.name, c.role.value, c.nullable, c.categories) for c in schema.columns]
        [('x', 'numeric', True, None), ('c', 'categorical', False, ('a', 'b'))]
    """
    if (
        isinstance(max_categories, bool)
        or not isinstance(max_categories, int)
        or max_categories < 1
    ):
        raise InvalidArgumentError(
            f"The 'max_categories' parameter of infer_schema must be an int >= 1. "
            f"Got {max_categories!r} instead. Pass e.g. 50."
        )
    names = list(table.column_names)
    for label, declared in (("target", target), ("timestamp", timestamp), ("key", key)):
        if declared is not None and declared not in names:
            raise InvalidArgumentError(
                f"The {label!r} column {declared!r} is not in the table, whose columns are "
                f"{names}. Pass one of them or None.{did_you_mean(declared, names)}"
            )
    columns = tuple(
        _infer_column(
            name,
            table.column(index),
            is_target=name == target,
            is_key=name == key,
            max_categories=max_categories,
        )
        for index, name in enumerate(names)
    )
    return DatasetSchema(columns=columns, target=target, timestamp=timestamp, key=key)


def _infer_column(
    name: str, column: Any, *, is_target: bool, is_key: bool, max_categories: int
) -> ColumnSchema:
    arrow_type = column.type
    dtype = str(arrow_type)
    nullable = _null_count(column) > 0
    kind = kind_of(arrow_type)
    if is_key:
        return ColumnSchema(name, dtype, ColumnRole.IDENTIFIER, nullable)
    if is_target:
        categories, other = None, False
        if kind in ("boolean", "string", "other") or _is_integer(arrow_type):
            values, counts = _kinds.text_counts(column)
            if kind != "numeric" or len(values) <= max_categories:
                categories, other = _top(values, counts, max_categories)
        return ColumnSchema(name, dtype, ColumnRole.TARGET, nullable, categories, other)
    if kind == "boolean":
        return ColumnSchema(name, dtype, ColumnRole.BOOLEAN, nullable)
    if kind == "datetime":
        return ColumnSchema(name, dtype, ColumnRole.DATETIME, nullable)
    if kind == "numeric":
        return ColumnSchema(name, dtype, ColumnRole.NUMERIC, nullable)
    return _infer_string(name, column, dtype, nullable, max_categories)


def _infer_string(
    name: str, column: Any, dtype: str, nullable: bool, max_categories: int
) -> ColumnSchema:
    import pyarrow.compute as pc

    values, counts = _kinds.text_counts(column)
    non_null = sum(counts)
    distinct = len(values)
    if distinct > max_categories:
        text = _kinds.as_text(column)
        mean_len = pc.mean(pc.utf8_length(text)).as_py() if non_null else 0.0
        if mean_len is not None and mean_len > TEXT_MEAN_LENGTH:
            return ColumnSchema(name, dtype, ColumnRole.TEXT, nullable)
        if distinct >= IDENTIFIER_DISTINCT_SHARE * non_null:
            return ColumnSchema(name, dtype, ColumnRole.IDENTIFIER, nullable)
    categories, other = _top(values, counts, max_categories)
    return ColumnSchema(name, dtype, ColumnRole.CATEGORICAL, nullable, categories, other)


def _null_count(column: Any) -> int:
    import pyarrow.compute as pc

    nulls = int(column.null_count)
    if is_float(column.type):
        nulls += int(pc.sum(pc.is_nan(column)).as_py() or 0)
    return nulls


def _is_integer(arrow_type: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_integer(arrow_type))


def _top(values: list[str], counts: list[int], k: int) -> tuple[tuple[str, ...], bool]:
    order = sorted(range(len(values)), key=lambda i: (-counts[i], values[i]))
    return tuple(values[i] for i in order[:k]), len(values) > k
