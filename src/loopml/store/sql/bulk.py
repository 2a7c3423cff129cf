"""Bulk statements: an INSERT (or upsert) compiled once, run as one ``executemany`` of tuples.

``log_metrics`` is the write hot path. Executing a Core statement with a list of dicts makes
SQLAlchemy process every parameter of every row in Python, which costs more than SQLite's own
work. A :class:`BulkStatement` is compiled by SQLAlchemy once (bound parameters, positional
style) and its rows go to the driver's ``executemany`` through
:meth:`~sqlalchemy.engine.Connection.exec_driver_sql`, inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg


def _positional_dialect(dialect: sa.Dialect) -> sa.Dialect:
    if dialect.name == "postgresql":
        # "%s" placeholders, as psycopg takes them
        return PGDialect_psycopg(paramstyle="format")  # type: ignore[no-untyped-call]
    return dialect  # SQLite's "?" is positional already


@dataclass(frozen=True)
class BulkStatement:
    """An INSERT compiled for one dialect, with the column order its row tuples follow.

    Attributes:
        sql: The statement text, with positional placeholders.
        columns: The column of each placeholder, in order.
    """

    sql: str
    columns: tuple[str, ...]

    @classmethod
    def compile(
        cls, statement: sa.Insert, dialect: sa.Dialect, columns: Sequence[str]
    ) -> BulkStatement:
        """Compile ``statement`` inserting ``columns`` (the others get their defaults).

        Args:
            statement: An insert, possibly with an ``ON CONFLICT`` clause.
            dialect: The engine's dialect.
            columns: The columns each row gives, in the table's column order.
        """
        compiled = statement.compile(
            dialect=_positional_dialect(dialect), column_keys=list(columns)
        )
        order = tuple(compiled.positiontup or ())
        if order != tuple(columns):  # pragma: no cover - a programming error
            raise AssertionError(f"give the columns in table order: {order}")
        return cls(sql=compiled.string, columns=order)

    def execute(self, conn: sa.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert ``rows`` (tuples in :attr:`columns` order) with one ``executemany``."""
        if rows:
            conn.exec_driver_sql(self.sql, list(rows))
