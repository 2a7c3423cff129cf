"""Revision 0008: a store from before model_log keeps its alias history, numbered in the order
it was read in before (time, then write order), and new changes follow it."""

from __future__ import annotations

import sqlalchemy as sa

from loopml.core.entities import Event
from loopml.core.ids import new_event_id
from loopml.store.protocols import ModelChange
from loopml.store.sql import SqlModelStore
from loopml.store.sql.engine import StoreEngine
from loopml.store.sql.migrate import HEAD_REVISION, open_store_engine, read_revision, run_alembic
from loopml.store.sql.tables import model_aliases
from tests.contract.test_model_store import draft
from tests.store.sql.legacy import insert_events_before_0013


def _move(name: str, alias: str, before: int | None, after: int, at: int) -> Event:
    return Event(
        new_event_id(),
        "alias.moved",
        f"model:{name}",
        "ada",
        at,
        data={"alias": alias, "from": before, "to": after, "rollback": False},
    )


def _review(name: str, number: int, kind: str, at: int) -> Event:
    return Event(new_event_id(), kind, f"model:{name}@{number}", "grace", at)


def test_a_store_at_0007_gets_its_history_numbered_in_the_old_order(fresh_db_url: str) -> None:
    db = StoreEngine(fresh_db_url)
    try:
        with db.connect(write=True) as conn:
            run_alembic(conn, "upgrade", "0007")
        models = SqlModelStore(db)  # creating versions needs nothing from 0008
        for name in ("credit-default", "credit-default", "credit-default", "churn"):
            models.create_version(draft(name=name))
        written = [
            _move("credit-default", "champion", None, 1, at=10),
            _review("credit-default", 2, "model.approved", at=15),
            _move("churn", "champion", None, 1, at=16),
            _move("credit-default", "champion", 1, 2, at=20),
            _move("credit-default", "champion", 2, 3, at=20),  # same ms: write order decides
            Event(new_event_id(), "model.exported", "model:credit-default@1", "ada", 21),
            _review("credit-default", 3, "model.rejected", at=30),
        ]
        with db.connect(write=True) as conn, conn.begin():
            insert_events_before_0013(conn, written)
            conn.execute(
                model_aliases.insert(),
                [
                    {"name": "credit-default", "alias": "champion", "version": 3, "updated_at": 20},
                    {"name": "churn", "alias": "champion", "version": 1, "updated_at": 16},
                ],
            )
            assert not sa.inspect(conn).has_table("model_log")
    finally:
        db.dispose()

    db = open_store_engine(fresh_db_url)
    try:
        assert read_revision(db) == HEAD_REVISION
        models = SqlModelStore(db)
        history = models.history("credit-default")
        expected = [e for e in written if e.subject.startswith("model:credit-default")]
        expected = [e for e in expected if e.kind != "model.exported"]
        assert [e.event_id for e in history] == [e.event_id for e in expected]
        assert [e.event_id for e in models.history("churn")] == [written[2].event_id]
        with db.read() as conn:
            numbers = conn.exec_driver_sql(
                "SELECT seq FROM model_log WHERE name = 'credit-default' ORDER BY seq"
            ).scalars()
            assert list(numbers) == [1, 2, 3, 4, 5]

        def back_to_two(change: ModelChange) -> None:
            change.move_alias("champion", 2, _move("credit-default", "champion", 3, 2, at=1))

        models.change("credit-default", back_to_two)  # at=1: before everything, by time
        after = models.history("credit-default")
        assert [e.event_id for e in after[:-1]] == [e.event_id for e in expected]
        assert after[-1].data == {"alias": "champion", "from": 3, "to": 2, "rollback": False}
    finally:
        db.dispose()


def test_downgrading_0008_keeps_the_events(fresh_db_url: str) -> None:
    db = open_store_engine(fresh_db_url)
    try:
        models = SqlModelStore(db)
        models.create_version(draft())
        models.change(
            "credit-default",
            lambda change: change.move_alias(
                "champion", 1, _move("credit-default", "champion", None, 1, at=5)
            ),
        )
        with db.connect(write=True) as conn:
            run_alembic(conn, "downgrade", "0007")
        with db.read() as conn:
            assert not sa.inspect(conn).has_table("model_log")
            kinds = conn.exec_driver_sql("SELECT kind FROM events").scalars()
            assert list(kinds) == ["alias.moved"]
    finally:
        db.dispose()
