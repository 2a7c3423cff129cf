"""Tools to force a race between two registry calls, deterministically, on a real store.

A race needs the first call to stop at a chosen point while the second one runs. The point is
the registry's clock: a :class:`HookedClock` runs a hook in the first call's thread when that
call reads the time. The hook starts the second call and waits, against a deadline, until the
second call has either finished or reached a write transaction it cannot enter yet because
the first call holds the write lock (:class:`WriteTransactions` follows every write
transaction of the store's engine). No sleep decides anything.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from loopml.registry import ModelRegistry
from loopml.store.sql.engine import WRITE_OPTION, StoreEngine

#: How long a forced race may take before the test fails (it takes milliseconds).
DEADLINE_S = 60.0


class WriteTransactions:
    """Which threads are starting, or inside, a write transaction of a store's engine.

    A thread is ``starting`` from the moment it calls :meth:`StoreEngine.write` (before it
    asks for a connection or the write lock) and ``open`` once its write transaction has
    begun (on SQLite, once ``BEGIN IMMEDIATE`` holds the database's write lock); both end at
    commit or rollback.
    """

    def __init__(self, db: StoreEngine) -> None:
        self.db = db
        self.changed = threading.Condition()
        self.starting: set[int] = set()
        self.open: set[int] = set()
        write = db.write

        def starting_write(work: Callable[[sa.Connection], Any]) -> Any:
            with self.changed:
                self.starting.add(threading.get_ident())
                self.changed.notify_all()
            return write(work)

        db.write = starting_write  # type: ignore[method-assign]
        event.listen(db.engine, "begin", self._begin)
        event.listen(db.engine, "commit", self._end)
        event.listen(db.engine, "rollback", self._end)

    def close(self) -> None:
        """Stop following the engine."""
        del self.db.write  # the class's method again
        event.remove(self.db.engine, "begin", self._begin)
        event.remove(self.db.engine, "commit", self._end)
        event.remove(self.db.engine, "rollback", self._end)

    def _begin(self, conn: sa.Connection) -> None:
        if conn.get_execution_options().get(WRITE_OPTION, False):
            with self.changed:
                self.open.add(threading.get_ident())
                self.changed.notify_all()

    def _end(self, conn: sa.Connection) -> None:
        if conn.get_execution_options().get(WRITE_OPTION, False):
            with self.changed:
                ident = threading.get_ident()
                self.starting.discard(ident)
                self.open.discard(ident)
                self.changed.notify_all()

    def notify(self) -> None:
        """Wake the waiters (a thread finished)."""
        with self.changed:
            self.changed.notify_all()


@dataclass
class Outcome:
    """What one call returned or raised."""

    value: Any = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def ok(self) -> bool:
        return self.done.is_set() and self.error is None


class HookedClock:
    """A registry clock (ms, one more on every call) that runs a hook in a chosen thread the
    first time that thread reads it; the hook runs after the time is taken."""

    def __init__(self, start: int = 1_700_000_000_000) -> None:
        self._ticks = itertools.count(start)
        self._lock = threading.Lock()
        self._hooks: dict[int, Callable[[], None]] = {}

    def hook(self, ident: int, action: Callable[[], None]) -> None:
        self._hooks[ident] = action

    def __call__(self) -> int:
        with self._lock:
            now = next(self._ticks)
            action = self._hooks.pop(threading.get_ident(), None)
        if action is not None:
            action()
        return now


def _until_a_session_waits_for_a_lock(db: StoreEngine, done: threading.Event) -> None:
    """Poll PostgreSQL (against the deadline) until a session of the database waits for a
    lock, i.e. the second call sits behind the first one's lock (or it finished after all)."""
    deadline = time.monotonic() + DEADLINE_S
    with db.engine.connect() as conn:
        while not done.is_set():
            waiting = conn.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"
            ).scalar()
            conn.rollback()
            if waiting:
                return
            assert time.monotonic() < deadline, "the second call never waited for the lock"
            done.wait(0.005)  # poll interval; the loop ends on the condition, not the time


def run_interleaved(
    registry: ModelRegistry,
    clock: HookedClock,
    first: Callable[[], Any],
    second: Callable[[], Any],
) -> tuple[Outcome, Outcome]:
    """Run ``first``; when it reads the clock, run ``second`` until it finishes or waits for
    the write lock ``first`` holds, then let ``first`` go on. Returns both outcomes.

    On a store that checks before it locks, ``second`` runs entirely inside ``first``'s window;
    on one that decides under the lock, ``second`` waits for ``first`` to commit.
    """
    writes = WriteTransactions(registry.store._db)  # type: ignore[attr-defined]
    outcomes = (Outcome(), Outcome())

    def call(function: Callable[[], Any], outcome: Outcome) -> None:
        try:
            outcome.value = function()
        except BaseException as exc:
            outcome.error = exc
        finally:
            outcome.done.set()
            writes.notify()

    second_thread = threading.Thread(target=call, args=(second, outcomes[1]), daemon=True)

    def window() -> None:
        me = threading.get_ident()
        second_thread.start()
        assert second_thread.ident is not None
        other = second_thread.ident

        def settled() -> bool:
            if outcomes[1].done.is_set():
                return True
            # Inside a write transaction, ``first`` holds the lock: ``second`` only needs to
            # start its own write transaction, which cannot take the lock before we commit.
            return me in writes.open and other in writes.starting

        with writes.changed:
            assert writes.changed.wait_for(settled, timeout=DEADLINE_S), (
                "the second call neither finished nor reached its write transaction"
            )
        if not outcomes[1].done.is_set() and writes.db.dialect == "postgresql":
            _until_a_session_waits_for_a_lock(writes.db, outcomes[1].done)

    def first_call() -> None:
        clock.hook(threading.get_ident(), window)
        call(first, outcomes[0])

    first_thread = threading.Thread(target=first_call, daemon=True)
    try:
        first_thread.start()
        first_thread.join(timeout=DEADLINE_S)
        assert second_thread.ident is not None, "the first call never read the clock"
        second_thread.join(timeout=DEADLINE_S)
        assert all(o.done.is_set() for o in outcomes), "a call did not finish in time"
    finally:
        writes.close()
    return outcomes
