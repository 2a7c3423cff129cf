"""Concurrent writers of one run lose no update in its summary columns (what get_run and
searches read): each write transaction refreshes them under the run's lock."""

from __future__ import annotations

import threading

import sqlalchemy as sa

from loopml.core.settings import Settings
from loopml.store.backend import open_backend
from loopml.store.sql.tables import params
from loopml.store.sql.tracking_store import SqlTrackingStore
from loopml.tracking import TrackingService


def test_a_writer_waiting_on_another_sees_its_params_in_the_summary(
    settings: Settings,
) -> None:
    """Writer A adds p0 and refreshes the summary, then holds its transaction open; writer B
    adds p1 meanwhile. Without the run's lock, B's refresh (on PostgreSQL, a statement whose
    snapshot predates A's commit) would write a summary without p0."""
    backend = open_backend(settings)
    run = TrackingService(backend).create_run(experiment="exp")
    store = backend.tracking
    assert isinstance(store, SqlTrackingStore)
    a_refreshed, b_started = threading.Event(), threading.Event()

    def writer_a(conn: sa.Connection) -> None:
        conn.execute(params.insert(), {"run_id": run.run_id, "key": "p0", "value": "0"})
        store._refresh(conn, ("params",), [run.run_id])
        a_refreshed.set()
        assert b_started.wait(30)
        threading.Event().wait(0.5)  # B is inside its transaction now, waiting on A

    def writer_b() -> None:
        assert a_refreshed.wait(30)
        b_started.set()
        store.log_params(run.run_id, {"p1": "1"})

    b = threading.Thread(target=writer_b)
    b.start()
    store._db.write(writer_a)
    b.join(60)
    assert store.get_run(run.run_id).params == {"p0": "0", "p1": "1"}
