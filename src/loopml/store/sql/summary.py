"""Run summaries: each ``runs`` row carries its params, latest metrics and tags as JSON objects.

The normalized tables (``params``, ``latest_metrics``, ``tags``) stay the source of truth and
serve filters through their indexes; the summary columns are derived from them by one
``UPDATE`` in the same transaction as every write, so they can never disagree with them.
Reading a run then costs one row instead of one row per value, which is what makes a search
over thousands of runs fast (Weights & Biases keeps a per-run summary for the same reason).

Metric values in JSON: a NaN is ``null``; SQLite writes infinities as the strings
``"inf"``/``"-inf"`` and finite values as strings of 21 significant digits (its JSON numbers
keep only 15), PostgreSQL infinities as ``"Infinity"``/``"-Infinity"`` and finite values as
numbers in their shortest exact form; all decode with ``float``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from loopml.store.sql.tables import latest_metrics, params, runs, tags

Part = Literal["params", "metrics", "tags"]
PARTS: tuple[Part, ...] = ("params", "metrics", "tags")
_MAX_DOUBLE = 1.7976931348623157e308
_NAN = float("nan")
#: SQLite's printf format that writes a double with every digit it needs (the ``!`` flag
#: lifts the 16-digit cap).
_EXACT = "%!.20e"


def _aggregate(part: Part, dialect: str) -> sa.ColumnElement[Any]:
    """The JSON object of one part of one run (correlated with ``runs``)."""
    table = {"params": params, "metrics": latest_metrics, "tags": tags}[part]
    value: sa.ColumnElement[Any] = table.c.value
    if part == "metrics":
        if dialect == "postgresql":  # PostgreSQL renders non-finite doubles as JSON strings
            value = sa.case((latest_metrics.c.is_nan, sa.null()), else_=latest_metrics.c.value)
        else:  # SQLite would render them as the bare token Inf, which is not JSON
            value = sa.case(
                (latest_metrics.c.is_nan, sa.null()),
                (latest_metrics.c.value > _MAX_DOUBLE, sa.literal("inf")),
                (latest_metrics.c.value < -_MAX_DOUBLE, sa.literal("-inf")),
                # SQLite's JSON renders a REAL with 15 significant digits (0.1 + 0.2 read
                # back as 0.3); 21 digits decode to the same double (17 would in exact
                # arithmetic, but SQLite's printf gets the 17th wrong for some doubles).
                else_=sa.func.printf(_EXACT, latest_metrics.c.value),
            )
    if dialect == "postgresql":
        agg: sa.ColumnElement[Any] = sa.cast(sa.func.json_object_agg(table.c.key, value), sa.Text)
    else:
        agg = sa.func.json_group_object(table.c.key, value)
    return (
        sa.select(sa.func.coalesce(agg, sa.literal("{}")))
        .where(table.c.run_id == runs.c.run_id)
        .scalar_subquery()
    )


def refresh_statement(parts: Sequence[Part], dialect: str) -> sa.Update:
    """``UPDATE runs SET <part>_json = (aggregate) WHERE run_id IN :ids`` for some parts.

    Execute it with ``{"ids": [...]}``: an expanding ``IN`` on SQLite, ``= ANY(:ids)`` with one
    array parameter on PostgreSQL.
    """
    values = {f"{part}_json": _aggregate(part, dialect) for part in parts}
    if dialect == "postgresql":
        ids = sa.bindparam("ids", type_=postgresql.ARRAY(sa.String()))
        where = runs.c.run_id == sa.any_(ids)
    else:
        where = runs.c.run_id.in_(sa.bindparam("ids", expanding=True))
    return runs.update().where(where).values(**values)


def decode_texts(text: str | None) -> dict[str, str]:
    """Decode a params or tags summary (None when never refreshed: an empty map)."""
    if not text:
        return {}
    result: dict[str, str] = orjson.loads(text)
    return result


def decode_metrics(text: str | None) -> dict[str, float]:
    """Decode a metrics summary: null is NaN; strings and integers become floats."""
    if not text:
        return {}
    values: dict[str, Any] = orjson.loads(text)
    for key, value in values.items():
        if type(value) is not float:
            values[key] = _NAN if value is None else float(value)
    return values
