"""The one place that turns a :class:`~loopml.store.query.RunQuery` into SQL.

Everything is a SQLAlchemy expression with bound parameters; no SQL text is built from user
input.

Each metric, param or tag that the query names (in its filter or its order) is joined once
to ``runs`` with ``LEFT OUTER JOIN <table> AS f<n> ON f<n>.run_id = runs.run_id AND f<n>.key
= :key``. The ``(run_id, key)`` primary keys make that at most one row per run, so no run is
duplicated, and conditions compare ``f<n>.value``. Where a filter makes a joined value
required (``and`` of comparisons, the common case), both SQLite and PostgreSQL turn the outer
join into an inner one and may drive the query from the ``(key, value)`` index instead of
probing every run of the experiment (several times faster on large experiments). A filter
naming more than :data:`JOIN_LIMIT` fields uses ``EXISTS`` subqueries for the rest.

Semantics (see :mod:`loopml.store.query`):

- a comparison with a key the run lacks sees NULL and is false, ``!=`` and ``not in``
  included (filters have no ``not``, so a NULL can never turn into a match);
- ``is null`` is true exactly when the run lacks the key (no joined row); a NaN metric is
  present, so it is not null;
- NaN metric values are stored as NULL, so no metric comparison matches them;
- ``like`` is case-sensitive and ``ilike`` case-insensitive on every backend (``lower(x) LIKE
  lower(pattern)``), both with ``\\`` as the escape character;
- strings compare by code point on both backends (see :mod:`.tables`);
- attributes are columns of ``runs``; a NULL attribute (``end_time`` of a running run,
  ``parent_run_id`` of a top-level run) matches only ``is null``;
- ``experiment_ids=()`` means every experiment; ``run_ids=()`` matches no run;
- ordering by a field the run lacks (or a NaN metric) puts the run last in both directions;
  ties are broken by ``start_time`` descending, then ``run_id``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from loopml.core.errors import InvalidArgumentError
from loopml.store.query import ATTRIBUTES, BoolOp, Comparison, Expr, FieldRef, RunQuery
from loopml.store.sql.mapper import RUN_COLUMNS
from loopml.store.sql.tables import latest_metrics, params, runs, tags

#: Most metric/param/tag fields joined in one query; further filter fields use EXISTS.
JOIN_LIMIT = 24
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
    joins = _Joins()
    order: list[sa.ColumnElement[Any]] = []
    for key in query.order_by:
        if key.field.kind == "attribute":
            column: sa.ColumnElement[Any] = _attribute_column(key.field)
        else:
            column = joins.join(key.field).c.value
        direction = column.desc() if key.descending else column.asc()
        order.append(direction.nulls_last())
    order += [runs.c.start_time.desc(), runs.c.run_id.asc()]

    conditions = _filters(query, joins)
    statement = sa.select(*RUN_COLUMNS).select_from(joins.source).where(*conditions)
    statement = statement.order_by(*order)
    if query.limit is not None:
        statement = statement.limit(query.limit)
    if query.offset:
        statement = statement.offset(query.offset)
    return statement


def compile_count(query: RunQuery) -> sa.Select[int]:
    """Return the ``SELECT count(*)`` of the runs matching ``query`` (ignoring limit/offset)."""
    joins = _Joins()
    conditions = _filters(query, joins)
    return sa.select(sa.func.count()).select_from(joins.source).where(*conditions)


@dataclass
class _Joins:
    """The outer joins of one query: one alias per (kind, key), created on first use."""

    source: sa.FromClause = runs
    aliases: dict[tuple[str, str], sa.FromClause] = field(default_factory=dict)

    def join(self, ref: FieldRef) -> sa.FromClause:
        """Return the joined alias of ``ref``, joining it on first use."""
        slot = (ref.kind, ref.key)
        if slot not in self.aliases:
            joined = _KEYED_TABLES[ref.kind].alias(f"f{len(self.aliases)}")
            self.source = self.source.outerjoin(
                joined, sa.and_(joined.c.run_id == runs.c.run_id, joined.c.key == ref.key)
            )
            self.aliases[slot] = joined
        return self.aliases[slot]

    def try_join(self, ref: FieldRef) -> sa.FromClause | None:
        """Like :meth:`join`, but None when a new join would pass :data:`JOIN_LIMIT`."""
        if (ref.kind, ref.key) not in self.aliases and len(self.aliases) >= JOIN_LIMIT:
            return None
        return self.join(ref)


def _filters(query: RunQuery, joins: _Joins) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = []
    if query.experiment_ids:
        conditions.append(runs.c.experiment_id.in_(query.experiment_ids))
    if query.run_ids is not None:
        conditions.append(runs.c.run_id.in_(query.run_ids))
    if not query.include_deleted:
        conditions.append(runs.c.deleted.is_(sa.false()))
    if query.where is not None:
        conditions.append(_compile_expr(query.where, joins))
    return conditions


def _compile_expr(expr: Expr, joins: _Joins) -> sa.ColumnElement[bool]:
    if isinstance(expr, BoolOp):
        items = [_compile_expr(item, joins) for item in expr.items]
        return sa.and_(*items) if expr.op == "and" else sa.or_(*items)
    if expr.field.kind == "attribute":
        return _attribute_condition(expr)
    joined = joins.try_join(expr.field)
    if joined is None:
        return _exists_condition(expr)
    if expr.op == "is null":
        return joined.c.run_id.is_(None)
    if expr.op == "is not null":
        return joined.c.run_id.is_not(None)
    return _value_condition(joined.c.value, expr, numeric=expr.field.kind == "metric")


def _exists_condition(comparison: Comparison) -> sa.ColumnElement[bool]:
    table = _KEYED_TABLES[comparison.field.kind]
    present = sa.and_(table.c.run_id == runs.c.run_id, table.c.key == comparison.field.key)
    if comparison.op == "is null":
        return ~sa.exists().where(present)
    if comparison.op == "is not null":
        return sa.exists().where(present)
    numeric = comparison.field.kind == "metric"
    return sa.exists().where(present, _value_condition(table.c.value, comparison, numeric=numeric))


def _attribute_column(ref: FieldRef) -> sa.ColumnElement[Any]:
    if ref.key not in ATTRIBUTES:
        raise InvalidArgumentError(
            f"Unknown run attribute {ref.key!r}; attributes are {', '.join(sorted(ATTRIBUTES))}."
        )
    return runs.c[ref.key]


def _attribute_condition(comparison: Comparison) -> sa.ColumnElement[bool]:
    column = _attribute_column(comparison.field)
    if comparison.op == "is null":
        return column.is_(None)
    if comparison.op == "is not null":
        return column.is_not(None)
    numeric = ATTRIBUTES[comparison.field.key] is float
    return _value_condition(column, comparison, numeric=numeric)


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
