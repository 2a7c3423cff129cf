"""The audit log's chain on SQLite and PostgreSQL: what ``verify_chain`` finds when rows are
edited, deleted, reordered or renumbered directly in the database, with and without
``LOOPML_AUDIT_KEY``, and that concurrent writers keep one chain."""

from __future__ import annotations

import dataclasses
import multiprocessing
import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from loopml.core.audit_chain import entry_hash
from loopml.core.entities import AuditReport, Event
from loopml.core.errors import ConflictError, InvalidArgumentError
from loopml.core.ids import new_event_id
from loopml.core.settings import Settings
from loopml.governance import parse_anchor, rechain, verify_chain
from loopml.store.backend import Backend, open_backend
from loopml.store.sql import SqlEventStore
from loopml.store.sql.engine import StoreEngine
from loopml.store.sql.migrate import open_store_engine

KEY = "correct horse battery staple"


def event(n: int) -> Event:
    return Event(new_event_id(), "test.happened", f"thing:{n}", "ada", 1_000 + n, data={"n": n})


def sql(db_url: str, *statements: str) -> None:
    """Run statements in one transaction, as someone with the database's credentials."""
    db = StoreEngine(db_url)
    try:
        db.write(lambda conn: [conn.exec_driver_sql(s) for s in statements])
    finally:
        db.dispose()


@pytest.fixture
def backend(settings: Settings) -> Iterator[Backend]:
    backend = open_backend(settings)
    for n in range(1, 7):
        backend.events.append(event(n))
    yield backend


def problem_of(report: AuditReport) -> tuple[int, str, str]:
    assert not report.intact and report.problem is not None
    return report.problem.seq, report.problem.event_id, report.problem.problem


def test_an_intact_chain_verifies(backend: Backend) -> None:
    report = verify_chain(backend.events, page_size=4)  # pages end inside the chain
    assert report.intact and report.problem is None
    assert report.entries == 6 and report.head_seq == 6 and not report.keyed
    assert report.head_hash == backend.events.entries()[-1].hash
    assert AuditReport.from_dict(report.to_dict()) == report


def test_an_empty_log_verifies(settings: Settings) -> None:
    report = verify_chain(open_backend(settings).events)
    assert report.intact and report.entries == 0 and report.head_hash == ""


def test_an_edited_row_is_named(backend: Backend, settings: Settings) -> None:
    third = backend.events.entries()[2]
    sql(settings.db_url, "UPDATE events SET actor = 'mallory' WHERE seq = 3")
    report = verify_chain(backend.events)
    assert problem_of(report) == (3, third.event.event_id, "edited")
    assert report.problem is not None and report.problem.kind == "test.happened"
    assert "is not the hash of its content" in report.problem.detail
    assert report.entries == 2 and report.head_seq == 2  # the last good entry


def test_an_edited_json_field_is_named(backend: Backend, settings: Settings) -> None:
    sql(settings.db_url, """UPDATE events SET data_json = '{"n":40}' WHERE seq = 4""")
    assert problem_of(verify_chain(backend.events))[::2] == (4, "edited")


def test_a_deleted_row_is_named(backend: Backend, settings: Settings) -> None:
    fourth = backend.events.entries()[3]
    sql(settings.db_url, "DELETE FROM events WHERE seq = 3")
    report = verify_chain(backend.events)
    assert problem_of(report) == (4, fourth.event.event_id, "deleted")
    assert report.problem is not None and "entries 3 are missing" in report.problem.detail


def test_a_deleted_row_with_the_rest_renumbered_is_named(
    backend: Backend, settings: Settings
) -> None:
    fourth = backend.events.entries()[3]
    sql(
        settings.db_url,
        "DELETE FROM events WHERE seq = 3",
        "UPDATE events SET seq = 3 WHERE seq = 4",
        "UPDATE events SET seq = 4 WHERE seq = 5",
        "UPDATE events SET seq = 5 WHERE seq = 6",
    )
    report = verify_chain(backend.events)
    assert problem_of(report) == (3, fourth.event.event_id, "deleted")
    assert report.problem is not None and "is not in the log" in report.problem.detail


def test_two_rows_swapped_are_named(backend: Backend, settings: Settings) -> None:
    second, third = backend.events.entries()[1:3]
    sql(
        settings.db_url,
        "UPDATE events SET seq = -1 WHERE seq = 2",
        "UPDATE events SET seq = 2 WHERE seq = 3",
        "UPDATE events SET seq = 3 WHERE seq = -1",
    )
    report = verify_chain(backend.events)
    assert problem_of(report) == (2, third.event.event_id, "reordered")
    assert report.problem is not None
    assert f"follows entry seq 3 (test.happened, {second.event.event_id})" in report.problem.detail


def test_a_gap_in_the_numbers_alone_is_named(backend: Backend, settings: Settings) -> None:
    sql(settings.db_url, "UPDATE events SET seq = seq + 1000 WHERE seq >= 5")
    assert problem_of(verify_chain(backend.events))[::2] == (1005, "renumbered")


def forge(db_url: str, events: SqlEventStore, *, from_seq: int) -> None:
    """Rewrite the hashes from ``from_seq`` on as plain SHA-256, as a forger without the key
    would after editing an entry."""
    entries = events.entries()
    prev = entries[from_seq - 2].hash if from_seq > 1 else "0" * 64
    statements = []
    for entry in entries[from_seq - 1 :]:
        digest = entry_hash(entry.event, prev)
        statements.append(
            f"UPDATE events SET prev_hash = '{prev}', hash = '{digest}' WHERE seq = {entry.seq}"
        )
        prev = digest
    sql(db_url, *statements)


def test_without_a_key_a_full_rewrite_verifies(backend: Backend, settings: Settings) -> None:
    """The documented limit (docs/server.md): plain SHA-256 stops accidents and careless edits,
    not someone who can write the database and recompute the chain."""
    sql(settings.db_url, "UPDATE events SET actor = 'mallory' WHERE seq = 2")
    assert not verify_chain(backend.events).intact
    forge(settings.db_url, backend.events, from_seq=2)  # type: ignore[arg-type]
    assert verify_chain(backend.events).intact


def test_with_a_key_a_forger_recomputing_sha256_is_caught(settings: Settings) -> None:
    keyed = open_backend(dataclasses.replace(settings, audit_key=KEY))
    for n in range(1, 6):
        keyed.events.append(event(n))
    assert verify_chain(keyed.events, key=KEY).intact
    report = verify_chain(keyed.events)  # verified without the key: says to set it
    assert problem_of(report)[::2] == (1, "edited")
    assert report.problem is not None and "set it to verify" in report.problem.detail

    third = keyed.events.entries()[2]
    sql(settings.db_url, "UPDATE events SET actor = 'mallory' WHERE seq = 3")
    forge(settings.db_url, keyed.events, from_seq=3)  # type: ignore[arg-type]
    report = verify_chain(keyed.events, key=KEY)
    assert problem_of(report) == (3, third.event.event_id, "edited")
    assert report.keyed and report.problem is not None
    assert "plain SHA-256 of the entry" in report.problem.detail
    assert not verify_chain(keyed.events, key="another key").intact


def test_a_cut_tail_is_found_only_with_an_anchor(backend: Backend, settings: Settings) -> None:
    head = backend.events.head()
    assert head is not None
    anchor = parse_anchor(f"{head.seq}:{head.hash}")
    assert verify_chain(backend.events, anchor=anchor).intact
    sql(settings.db_url, "DELETE FROM events WHERE seq >= 5")
    assert verify_chain(backend.events).intact  # a shorter chain is still a chain
    report = verify_chain(backend.events, anchor=anchor)
    assert problem_of(report) == (6, "", "truncated")
    assert report.problem is not None and "the log ends at seq 4" in report.problem.detail

    backend.events.append(event(7))  # seq 5 again, with another hash
    backend.events.append(event(8))
    report = verify_chain(backend.events, anchor=anchor)
    assert problem_of(report)[::2] == (6, "edited")
    assert report.problem is not None and "the anchor says seq 6" in report.problem.detail


def test_anchor_syntax() -> None:
    assert parse_anchor(f"12:{'a' * 64}").seq == 12
    with pytest.raises(ValueError, match="is not SEQ:HASH"):
        parse_anchor("12:abc")


def test_threads_appending_at_once_keep_one_chain(settings: Settings) -> None:
    events = open_backend(settings).events
    threads, each = 6, 15
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def write(index: int) -> None:
        try:
            start.wait()
            for n in range(each):
                events.append(event(index * 1000 + n))
        except BaseException as exc:  # reported below
            errors.append(exc)

    workers = [threading.Thread(target=write, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    report = verify_chain(events)
    assert report.intact and report.entries == threads * each
    assert [e.seq for e in events.entries(limit=1000)] == list(range(1, threads * each + 1))


def _append_many(db_url: str, index: int, count: int, barrier: object) -> int:
    db = open_store_engine(db_url, audit_key=KEY)
    try:
        barrier.wait()  # type: ignore[attr-defined]
        log = SqlEventStore(db)
        for n in range(count):
            log.append(event(index * 1000 + n))
        return count
    finally:
        db.dispose()


def test_processes_appending_at_once_keep_one_chain(settings: Settings) -> None:
    keyed = open_backend(dataclasses.replace(settings, audit_key=KEY))
    keyed.events.append(event(0))  # the store exists before the writers start
    processes, each = 3, 20
    context = multiprocessing.get_context("spawn")
    manager = context.Manager()
    try:
        barrier = manager.Barrier(processes)
        with context.Pool(processes) as pool:
            results = [
                pool.apply_async(_append_many, (settings.db_url, i + 1, each, barrier))
                for i in range(processes)
            ]
            assert sum(r.get(timeout=240) for r in results) == processes * each
    finally:
        manager.shutdown()
    report = verify_chain(keyed.events, key=KEY)
    assert report.intact and report.entries == processes * each + 1
    db = StoreEngine(settings.db_url)
    try:
        with db.read() as conn:
            hashes = conn.execute(sa.text("SELECT count(DISTINCT prev_hash) FROM events"))
            assert hashes.scalar() == processes * each + 1  # no two entries share a parent
    finally:
        db.dispose()


def test_a_plain_log_is_put_under_a_key(backend: Backend, settings: Settings) -> None:
    keyed = open_backend(dataclasses.replace(settings, audit_key=KEY))
    report = verify_chain(keyed.events, key=KEY)
    assert problem_of(report)[::2] == (1, "edited")
    assert report.problem is not None and "loopml audit rekey" in report.problem.detail
    assert rechain(keyed.events, old_key=None, actor="root") == 6
    report = verify_chain(keyed.events, key=KEY)
    assert report.intact and report.entries == 7
    last = keyed.events.head()
    assert last is not None and last.event.kind == "audit.rechained"
    assert last.event.data == {"from": "sha256", "to": "hmac"}
    assert not verify_chain(keyed.events).intact  # the plain hashes are gone

    rotated = open_backend(dataclasses.replace(settings, audit_key="the next key"))
    assert rechain(rotated.events, old_key=KEY, actor="root") == 7
    assert verify_chain(rotated.events, key="the next key").intact


def test_a_broken_log_is_not_put_under_a_key(backend: Backend, settings: Settings) -> None:
    sql(settings.db_url, "UPDATE events SET reason = 'hidden' WHERE seq = 4")
    before = backend.events.entries()
    keyed = open_backend(dataclasses.replace(settings, audit_key=KEY))
    with pytest.raises(ConflictError, match=r"entry seq 4 \(test.happened, [0-9a-f]{32}\) does"):
        rechain(keyed.events, old_key=None, actor="root")
    assert backend.events.entries() == before  # nothing changed
    with pytest.raises(InvalidArgumentError, match="needs the new key"):
        rechain(backend.events, old_key=None, actor="root")
