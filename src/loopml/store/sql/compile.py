"""The one place that turns a :class:`~loopml.store.query.RunQuery` into SQL.

Everything is a SQLAlchemy expression with bound parameters; no SQL text is built from user
input. Semantics (see :mod:`loopml.store.query`):

- a metric, param or tag condition is an ``EXISTS`` on that table for the run and key, so a
  run that lacks the key never matches, ``!=`` and ``not in`` included;
- ``is null`` is true exactly when the run lacks the key (``NOT EXISTS``); a NaN metric is
  present, so it is not null;
- NaN metric values are stored as NULL, so no metric comparison matches them;
- ``like`` is case-sensitive and ``ilike`` case-insensitive on every backend (``lower(x) LIKE
  lower(pattern)``), both with ``\\`` as the escape character;
- attributes are columns of ``runs``; a NULL attribute (``end_time`` of a running run,
  ``parent_run_id`` of a top-level run) matches only ``is null``;
- ``experiment_ids=()`` means every experiment; ``run_ids=()`` matches no run;
- ordering by a field the run lacks (or a NaN metric) puts the run last in both directions;
  ties are broken by ``start_time`` descending, then ``run_id``.
"""

from __future__ import annotations

import math
from typing import Any

import sqlalchemy as sa

from loopml.core.errors import InvalidArgumentError
from loopml.store.query import ATTRIBUTES, BoolOp, Comparison, Expr, FieldRef, RunQuery
from loopml.store.sql.mapper import RUN_COLUMNS
from loopml.store.sql.tables import latest_metrics, params, runs, tags

_KEYED_TABLES = {"metric": latest_metrics, "param": params, "tag": tags}
_STRING_OPS = {"like", "ilike"}
_ESCAPE = "\\"


def compile_search(query: RunQuery) -> sa.Select[Any]:
    """Return the ``SELECT`` of :data:`RUN_COLUMNS` for the runs matching ``query``, in its
    order, with its limit and offset.

    Raises:
        InvalidArgumentError: A comparison does not fit its field (for example ``like`` on a
            metric, or a string compared with ``start_time``).
    """
    source: sa.FromClause = runs
    order: list[sa.ColumnElement[Any]] = []
    for position, key in enumerate(query.order_by):
        if key.field.kind == "attribute":
            column: sa.ColumnElement[Any] = _attribute_column(key.field)
        else:
            joined = _KEYED_TABLES[key.field.kind].alias(f"order_{position}")
            source = source.outerjoin(
                joined,
                sa.and_(joined.c.run_id == runs.c.run_id, joined.c.key == key.field.key),
            )
            column = joined.c.value
        direction = column.desc() if key.descending else column.asc()
        order.append(direction.nulls_last())
    order += [runs.c.start_time.desc(), runs.c.run_id.asc()]

    statement = sa.select(*RUN_COLUMNS).select_from(source).where(*_filters(query))
    statement = statement.order_by(*order)
    if query.limit is not None:
        statement = statement.limit(query.limit)
    if query.offset:
        statement = statement.offset(query.offset)
    return statement


def compile_count(query: RunQuery) -> sa.Select[int]:
    """Return the ``SELECT count(*)`` of the runs matching ``query`` (ignoring limit/offset)."""
    return sa.select(sa.func.count()).select_from(runs).where(*_filters(query))


def _filters(query: RunQuery) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = []
    if query.experiment_ids:
        conditions.append(runs.c.experiment_id.in_(query.experiment_ids))
    if query.run_ids is not None:
        conditions.append(runs.c.run_id.in_(query.run_ids))
    if not query.include_deleted:
        conditions.append(runs.c.deleted.is_(sa.false()))
    if query.where is not None:
        conditions.append(compile_expr(query.where))
    return conditions


def compile_expr(expr: Expr) -> sa.ColumnElement[bool]:
    """Compile a filter expression to a boolean SQL expression over ``runs``.

    Raises:
        InvalidArgumentError: A comparison does not fit its field.
    """
    if isinstance(expr, BoolOp):
        items = [compile_expr(item) for item in expr.items]
        return sa.and_(*items) if expr.op == "and" else sa.or_(*items)
    if expr.field.kind == "attribute":
        return _attribute_condition(expr)
    return _keyed_condition(expr)


def _attribute_column(field: FieldRef) -> sa.ColumnElement[Any]:
    if field.key not in ATTRIBUTES:
        raise InvalidArgumentError(
            f"Unknown run attribute {field.key!r}; attributes are "
            f"{', '.join(sorted(ATTRIBUTES))}."
        )
    return runs.c[field.key]


def _attribute_condition(comparison: Comparison) -> sa.ColumnElement[bool]:
    column = _attribute_column(comparison.field)
    if comparison.op == "is null":
        return column.is_(None)
    if comparison.op == "is not null":
        return column.is_not(None)
    numeric = ATTRIBUTES[comparison.field.key] is float
    return _value_condition(column, comparison, numeric=numeric)


def _keyed_condition(comparison: Comparison) -> sa.ColumnElement[bool]:
    table = _KEYED_TABLES[comparison.field.kind]
    present = sa.and_(table.c.run_id == runs.c.run_id, table.c.key == comparison.field.key)
    if comparison.op == "is null":
        return ~sa.exists().where(present)
    if comparison.op == "is not null":
        return sa.exists().where(present)
    numeric = comparison.field.kind == "metric"
    value = _value_condition(table.c.value, comparison, numeric=numeric)
    return sa.exists().where(present, value)


def _value_condition(
    column: sa.ColumnElement[Any], comparison: Comparison, *, numeric: bool
) -> sa.ColumnElement[bool]:
    op, value = comparison.op, comparison.value
    if op in _STRING_OPS:
        if numeric or not isinstance(value, str):
            raise _mismatch(comparison, "a string pattern on a string field")
        if op == "like":
            return column.like(value, escape=_ESCAPE)
        return sa.func.lower(column).like(sa.func.lower(value), escape=_ESCAPE)
    if op in {"in", "not in"}:
        if not isinstance(value, tuple):
            raise _mismatch(comparison, "a tuple of values")
        for item in value:
            _check_scalar(comparison, item, numeric=numeric)
        return column.in_(value) if op == "in" else column.not_in(value)
    _check_scalar(comparison, value, numeric=numeric)
    if op == "=":
        return column == value
    if op == "!=":
        return column != value
    if op == "<":
        return column < value
    if op == "<=":
        return column <= value
    if op == ">":
        return column > value
    if op == ">=":
        return column >= value
    raise InvalidArgumentError(
        f"Unknown operator {op!r} in the filter on {comparison.field}; use one of =, !=, <, "
        "<=, >, >=, like, ilike, in, not in, is null, is not null."
    )


def _check_scalar(comparison: Comparison, value: object, *, numeric: bool) -> None:
    if numeric:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _mismatch(comparison, "a number")
        if math.isnan(value):
            raise InvalidArgumentError(
                f"The filter on {comparison.field} compares with NaN, which never matches. "
                f"Use '{comparison.field} is null' to find runs without the value."
            )
    elif not isinstance(value, str):
        raise _mismatch(comparison, "a string")


def _mismatch(comparison: Comparison, expected: str) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"The filter {comparison.field} {comparison.op} {comparison.value!r} does not fit the "
        f"field: {comparison.op!r} on {comparison.field} needs {expected}. Quote strings, "
        "leave numbers bare, and use like/ilike only on params, tags and string attributes."
    )
