"""Revision 0013: the events of an older store are chained in their order of writing,
numbered without gaps, and new events continue the chain."""

from __future__ import annotations

import sqlalchemy as sa

from loopml.core.entities import Event
from loopml.core.ids import new_event_id
from loopml.governance import verify_chain
from loopml.store.sql import SqlEventStore
from loopml.store.sql.engine import StoreEngine
from loopml.store.sql.migrate import HEAD_REVISION, open_store_engine, read_revision, run_alembic
from tests.store.sql.legacy import insert_events_before_0013

KEY = "k3y"


def _event(n: int, at: int) -> Event:
    return Event(new_event_id(), "dataset.registered", f"dataset:d@{n}", "ada", at, data={"n": n})


def test_a_store_at_0012_gets_its_events_chained(fresh_db_url: str) -> None:
    old = [_event(n, at=100 - n) for n in range(1, 6)]  # times out of order: seq decides
    db = StoreEngine(fresh_db_url)
    try:
        with db.connect(write=True) as conn:
            run_alembic(conn, "upgrade", "0012")
        with db.connect(write=True) as conn, conn.begin():
            insert_events_before_0013(conn, old)
            # a gap, as a rolled-back transaction leaves in a PostgreSQL sequence
            conn.exec_driver_sql(f"DELETE FROM events WHERE event_id = '{old[1].event_id}'")
            assert not sa.inspect(conn).has_table("api_tokens")
    finally:
        db.dispose()
    kept = [old[0], *old[2:]]

    db = open_store_engine(fresh_db_url, audit_key=KEY)
    try:
        assert read_revision(db) == HEAD_REVISION
        log = SqlEventStore(db)
        chain = log.entries()
        assert [e.seq for e in chain] == [1, 2, 3, 4]
        assert [e.event.event_id for e in chain] == [e.event_id for e in kept]
        assert {(e.event.client, e.event.address) for e in chain} == {("", "")}  # unknown
        assert verify_chain(log, key=KEY).intact
        assert not verify_chain(log).intact  # chained with the key
        log.append(_event(9, at=1))
        report = verify_chain(log, key=KEY)
        assert report.intact and report.entries == 5 and report.head_seq == 5
        with db.read() as conn:
            assert sa.inspect(conn).has_table("api_tokens")
    finally:
        db.dispose()


def test_downgrading_0013_keeps_the_events(fresh_db_url: str) -> None:
    db = open_store_engine(fresh_db_url)
    try:
        SqlEventStore(db).append(_event(1, at=5))
        with db.connect(write=True) as conn:
            run_alembic(conn, "downgrade", "0012")
        with db.read() as conn:
            assert not sa.inspect(conn).has_table("api_tokens")
            columns = {c["name"] for c in sa.inspect(conn).get_columns("events")}
            assert "hash" not in columns and "client" not in columns
            assert list(conn.exec_driver_sql("SELECT kind FROM events").scalars()) == [
                "dataset.registered"
            ]
    finally:
        db.dispose()
