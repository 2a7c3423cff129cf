"""Contract suite of :class:`~loopml.store.protocols.EventStore`, run on every backend."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from loopml.core.audit_chain import GENESIS_HASH, entry_hash, key_bytes
from loopml.core.entities import Event
from loopml.core.errors import AlreadyExistsError, InvalidArgumentError
from loopml.core.ids import new_event_id
from loopml.core.origin import Origin, acting_as, client_name
from loopml.store.protocols import EventStore
from loopml.store.sql import SqlEventStore
from loopml.store.sql.migrate import open_store_engine


@pytest.fixture
def events(db_url: str) -> Iterator[EventStore]:
    db = open_store_engine(db_url)
    yield SqlEventStore(db)
    db.dispose()


def event(
    subject: str = "dataset:flights@1",
    at: int = 1_700_000_000_000,
    kind: str = "dataset.registered",
    **kw: Any,
) -> Event:
    fields: dict[str, Any] = {
        "event_id": new_event_id(),
        "kind": kind,
        "subject": subject,
        "actor": "ada",
        "at": at,
    }
    fields.update(kw)
    return Event(**fields)


def subjects(found: list[Event]) -> list[str]:
    return [e.subject for e in found]


def test_append_then_list_returns_the_stored_events(events: EventStore) -> None:
    assert events.list_events() == []
    first = event(reason="new data", links={"run": "a" * 32}, data={"rows": 10})
    second = event(subject="model:credit", kind="alias.moved", at=first.at + 1)
    events.append(first)
    events.append(second)
    assert events.list_events() == [first, second]


def test_each_filter(events: EventStore) -> None:
    stored = [
        event("dataset:flights@1", at=10),
        event("dataset:flights@2", at=20),
        event("model:credit", at=30, kind="alias.moved"),
        event("dataset:flights@10", at=40, kind="dataset.deleted"),
    ]
    for e in stored:
        events.append(e)
    assert events.list_events(subject="dataset:flights@1") == [stored[0]]
    assert events.list_events(subject="dataset:flights") == []  # exact, not a prefix
    assert events.list_events(subject_prefix="dataset:flights@") == [
        stored[0],
        stored[1],
        stored[3],
    ]
    assert events.list_events(subject_prefix="dataset:flights@1") == [stored[0], stored[3]]
    assert events.list_events(subject_prefix="Dataset:") == []  # case-sensitive
    assert events.list_events(kind="alias.moved") == [stored[2]]
    assert events.list_events(since=20) == stored[1:]  # inclusive
    assert events.list_events(until=30) == stored[:3]  # inclusive
    assert events.list_events(since=20, until=30) == stored[1:3]
    assert events.list_events(subject_prefix="dataset:", kind="dataset.registered", since=15) == [
        stored[1]
    ]
    assert events.list_events(subject_prefix="") == stored  # an empty prefix matches all


def test_prefix_wildcards_match_themselves(events: EventStore) -> None:
    names = ["dataset:a_b@1", "dataset:axb@1", "dataset:a%b@1", "dataset:aZZb@1", "x:a\\b@1"]
    for at, name in enumerate(names):
        events.append(event(name, at=at))
    assert subjects(events.list_events(subject_prefix="dataset:a_b")) == ["dataset:a_b@1"]
    assert subjects(events.list_events(subject_prefix="dataset:a%b")) == ["dataset:a%b@1"]
    assert subjects(events.list_events(subject_prefix="dataset:a%")) == ["dataset:a%b@1"]
    assert subjects(events.list_events(subject_prefix="dataset:_")) == []
    assert subjects(events.list_events(subject_prefix="x:a\\")) == ["x:a\\b@1"]


def test_oldest_first_and_ties_keep_the_order_of_writing(events: EventStore) -> None:
    late = event("s:late", at=300)
    tie_a = event("s:tie-a", at=200)
    early = event("s:early", at=100)
    tie_b = event("s:tie-b", at=200)
    tie_c = event("s:tie-c", at=200)
    for e in [late, tie_a, early, tie_b, tie_c]:
        events.append(e)
    assert events.list_events() == [early, tie_a, tie_b, tie_c, late]


def test_limit_keeps_the_newest_still_oldest_first(events: EventStore) -> None:
    stored = [event(f"s:{n}", at=n // 2) for n in range(6)]  # pairs share a millisecond
    for e in reversed(stored[:3]):  # written out of time order
        events.append(e)
    for e in stored[3:]:
        events.append(e)
    ordered = events.list_events()
    assert subjects(ordered) == ["s:1", "s:0", "s:2", "s:3", "s:4", "s:5"]
    assert events.list_events(limit=3) == ordered[3:]
    assert events.list_events(limit=4) == ordered[2:]
    assert events.list_events(limit=100) == ordered
    assert events.list_events(limit=0) == []
    assert events.list_events(subject_prefix="s:", until=1, limit=2) == ordered[2:4]
    with pytest.raises(InvalidArgumentError, match=r"'limit' .* Got -1 instead"):
        events.list_events(limit=-1)


def test_duplicate_event_id_is_refused(events: EventStore) -> None:
    first = event()
    events.append(first)
    again = event("model:other", event_id=first.event_id)
    with pytest.raises(AlreadyExistsError, match=rf"event with id '{first.event_id}'"):
        events.append(again)
    assert events.list_events() == [first]


def test_get_event_by_id(events: EventStore) -> None:
    first, second = event(), event("model:churn@1", kind="model.registered")
    events.append(first)
    events.append(second)
    assert events.get_event(second.event_id) == second
    assert events.get_event(first.event_id) == first
    assert events.get_event(new_event_id()) is None


def test_links_and_data_round_trip_through_json(events: EventStore) -> None:
    data = {
        "rows": 336776,
        "share": 0.25,
        "ok": True,
        "missing": None,
        "columns": ["dep_delay", "carrier"],
        "drift": {"psi": {"dep_delay": 0.31, "carrier": 0.02}, "tests": [{"name": "ks"}]},
        "text": 'é ✓ "quoted"',
    }
    links = {"run": "a" * 32, "parent": "flights@2"}
    stored = event(links=links, data=data, reason="nightly refresh")
    events.append(stored)
    (got,) = events.list_events()
    assert got == stored
    assert (dict(got.links), dict(got.data), got.reason) == (links, data, "nightly refresh")
    assert (dict(event().links), dict(event().data)) == ({}, {})


def test_data_that_is_not_json_is_refused(events: EventStore) -> None:
    with pytest.raises(InvalidArgumentError, match=r"must be JSON-ready"):
        events.append(event(data={"when": object()}))
    assert events.list_events() == []


def test_each_event_is_chained_to_the_one_before(events: EventStore) -> None:
    assert events.head() is None
    assert events.entries() == []
    written = [event(f"s:{n}", at=1000 - n) for n in range(5)]  # times need not increase
    for e in written:
        events.append(e)
    chain = events.entries()
    assert [entry.seq for entry in chain] == [1, 2, 3, 4, 5]
    assert [entry.event for entry in chain] == written
    assert chain[0].prev_hash == GENESIS_HASH
    for before, entry in itertools.pairwise(chain):
        assert entry.prev_hash == before.hash
    for entry in chain:
        assert entry.hash == entry_hash(entry.event, entry.prev_hash)
    assert events.head() == chain[-1]
    assert events.entries(after=2, limit=2) == chain[2:4]
    assert events.entry_with_hash(chain[3].hash) == chain[3]
    assert events.entry_with_hash("f" * 64) is None
    with pytest.raises(InvalidArgumentError, match=r"'limit' .* Got 0 instead"):
        events.entries(limit=0)


def test_a_refused_event_takes_no_place_in_the_chain(events: EventStore) -> None:
    first = event()
    events.append(first)
    with pytest.raises(AlreadyExistsError):
        events.append(event(event_id=first.event_id))
    with pytest.raises(InvalidArgumentError):
        events.append(event(data={"when": object()}))
    events.append(event("s:next"))
    assert [entry.seq for entry in events.entries()] == [1, 2]


def test_client_and_address_come_from_the_origin(events: EventStore) -> None:
    local = event()
    with acting_as(Origin(client="loopml-server/9.9", address="10.1.2.3", user="ada")):
        remote = event("s:remote")
    events.append(local)
    events.append(remote)
    stored = events.list_events()
    assert [(e.client, e.address) for e in stored] == [
        (client_name("sdk"), "local"),
        ("loopml-server/9.9", "10.1.2.3"),
    ]
    assert stored == [local, remote]


def test_a_keyed_engine_chains_with_hmac(db_url: str) -> None:
    db = open_store_engine(db_url, audit_key="s3cret")
    try:
        log = SqlEventStore(db)
        log.append(event())
        log.append(event("s:two"))
        first, second = log.entries()
        key = key_bytes("s3cret")
        assert first.hash == entry_hash(first.event, GENESIS_HASH, key=key)
        assert second.hash == entry_hash(second.event, first.hash, key=key)
        assert second.hash != entry_hash(second.event, first.hash)  # not the plain SHA-256
    finally:
        db.dispose()
