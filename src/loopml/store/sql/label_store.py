""":class:`SqlLabelStore`: the :class:`~loopml.store.protocols.LabelStore` on SQLite and
PostgreSQL.

A batch of labels is one write transaction under the model's label lock
(:meth:`~loopml.store.sql.engine.StoreEngine.lock`): the rows are upserted with one
``executemany`` of ``INSERT .. ON CONFLICT (model, row_id) DO UPDATE`` (the same statement on
both dialects; a row whose label and event time are unchanged is left as it is, its
``received_at`` included, so a retried batch changes nothing), and how many of them replaced
a stored label is the batch's size less the growth of the model's row count, both counted
inside the lock, so it is exact under concurrent writers too.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from loopml.core.errors import InvalidArgumentError
from loopml.store.sql.bulk import BulkStatement
from loopml.store.sql.engine import StoreEngine
from loopml.store.sql.tables import ROW_ID_LENGTH, labels

if TYPE_CHECKING:
    import pyarrow as pa

_lb = labels.c
_COLUMNS = ("model", "row_id", "label_json", "received_at", "event_at")
#: Row ids per ``IN (...)`` query when reading some labels.
_IN_CHUNK = 900
#: From this many ids on, reading all the model's labels and filtering is cheaper.
_SCAN_FROM = 20_000


def labels_schema() -> pa.Schema:
    """The schema of the table :meth:`SqlLabelStore.get_labels` returns (pyarrow loads on
    first use: the store's other users need not pay for it)."""
    import pyarrow as pa

    return pa.schema(
        [
            ("row_id", pa.string()),
            ("label_json", pa.string()),
            ("received_at", pa.int64()),
            ("event_at", pa.int64()),
        ]
    )


def _upsert(dialect: sa.Dialect) -> BulkStatement:
    module: Any = postgresql if dialect.name == "postgresql" else sqlite
    insert = module.insert(labels)
    statement = insert.on_conflict_do_update(
        index_elements=[_lb.model, _lb.row_id],
        set_={
            "label_json": insert.excluded.label_json,
            "received_at": insert.excluded.received_at,
            "event_at": insert.excluded.event_at,
        },
        # The same label and event time again (a retried request) leave the row as it is.
        where=sa.or_(
            labels.c.label_json.is_distinct_from(insert.excluded.label_json),
            labels.c.event_at.is_distinct_from(insert.excluded.event_at),
        ),
    )
    return BulkStatement.compile(statement, dialect, _COLUMNS)


class SqlLabelStore:
    """Delayed labels in a SQL database (shares the engine of the other SQL stores).

    Args:
        db: The open engine, from :func:`~loopml.store.sql.migrate.open_store_engine`.

    Example:
        >>> db = open_store_engine("sqlite:///.loopml/loopml.db")  # doctest: +SKIP
        >>> store = SqlLabelStore(db)  # doctest: +SKIP
        >>> store.put_labels("churn", ["a1", "a2"], ["1", "0"], received_at=0)  # doctest: +SKIP
        0
        >>> store.count_labels("churn")  # doctest: +SKIP
        2
    """

    def __init__(self, db: StoreEngine) -> None:
        self._db = db
        self._statement = _upsert(db.engine.dialect)

    def __repr__(self) -> str:
        return f"SqlLabelStore({self._db.location!r})"

    def put_labels(
        self,
        model: str,
        row_ids: Sequence[str],
        labels_json: Sequence[str],
        *,
        received_at: int,
        event_at: Sequence[int | None] | None = None,
    ) -> int:
        """Store labels for ``model``, each replacing any stored label of its row id.

        Args:
            model: The model name.
            row_ids: The row ids (unique within the call).
            labels_json: Each row's label as JSON text.
            received_at: When the labels arrived (ms since the epoch).
            event_at: Each row's event time (ms since the epoch) or None; None for none.

        Returns:
            How many of the rows replaced a stored label.

        Raises:
            InvalidArgumentError: The lengths differ, a row id repeats or is too long.
        """
        n = len(row_ids)
        times: Sequence[int | None] = [None] * n if event_at is None else event_at
        if len(labels_json) != n or len(times) != n:
            raise InvalidArgumentError(
                f"put_labels needs as many labels and event times as row ids; got {n} row "
                f"ids, {len(labels_json)} labels and {len(times)} event times."
            )
        ids = [str(i) for i in row_ids]
        if len(set(ids)) != n:
            raise InvalidArgumentError(
                "put_labels got a row id more than once; keep the last label of each id "
                "(loopml.monitoring.log_labels does)."
            )
        long = next((i for i in ids if len(i) > ROW_ID_LENGTH), None)
        if long is not None:
            raise InvalidArgumentError(
                f"A row id may have at most {ROW_ID_LENGTH} characters; got one of "
                f"{len(long)} ({long[:40]!r}...). Use the prediction id the server returned "
                "or a shorter id of your own."
            )
        rows = [
            (model, row_id, label, int(received_at), None if t is None else int(t))
            for row_id, label, t in zip(ids, labels_json, times, strict=True)
        ]

        def work(conn: sa.Connection) -> int:
            self._db.lock(conn, "labels", model)
            before = self._count(conn, model)
            self._statement.execute(conn, rows)
            return n - (self._count(conn, model) - before)

        return self._db.write(work) if rows else 0

    def get_labels(self, model: str, row_ids: Collection[str] | None = None) -> pa.Table:
        """Return ``model``'s labels (only those of ``row_ids`` when given), by row id.

        Returns:
            A table of :func:`labels_schema`.
        """
        import pyarrow as pa
        import pyarrow.compute as pc

        schema = labels_schema()
        wanted = None if row_ids is None else sorted({str(i) for i in row_ids})
        # Plain SQL on the driver's cursor: a million rows through SQLAlchemy's row objects
        # cost several times the database's own work.
        mark = "%s" if self._db.dialect == "postgresql" else "?"
        select = (
            "SELECT row_id, label_json, received_at, event_at FROM labels WHERE model = " + mark
        )
        rows: list[Any] = []
        with self._db.read() as conn:
            if wanted is None or len(wanted) >= _SCAN_FROM:
                result = conn.exec_driver_sql(select + " ORDER BY row_id", (model,))
                rows = list(result.cursor.fetchall())
            else:
                for start in range(0, len(wanted), _IN_CHUNK):
                    chunk = wanted[start : start + _IN_CHUNK]
                    marks = ", ".join([mark] * len(chunk))
                    sql = f"{select} AND row_id IN ({marks})"
                    result = conn.exec_driver_sql(sql, (model, *chunk))
                    rows.extend(result.cursor.fetchall())
                rows.sort(key=lambda row: row[0])
        values = list(zip(*rows, strict=True)) if rows else [()] * len(schema)
        table = pa.table(
            [pa.array(col, field.type) for col, field in zip(values, schema, strict=True)],
            schema=schema,
        )
        if wanted is not None and len(wanted) >= _SCAN_FROM:
            keep = pc.is_in(table.column("row_id"), value_set=pa.array(wanted, pa.string()))
            table = table.filter(keep)
        return table

    def count_labels(self, model: str) -> int:
        """Return how many labels are stored for ``model``."""
        with self._db.read() as conn:
            return self._count(conn, model)

    @staticmethod
    def _count(conn: sa.Connection, model: str) -> int:
        statement = sa.select(sa.func.count()).select_from(labels).where(_lb.model == model)
        return int(conn.execute(statement).scalar_one())
