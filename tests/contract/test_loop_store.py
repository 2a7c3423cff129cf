"""Contract suite of :class:`~loopml.store.protocols.LoopStore`, run on every backend."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator

import pytest

from loopml.core.entities import Event, LoopAgent, LoopPolicyRecord, LoopRun, LoopStep
from loopml.core.errors import AlreadyExistsError, ConflictError, NotFoundError
from loopml.core.ids import new_event_id
from loopml.store.protocols import EventStore, LoopClaim, LoopStore
from loopml.store.sql import SqlEventStore, SqlLoopStore
from loopml.store.sql.migrate import open_store_engine

TTL = 10_000


@pytest.fixture
def stores(db_url: str) -> Iterator[tuple[LoopStore, EventStore]]:
    db = open_store_engine(db_url)
    yield SqlLoopStore(db), SqlEventStore(db)
    db.dispose()


def run(key: str = "dataset:flights@2", policy: str = "late", **kw: object) -> LoopRun:
    fields: dict[str, object] = {
        "run_id": new_event_id(),
        "policy": policy,
        "trigger_key": key,
        "trigger": "dataset",
        "status": "running",
        "step": "data",
        "state": {"data": {"ref": "flights@2"}},
        "trigger_data": {"dataset": "flights@2"},
        "created_at": 1_000,
        "updated_at": 1_000,
        "next_at": 1_000,
    }
    return LoopRun(**(fields | kw))  # type: ignore[arg-type]


def event(run_id: str, kind: str = "loop.triggered") -> Event:
    return Event(new_event_id(), kind, "loop:late", "automation:late", 1_000, links={"run": run_id})


def claim(store: LoopStore, new: LoopRun, *, only_one_open: bool = False) -> LoopRun | None:
    """Claim ``new`` unless its key is claimed; with ``only_one_open``, store it skipped when
    the policy has an open run (the agent's rule, written above the store)."""

    def work(c: LoopClaim) -> LoopRun | None:
        if c.find(new.trigger_key) is not None:
            return None
        stored = new
        if only_one_open and c.open_runs():
            stored = dataclasses.replace(new, status="skipped", step="done")
        c.insert(stored, event(new.run_id))
        return stored

    return store.claim(new.policy, work)


def test_a_claimed_run_round_trips_and_a_key_is_claimed_once(
    stores: tuple[LoopStore, EventStore],
) -> None:
    loops, events = stores
    first = run(state={"nested": {"a": [1, 2.5, None]}}, trigger_data={"event": "x" * 40})
    assert claim(loops, first) == first
    assert loops.get_run(first.run_id) == first
    assert claim(loops, run()) is None  # the same key again: not claimed
    with pytest.raises(AlreadyExistsError, match=r"claimed already \(loop run "):
        loops.claim("late", lambda c: c.insert(run(), event("x")))
    # another policy may claim the same key
    other = run(policy="other")
    assert claim(loops, other) == other
    assert [e.links["run"] for e in events.list_events(kind="loop.triggered")] == [
        first.run_id,
        other.run_id,
    ]
    with pytest.raises(ConflictError, match="cannot store a run of 'other'"):
        loops.claim("late", lambda c: c.insert(run("k", policy="other"), event("x")))
    with pytest.raises(NotFoundError, match="No loop run 'nope'"):
        loops.get_run("nope")


def test_open_runs_are_read_inside_the_claim(stores: tuple[LoopStore, EventStore]) -> None:
    loops, _ = stores
    first = claim(loops, run("a"), only_one_open=True)
    second = claim(loops, run("b", created_at=2_000), only_one_open=True)
    assert first is not None and first.status == "running"
    assert second is not None and second.status == "skipped"
    assert loops.claim("late", lambda c: [r.run_id for r in c.open_runs()]) == [first.run_id]


def test_list_runs_filters_newest_first_and_prefixes(
    stores: tuple[LoopStore, EventStore],
) -> None:
    loops, _ = stores
    a = run("a", created_at=1, next_at=50)
    b = run("b", created_at=2, status="awaiting_approval", next_at=10)
    c = run("c", created_at=3, status="promoted", policy="other")
    for r in (a, b, c):
        claim(loops, r)
    assert [r.run_id for r in loops.list_runs()] == [c.run_id, b.run_id, a.run_id]
    assert [r.run_id for r in loops.list_runs(policy="late")] == [b.run_id, a.run_id]
    assert [r.run_id for r in loops.list_runs(statuses=("running", "promoted"))] == [
        c.run_id,
        a.run_id,
    ]
    assert [r.run_id for r in loops.list_runs(due_by=20)] == [b.run_id]
    assert [r.run_id for r in loops.list_runs(limit=1)] == [c.run_id]
    assert loops.run_ids_with_prefix(a.run_id[:6], limit=5) == [a.run_id]
    assert loops.run_ids_with_prefix("zz", limit=5) == []


def test_one_holder_at_a_time_and_an_expired_lease_is_taken_over(
    stores: tuple[LoopStore, EventStore],
) -> None:
    loops, _ = stores
    r = run()
    claim(loops, r)
    held = loops.acquire(r.run_id, "agent-a", now=1_000, ttl_ms=TTL)
    assert held is not None and held.lease_holder == "agent-a"
    assert held.lease_expires_at == 1_000 + TTL
    assert loops.acquire(r.run_id, "agent-b", now=2_000, ttl_ms=TTL) is None
    again = loops.acquire(r.run_id, "agent-a", now=3_000, ttl_ms=TTL)  # its own: kept
    assert again is not None and again.lease_expires_at == 3_000 + TTL
    assert loops.renew([r.run_id, "unknown"], "agent-a", now=4_000, ttl_ms=TTL) == [r.run_id]
    assert loops.renew([r.run_id], "agent-b", now=4_000, ttl_ms=TTL) == []
    # agent-a stops renewing: past expiry, agent-b takes the run over
    assert loops.acquire(r.run_id, "agent-b", now=4_000 + TTL - 1, ttl_ms=TTL) is None
    taken = loops.acquire(r.run_id, "agent-b", now=4_000 + TTL + 1, ttl_ms=TTL)
    assert taken is not None and taken.lease_holder == "agent-b"
    assert loops.renew([r.run_id], "agent-a", now=4_000 + TTL + 2, ttl_ms=TTL) == []
    loops.release(r.run_id, "agent-a")  # not its lease: nothing happens
    assert loops.get_run(r.run_id).lease_holder == "agent-b"
    loops.release(r.run_id, "agent-b")
    free = loops.get_run(r.run_id)
    assert free.lease_holder is None and free.lease_expires_at is None
    with pytest.raises(NotFoundError):
        loops.acquire("nope", "agent-a", now=1, ttl_ms=TTL)


def step(r: LoopRun, seq: int, name: str, event_id: str) -> LoopStep:
    return LoopStep(r.run_id, seq, name, "done", "agent-a", 1_100, 1_200, event_id, {"n": seq})


def test_a_step_is_stored_only_by_the_holder_at_the_step_it_started_from(
    stores: tuple[LoopStore, EventStore],
) -> None:
    loops, events = stores
    r = run()
    claim(loops, r)
    held = loops.acquire(r.run_id, "agent-a", now=1_000, ttl_ms=TTL)
    assert held is not None
    moved = dataclasses.replace(
        held, step="train", state={**held.state, "x": 1}, updated_at=1_200, steps_done=1
    )
    e1 = event(r.run_id, "loop.data")
    stored = loops.advance(
        moved,
        holder="agent-a",
        now=1_200,
        from_step="data",
        step=step(r, 1, "data", e1.event_id),
        event=e1,
    )
    assert stored.step == "train" and stored.state["x"] == 1 and stored.steps_done == 1
    assert stored.lease_holder == "agent-a"  # the lease is kept
    # the same step again (a repeat after a crash): the run is not at 'data' any more
    e2 = event(r.run_id, "loop.data")
    with pytest.raises(ConflictError, match="it is at step 'train', not 'data'"):
        loops.advance(
            moved,
            holder="agent-a",
            now=1_300,
            from_step="data",
            step=step(r, 2, "data", e2.event_id),
            event=e2,
        )
    # another holder, and the holder after its lease expired: refused, nothing written
    e3 = event(r.run_id, "loop.trained")
    trained = dataclasses.replace(stored, step="evaluate", steps_done=2)
    with pytest.raises(ConflictError, match="lease is held by 'agent-a'"):
        loops.advance(
            trained,
            holder="agent-b",
            now=1_300,
            from_step="train",
            step=step(r, 2, "train", e3.event_id),
            event=e3,
        )
    with pytest.raises(ConflictError, match="lease expired before the step was stored"):
        loops.advance(
            trained,
            holder="agent-a",
            now=1_000 + TTL + 1,
            from_step="train",
            step=step(r, 2, "train", e3.event_id),
            event=e3,
        )
    assert [s.step for s in loops.steps(r.run_id)] == ["data"]
    assert [e.kind for e in events.list_events(subject="loop:late")] == [
        "loop.triggered",
        "loop.data",
    ]
    # a move without a step (waiting for evidence) stores the state only
    waiting = dataclasses.replace(stored, next_at=9_999, state={"evidence": {"verdict": "wait"}})
    assert loops.advance(waiting, holder="agent-a", now=1_400, from_step="train").next_at == 9_999
    assert loops.steps(r.run_id)[0] == step(r, 1, "data", e1.event_id)
    with pytest.raises(NotFoundError):
        loops.steps("nope")


def test_two_threads_claim_one_trigger_and_lease_one_run_once(
    stores: tuple[LoopStore, EventStore],
) -> None:
    loops, _ = stores
    barrier = threading.Barrier(6)
    claimed: list[LoopRun | None] = []
    leased: list[str] = []
    key = "schedule:2026-01-05T03:00:00Z"

    def agent(i: int) -> None:
        barrier.wait()
        try:
            claimed.append(claim(loops, run(key, trigger="schedule")))
        except AlreadyExistsError:
            claimed.append(None)
        barrier.wait()
        only = loops.list_runs(policy="late")[0]
        if loops.acquire(only.run_id, f"agent-{i}", now=5_000, ttl_ms=TTL) is not None:
            leased.append(f"agent-{i}")

    threads = [threading.Thread(target=agent, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len([c for c in claimed if c is not None]) == 1
    assert len(loops.list_runs(policy="late")) == 1
    assert len(leased) == 1
    assert loops.list_runs()[0].lease_holder == leased[0]


def agent(holder: str = "agent@host", token: str = "a" * 32, **kw: object) -> LoopAgent:
    fields: dict[str, object] = {
        "holder": holder,
        "token": token,
        "host": "host",
        "pid": 123,
        "started_at": 1_000,
        "seen_at": 1_000,
        "expires_at": 1_000 + TTL,
        "policies": ("late",),
    }
    return LoopAgent(**(fields | kw))  # type: ignore[arg-type]


def test_an_agent_name_is_held_by_one_process(stores: tuple[LoopStore, EventStore]) -> None:
    loops, _ = stores
    first = agent()
    loops.put_agent(first)
    assert loops.get_agent("agent@host") == first
    assert loops.get_agent("other") is None
    with pytest.raises(ConflictError, match="'agent@host' is taken by another running agent"):
        loops.put_agent(agent(token="b" * 32))
    with pytest.raises(ConflictError, match="taken by another running agent"):
        loops.put_agent(agent(token="b" * 32), replaces="c" * 32)
    assert loops.heartbeat("agent@host", "a" * 32, now=2_000, expires_at=12_000)
    seen = loops.get_agent("agent@host")
    assert seen is not None and (seen.seen_at, seen.expires_at) == (2_000, 12_000)
    # a successor replaces the record it read; the old process's heartbeat then fails
    loops.put_agent(agent(token="b" * 32, pid=456), replaces="a" * 32)
    assert not loops.heartbeat("agent@host", "a" * 32, now=3_000, expires_at=13_000)
    loops.remove_agent("agent@host", "a" * 32)  # no longer its name: nothing happens
    kept = loops.get_agent("agent@host")
    assert kept is not None and kept.pid == 456
    loops.remove_agent("agent@host", "b" * 32)
    assert loops.get_agent("agent@host") is None


def test_a_policy_keeps_when_it_was_first_seen(stores: tuple[LoopStore, EventStore]) -> None:
    loops, _ = stores
    first = LoopPolicyRecord("late", "d" * 64, {"model": "late"}, 1_000, 1_000)
    assert loops.save_policy(first) == first
    changed = LoopPolicyRecord("late", "e" * 64, {"model": "late", "x": 1}, 5_000, 5_000)
    stored = loops.save_policy(changed)
    assert stored == dataclasses.replace(changed, first_seen_at=1_000)
    loops.save_policy(LoopPolicyRecord("a-policy", "f" * 64, {}, 7, 7))
    assert [p.name for p in loops.list_policies()] == ["a-policy", "late"]
