"""Metric points in SQL: the append-only history (``metrics``) and each (run, key)'s latest
value (``latest_metrics``), written together in one transaction.

``log_metrics`` is the write hot path: the points go in with one ``executemany`` of
pre-compiled tuples (:mod:`.bulk`), and the latest values with one ``executemany`` upsert of
one candidate per (run, key). The latest value of a key is the point with the highest step,
then the latest timestamp, then the later write.

A batch the database refuses (a value a driver cannot bind, a run purged meanwhile) is
reported as :class:`~loopml.core.errors.InvalidArgumentError` or
:class:`~loopml.core.errors.NotFoundError`, never as a driver's own exception, so that the
metric writer can tell refused points from an unavailable store and write the others.

A batch may carry an idempotency key (what a server receives from a client that may send the
same batch again after a lost answer): the key goes into ``metric_batches`` in the batch's
own transaction, first, and a key already there means the batch was applied, so nothing is
written. A concurrent copy of the same batch waits on the key's row and then finds it. Keys
are kept for a retry window and then pruned (:meth:`SqlMetricLog.prune_batch_keys`).

Every point's run must be RUNNING, read in the batch's transaction after taking the runs'
locks, the lock a run's end takes too: a batch commits before the end or is refused after
it, whichever process (or server worker) sends it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from loopml.core.clock import now_ms
from loopml.core.entities import MetricPoint
from loopml.core.errors import InvalidArgumentError, LoopmlError, NotFoundError
from loopml.core.ids import RunId
from loopml.store.sql import mapper
from loopml.store.sql.bulk import BulkStatement
from loopml.store.sql.engine import StoreEngine
from loopml.store.sql.run_checks import require_run, require_running_runs
from loopml.store.sql.tables import BATCH_KEY_LENGTH, latest_metrics, metric_batches, metrics

#: Recomputes the metrics summary of some runs inside the caller's transaction.
Refresh = Callable[[sa.Connection, Iterable[str]], None]


def latest_candidates(rows: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Reduce a batch to one row per (run, key): highest step, then timestamp, then the later."""
    best: dict[tuple[str, str], tuple[Any, ...]] = {}
    for row in rows:
        slot = (row[0], row[1])
        current = best.get(slot)
        if current is None or (row[4], row[5]) >= (current[4], current[5]):
            best[slot] = row
    # A fixed order makes concurrent PostgreSQL upserts take row locks in the same order.
    return [best[slot] for slot in sorted(best)]


class SqlMetricLog:
    """Writes and reads metric points of one metadata store.

    Args:
        db: The store's engine.
        refresh: Recomputes the metrics summary column of runs (same transaction).
    """

    def __init__(self, db: StoreEngine, refresh: Refresh) -> None:
        self._db = db
        self._refresh = refresh
        dialect = db.engine.dialect
        self._insert = BulkStatement.compile(metrics.insert(), dialect, mapper.METRIC_COLUMNS)
        self._upsert = BulkStatement.compile(self._latest_upsert(), dialect, mapper.METRIC_COLUMNS)
        insert = postgresql.insert if self._db.dialect == "postgresql" else sqlite.insert
        self._claim = (
            insert(metric_batches)
            .on_conflict_do_nothing(index_elements=["batch_key"])
            .returning(metric_batches.c.batch_key)  # a row back: claimed by this transaction
        )

    def _latest_upsert(self) -> postgresql.Insert | sqlite.Insert:
        statement: postgresql.Insert | sqlite.Insert = (
            postgresql.insert(latest_metrics)
            if self._db.dialect == "postgresql"
            else sqlite.insert(latest_metrics)
        )
        new, old = statement.excluded, latest_metrics.c
        return statement.on_conflict_do_update(
            index_elements=[old.run_id, old.key],
            set_={
                "value": new.value,
                "is_nan": new.is_nan,
                "step": new.step,
                "timestamp": new.timestamp,
            },
            where=sa.or_(
                new.step > old.step,
                sa.and_(new.step == old.step, new.timestamp >= old.timestamp),
            ),
        )

    def insert(self, conn: sa.Connection, points: Iterable[tuple[str, MetricPoint]]) -> None:
        """Insert points inside the caller's transaction (runs must exist; no summary refresh)."""
        rows = mapper.metric_tuples(points)
        self._insert.execute(conn, rows)
        self._upsert.execute(conn, latest_candidates(rows))

    def log_metrics(
        self, points: Sequence[tuple[RunId, MetricPoint]], *, batch_key: str | None = None
    ) -> bool:
        """Append metric points (of one or many runs) in one transaction and update each
        (run, key)'s latest value.

        Args:
            points: The points, with their runs.
            batch_key: The batch's idempotency key (see the module docstring), or None.

        Returns:
            False when ``batch_key`` was applied before (nothing written), else True.

        Raises:
            NotFoundError: A point names an unknown run (nothing is written).
            ConflictError: A point names a run that has ended (nothing is written): its
                status is read in this transaction, after taking the runs' locks.
            InvalidArgumentError: The database refused a value, or the key is not 1 to 64
                characters (nothing is written).
        """
        if batch_key is not None and not 0 < len(batch_key) <= BATCH_KEY_LENGTH:
            raise InvalidArgumentError(
                f"A metric batch's idempotency key must be 1 to {BATCH_KEY_LENGTH} characters; "
                f"got {len(batch_key)}. Send a fresh UUID (hex) per batch."
            )
        if not points:
            return True
        rows = mapper.metric_tuples(points)
        latest = latest_candidates(rows)
        run_ids = {row[0] for row in latest}

        def work(conn: sa.Connection) -> bool:
            if batch_key is not None:
                claim = {"batch_key": batch_key, "points": len(rows), "applied_at": now_ms()}
                if conn.execute(self._claim, claim).first() is None:
                    return False  # applied before: the first copy's points stand
            for run_id in sorted(run_ids):  # the lock a run's end takes: no point after it
                self._db.lock(conn, "run", run_id)
            require_running_runs(conn, run_ids)
            self._insert.execute(conn, rows)
            self._upsert.execute(conn, latest)
            self._refresh(conn, run_ids)
            return True

        try:
            return self._db.write(work)
        except LoopmlError:
            raise
        except sa.exc.IntegrityError as exc:  # a run purged by another writer meanwhile
            raise NotFoundError(
                f"The metric points of {len(run_ids)} run(s) could not be written: a run was "
                f"removed while they were written ({_reason(exc)}). Check the run ids."
            ) from exc
        except (sa.exc.DataError, OverflowError, ValueError, TypeError) as exc:
            raise InvalidArgumentError(
                f"The metadata store {self._db.location} refused {len(rows)} metric point(s): "
                f"{_reason(exc)}. Steps and timestamps must fit in 64 bits and values in a "
                "double; log values through the SDK, which checks them."
            ) from exc

    def prune_batch_keys(self, *, applied_before: int, limit: int) -> int:
        """Delete up to ``limit`` batch keys applied before ``applied_before`` (ms), oldest
        first, through the ``applied_at`` index; return how many were deleted."""
        oldest = (
            sa.select(metric_batches.c.batch_key)
            .where(metric_batches.c.applied_at < applied_before)
            .order_by(metric_batches.c.applied_at)
            .limit(limit)
        )
        statement = metric_batches.delete().where(
            metric_batches.c.batch_key.in_(oldest.scalar_subquery())
        )
        return int(self._db.write(lambda conn: conn.execute(statement).rowcount))

    def get_metric_history(self, run_id: RunId, key: str) -> list[MetricPoint]:
        """Return every point of one metric ordered by step, then timestamp (then the order of
        writing). Raises NotFoundError for an unknown run."""
        statement = (
            sa.select(
                metrics.c.key,
                metrics.c.value,
                metrics.c.is_nan,
                metrics.c.step,
                metrics.c.timestamp,
            )
            .where(metrics.c.run_id == run_id, metrics.c.key == key)
            .order_by(metrics.c.step, metrics.c.timestamp, metrics.c.id)
        )
        with self._db.read() as conn:
            rows = conn.execute(statement).all()
            if not rows:
                require_run(conn, run_id)
        return [mapper.point_from_row(row) for row in rows]


def _reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return f"{type(orig or exc).__name__}: {text.splitlines()[0] if text else ''}"
