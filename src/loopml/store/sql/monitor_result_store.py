""":class:`SqlMonitorResultStore`: the :class:`~loopml.store.protocols.MonitorResultStore` on
SQLite and PostgreSQL (SQLAlchemy Core).

A monitor run is stored as one row per window, all written in one transaction with the run's
``monitor.run`` event, so a reader never sees half a run. The window itself is JSON text (its
``to_dict()``); the columns beside it are what listings filter and sort on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa

from loopml.core.entities import Alert, Event, MonitorResult, MonitorWindow
from loopml.core.errors import AlreadyExistsError
from loopml.store.sql.engine import StoreEngine
from loopml.store.sql.event_store import insert_event
from loopml.store.sql.tables import monitor_results

_mr = monitor_results.c
_COLUMNS = (
    _mr.result_id,
    _mr.run_id,
    _mr.subject,
    _mr.model,
    _mr.start_ms,
    _mr.end_ms,
    _mr.window_json,
    _mr.alerts_json,
    _mr.created_at,
)


def _row(result: MonitorResult) -> dict[str, object]:
    w = result.window
    return {
        "result_id": result.result_id,
        "run_id": result.run_id,
        "subject": result.subject,
        "model": result.model,
        "window_index": w.index,
        "start_ms": result.start_ms,
        "end_ms": result.end_ms,
        "rows": w.rows,
        "dataset_drift": w.dataset_drift,
        "drift_share": w.drift_share,
        "window_json": orjson.dumps(w.to_dict()).decode(),
        "alerts_json": orjson.dumps([a.to_dict() for a in result.alerts]).decode(),
        "created_at": result.created_at,
    }


def _result(row: Sequence[Any]) -> MonitorResult:
    result_id, run_id, subject, model, start, end, window, alerts, at = row
    return MonitorResult(
        result_id=str(result_id),
        run_id=str(run_id),
        subject=str(subject),
        model=None if model is None else str(model),
        window=MonitorWindow.from_dict(orjson.loads(str(window))),
        start_ms=None if start is None else int(start),
        end_ms=None if end is None else int(end),
        created_at=int(at),
        alerts=tuple(Alert.from_dict(a) for a in orjson.loads(str(alerts))),
    )


def _taken(result_id: str) -> AlreadyExistsError:
    return AlreadyExistsError(
        f"A monitor result with id {result_id!r} is already stored; results are written once. "
        "Give each window a fresh id (loopml.core.ids.new_event_id)."
    )


class SqlMonitorResultStore:
    """Stored monitor runs in a SQL database (the engine shared with the other stores).

    Args:
        db: The open engine, from :func:`~loopml.store.sql.migrate.open_store_engine`.
    """

    def __init__(self, db: StoreEngine) -> None:
        self._db = db

    def __repr__(self) -> str:
        return f"SqlMonitorResultStore({self._db.location!r})"

    def add(self, results: Sequence[MonitorResult], *, event: Event | None = None) -> None:
        """Write a run's windows and its event in one transaction (all or nothing).

        Raises:
            AlreadyExistsError: A result id is already stored (nothing is written).
        """
        rows = [_row(r) for r in results]
        ids = [str(r["result_id"]) for r in rows]
        if len(set(ids)) != len(ids):
            raise _taken(next(i for i in ids if ids.count(i) > 1))

        def work(conn: sa.Connection) -> None:
            if ids:
                taken = conn.execute(
                    sa.select(_mr.result_id).where(_mr.result_id.in_(ids)).limit(1)
                ).first()
                if taken is not None:
                    raise _taken(str(taken[0]))
                conn.execute(monitor_results.insert(), rows)
            if event is not None:
                insert_event(self._db, conn, event)

        try:
            self._db.write(work)
        except sa.exc.IntegrityError:  # a concurrent writer stored the same id first
            raise _taken(ids[0] if ids else "") from None

    def list_results(
        self,
        *,
        subject: str | None = None,
        run_id: str | None = None,
        since: int | None = None,
        until: int | None = None,
        limit: int | None = None,
    ) -> list[MonitorResult]:
        """Return the windows matching every given filter, newest run first and, within a
        run, the latest window first; ``since``/``until`` bound ``created_at`` (inclusive)."""
        conditions: list[sa.ColumnElement[bool]] = []
        if subject is not None:
            conditions.append(_mr.subject == subject)
        if run_id is not None:
            conditions.append(_mr.run_id == run_id)
        if since is not None:
            conditions.append(_mr.created_at >= since)
        if until is not None:
            conditions.append(_mr.created_at <= until)
        statement = (
            sa.select(*_COLUMNS)
            .where(*conditions)
            .order_by(_mr.created_at.desc(), _mr.run_id, _mr.window_index.desc())
            .limit(limit)
        )
        with self._db.read() as conn:
            return [_result(row) for row in conn.execute(statement)]
