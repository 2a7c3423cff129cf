""":class:`SqlLoopStore`: the :class:`~loopml.store.protocols.LoopStore` on SQLite and
PostgreSQL (SQLAlchemy Core).

Exactly once and one at a time come from single statements, not from the caller's care:

- a claim inserts the run under the unique ``(policy, trigger_key)`` constraint, inside a
  write transaction that holds the policy's lock (:meth:`StoreEngine.lock`), so two agents
  claiming one trigger store one run, and the policy's open runs read there stay true;
- a lease is taken by one ``UPDATE ... WHERE`` the lease is free, expired or the taker's own:
  of two agents racing for a run, the database lets one update match;
- a step is stored by one ``UPDATE ... WHERE`` the writer still holds an unexpired lease and
  the run is still at the step it started from, in the transaction that inserts the step and
  its event: a step whose agent lost the lease meanwhile is never stored.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TypeVar

import orjson
import sqlalchemy as sa

from loopml.core.entities import Event, LoopAgent, LoopPolicyRecord, LoopRun, LoopStep
from loopml.core.entities.automation import OPEN_STATUSES
from loopml.core.errors import AlreadyExistsError, ConflictError, LoopmlError, NotFoundError
from loopml.store.protocols import LoopClaim
from loopml.store.sql.engine import StoreEngine
from loopml.store.sql.event_store import insert_event
from loopml.store.sql.loop_rows import (
    RUN_COLUMNS,
    agent_from_row,
    agent_row,
    insert_step,
    policy_from_row,
    run_from_row,
    run_row,
    to_json,
)
from loopml.store.sql.tables import loop_agents, loop_policies, loop_runs, loop_steps

T = TypeVar("T")

_lr, _ls, _la, _lp = loop_runs.c, loop_steps.c, loop_agents.c, loop_policies.c


def _missing_run(run_id: str) -> NotFoundError:
    return NotFoundError(f"No loop run {run_id!r}. See `loopml loop list`.")


class SqlLoopStore:
    """Loop runs, their leases and steps, agents and policies in a SQL database (the engine
    shared with the other stores).

    Args:
        db: The open engine, from :func:`~loopml.store.sql.migrate.open_store_engine`.
    """

    def __init__(self, db: StoreEngine) -> None:
        self._db = db

    def __repr__(self) -> str:
        return f"SqlLoopStore({self._db.location!r})"

    # -- runs ------------------------------------------------------------------------------

    def claim(self, policy: str, work: Callable[[LoopClaim], T]) -> T:
        """Run ``work`` in one write transaction holding the policy's lock; see
        :meth:`~loopml.store.protocols.LoopStore.claim`."""

        def run(conn: sa.Connection) -> T:
            self._db.lock(conn, "loop", policy)
            return work(_SqlLoopClaim(self._db, conn, policy))

        try:
            return self._db.write(run)
        except sa.exc.IntegrityError:  # a writer without the lock inserted the key first
            raise AlreadyExistsError(
                f"A trigger of policy {policy!r} was claimed by another agent at the same "
                "time; it is that agent's to run."
            ) from None

    def get_run(self, run_id: str) -> LoopRun:
        """Return one loop run. Raises NotFoundError."""
        with self._db.read() as conn:
            row = conn.execute(sa.select(*RUN_COLUMNS).where(_lr.run_id == run_id)).first()
        if row is None:
            raise _missing_run(run_id)
        return run_from_row(row)

    def list_runs(
        self,
        *,
        policy: str | None = None,
        statuses: Collection[str] | None = None,
        due_by: int | None = None,
        limit: int | None = None,
    ) -> list[LoopRun]:
        """Return the runs matching every given filter, newest first."""
        statement = sa.select(*RUN_COLUMNS)
        if policy is not None:
            statement = statement.where(_lr.policy == policy)
        if statuses is not None:
            statement = statement.where(_lr.status.in_(list(statuses)))
        if due_by is not None:
            statement = statement.where(_lr.next_at <= due_by)
        statement = statement.order_by(_lr.created_at.desc(), _lr.run_id.desc())
        if limit is not None:
            statement = statement.limit(limit)
        with self._db.read() as conn:
            return [run_from_row(row) for row in conn.execute(statement)]

    def run_ids_with_prefix(self, prefix: str, *, limit: int) -> list[str]:
        """Return up to ``limit`` run ids starting with ``prefix``."""
        statement = (
            sa.select(_lr.run_id)
            .where(_lr.run_id >= prefix, _lr.run_id < prefix + "g")  # hex: 'g' sorts after f
            .order_by(_lr.run_id)
            .limit(limit)
        )
        with self._db.read() as conn:
            return [str(r[0]) for r in conn.execute(statement)]

    def steps(self, run_id: str) -> list[LoopStep]:
        """Return a run's finished steps in order. Raises NotFoundError."""
        with self._db.read() as conn:
            if conn.execute(sa.select(_lr.run_id).where(_lr.run_id == run_id)).first() is None:
                raise _missing_run(run_id)
            rows = conn.execute(
                sa.select(
                    _ls.run_id,
                    _ls.seq,
                    _ls.step,
                    _ls.outcome,
                    _ls.holder,
                    _ls.started_at,
                    _ls.ended_at,
                    _ls.event_id,
                    _ls.detail_json,
                )
                .where(_ls.run_id == run_id)
                .order_by(_ls.seq)
            ).all()
        return [
            LoopStep(
                run_id=str(r[0]),
                seq=int(r[1]),
                step=str(r[2]),
                outcome=str(r[3]),
                holder=str(r[4]),
                started_at=int(r[5]),
                ended_at=int(r[6]),
                event_id=str(r[7]),
                detail=orjson.loads(r[8]),
            )
            for r in rows
        ]

    # -- leases ----------------------------------------------------------------------------

    def acquire(self, run_id: str, holder: str, *, now: int, ttl_ms: int) -> LoopRun | None:
        """Take or keep the run's lease for ``holder``; None when another holder's runs."""
        free = sa.or_(
            _lr.lease_holder.is_(None), _lr.lease_holder == holder, _lr.lease_expires_at < now
        )

        def work(conn: sa.Connection) -> int:
            result = conn.execute(
                loop_runs.update()
                .where(_lr.run_id == run_id, free)
                .values(lease_holder=holder, lease_expires_at=now + ttl_ms)
            )
            return int(result.rowcount)

        taken = self._db.write(work)
        run = self.get_run(run_id)
        return run if taken else None

    def renew(self, run_ids: Collection[str], holder: str, *, now: int, ttl_ms: int) -> list[str]:
        """Extend ``holder``'s unexpired leases of these runs; return the ids renewed."""
        ids = sorted(set(run_ids))
        if not ids:
            return []

        def work(conn: sa.Connection) -> list[str]:
            mine = sa.and_(
                _lr.run_id.in_(ids), _lr.lease_holder == holder, _lr.lease_expires_at >= now
            )
            held = [str(r[0]) for r in conn.execute(sa.select(_lr.run_id).where(mine))]
            if held:
                conn.execute(
                    loop_runs.update()
                    .where(_lr.run_id.in_(held), _lr.lease_holder == holder)
                    .values(lease_expires_at=now + ttl_ms)
                )
            return held

        return self._db.write(work)

    def release(self, run_id: str, holder: str) -> None:
        """Give up ``holder``'s lease of the run."""
        self._db.write(
            lambda conn: conn.execute(
                loop_runs.update()
                .where(_lr.run_id == run_id, _lr.lease_holder == holder)
                .values(lease_holder=None, lease_expires_at=None)
            )
        )

    def advance(
        self,
        run: LoopRun,
        *,
        holder: str,
        now: int,
        from_step: str,
        step: LoopStep | None = None,
        event: Event | None = None,
    ) -> LoopRun:
        """Store the run's move (with its step and event) if ``holder`` still holds it at
        ``from_step``. Raises ConflictError otherwise (nothing is written)."""
        values = {
            "status": run.status,
            "step": run.step,
            "state_json": to_json(dict(run.state)),
            "next_at": run.next_at,
            "updated_at": run.updated_at,
            "steps_done": run.steps_done,
        }

        def work(conn: sa.Connection) -> None:
            result = conn.execute(
                loop_runs.update()
                .where(
                    _lr.run_id == run.run_id,
                    _lr.lease_holder == holder,
                    _lr.lease_expires_at >= now,
                    _lr.step == from_step,
                )
                .values(**values)
            )
            if result.rowcount != 1:
                raise self._lost(conn, run.run_id, holder, from_step, now)
            if event is not None:
                insert_event(self._db, conn, event)
            if step is not None:
                insert_step(conn, step)

        try:
            self._db.write(work)
        except sa.exc.IntegrityError:  # the step's number was stored by another writer
            raise ConflictError(
                f"Loop run {run.run_id}: step {from_step!r} was stored by another agent at the "
                f"same time; {holder!r} leaves the run to it."
            ) from None
        return self.get_run(run.run_id)

    @staticmethod
    def _lost(
        conn: sa.Connection, run_id: str, holder: str, from_step: str, now: int
    ) -> LoopmlError:
        row = conn.execute(
            sa.select(_lr.lease_holder, _lr.lease_expires_at, _lr.step).where(_lr.run_id == run_id)
        ).first()
        if row is None:
            return _missing_run(run_id)
        lease, expires, step = row
        if lease != holder or expires is None or expires < now:
            why = f"its lease is {'held by ' + repr(lease) if lease else 'free'}"
            if lease == holder:
                why = "its lease expired before the step was stored"
        else:
            why = f"it is at step {step!r}, not {from_step!r}"
        return ConflictError(
            f"Loop run {run_id}: {holder!r} cannot store step {from_step!r}: {why}. The run "
            "goes on with the agent that holds it; nothing of this step was stored."
        )

    # -- agents ----------------------------------------------------------------------------

    def put_agent(self, agent: LoopAgent, *, replaces: str | None = None) -> None:
        """Insert the agent when its name is free, or replace the record of token
        ``replaces``. Raises ConflictError when the name is another record's."""

        def work(conn: sa.Connection) -> None:
            row = conn.execute(sa.select(_la.token).where(_la.holder == agent.holder)).first()
            if row is None:
                conn.execute(loop_agents.insert(), agent_row(agent))
                return
            if replaces is None or row[0] != replaces:
                raise ConflictError(
                    f"The agent name {agent.holder!r} is taken by another running agent; "
                    "stop it or give this one another name (--name)."
                )
            conn.execute(
                loop_agents.update()
                .where(_la.holder == agent.holder, _la.token == replaces)
                .values(**agent_row(agent))
            )

        try:
            self._db.write(work)
        except sa.exc.IntegrityError:
            raise ConflictError(
                f"The agent name {agent.holder!r} was taken by another agent starting at the "
                "same time; stop it or give this one another name (--name)."
            ) from None

    def get_agent(self, holder: str) -> LoopAgent | None:
        """Return the agent registered under a name, or None."""
        with self._db.read() as conn:
            row = conn.execute(
                sa.select(
                    _la.holder,
                    _la.token,
                    _la.host,
                    _la.pid,
                    _la.started_at,
                    _la.seen_at,
                    _la.expires_at,
                    _la.policies_json,
                ).where(_la.holder == holder)
            ).first()
        return None if row is None else agent_from_row(row)

    def heartbeat(self, holder: str, token: str, *, now: int, expires_at: int) -> bool:
        """Record that the agent is alive; False when the name is no longer its own."""

        def work(conn: sa.Connection) -> bool:
            result = conn.execute(
                loop_agents.update()
                .where(_la.holder == holder, _la.token == token)
                .values(seen_at=now, expires_at=expires_at)
            )
            return bool(result.rowcount)

        return self._db.write(work)

    def remove_agent(self, holder: str, token: str) -> None:
        """Unregister the agent (no-op when the name is no longer its own)."""
        self._db.write(
            lambda conn: conn.execute(
                loop_agents.delete().where(_la.holder == holder, _la.token == token)
            )
        )

    # -- policies --------------------------------------------------------------------------

    def save_policy(self, record: LoopPolicyRecord) -> LoopPolicyRecord:
        """Store a policy as loaded, keeping the first ``first_seen_at`` of a known one."""
        columns = (_lp.name, _lp.digest, _lp.spec_json, _lp.first_seen_at, _lp.updated_at)

        def work(conn: sa.Connection) -> LoopPolicyRecord:
            self._db.lock(conn, "loop_policy", record.name)
            found = conn.execute(sa.select(_lp.first_seen_at).where(_lp.name == record.name))
            first = found.first()
            values = {
                "digest": record.digest,
                "spec_json": to_json(dict(record.spec)),
                "updated_at": record.updated_at,
            }
            if first is None:
                conn.execute(
                    loop_policies.insert(),
                    {"name": record.name, "first_seen_at": record.first_seen_at, **values},
                )
            else:
                conn.execute(loop_policies.update().where(_lp.name == record.name).values(values))
            row = conn.execute(sa.select(*columns).where(_lp.name == record.name)).one()
            return policy_from_row(row)

        return self._db.write(work)

    def list_policies(self) -> list[LoopPolicyRecord]:
        """Return every policy an agent has run, by name."""
        columns = (_lp.name, _lp.digest, _lp.spec_json, _lp.first_seen_at, _lp.updated_at)
        with self._db.read() as conn:
            rows = conn.execute(sa.select(*columns).order_by(_lp.name)).all()
        return [policy_from_row(row) for row in rows]


class _SqlLoopClaim:
    """:class:`~loopml.store.protocols.LoopClaim` on one connection, inside the write
    transaction of :meth:`SqlLoopStore.claim` (which holds the policy's lock)."""

    def __init__(self, db: StoreEngine, conn: sa.Connection, policy: str) -> None:
        self._db = db
        self._conn = conn
        self._policy = policy

    @property
    def policy(self) -> str:
        """The policy."""
        return self._policy

    def find(self, trigger_key: str) -> LoopRun | None:
        """Return the policy's run of this trigger key, or None."""
        row = self._conn.execute(
            sa.select(*RUN_COLUMNS).where(
                _lr.policy == self._policy, _lr.trigger_key == trigger_key
            )
        ).first()
        return None if row is None else run_from_row(row)

    def open_runs(self) -> list[LoopRun]:
        """Return the policy's runs that have not ended, oldest first."""
        rows = self._conn.execute(
            sa.select(*RUN_COLUMNS)
            .where(_lr.policy == self._policy, _lr.status.in_(OPEN_STATUSES))
            .order_by(_lr.created_at, _lr.run_id)
        )
        return [run_from_row(row) for row in rows]

    def insert(self, run: LoopRun, event: Event) -> None:
        """Store a new run with its event. Raises AlreadyExistsError for a claimed key."""
        if run.policy != self._policy:
            raise ConflictError(
                f"A claim of policy {self._policy!r} cannot store a run of {run.policy!r}; "
                "claim each policy's triggers on their own."
            )
        taken = self.find(run.trigger_key)
        if taken is not None:
            raise AlreadyExistsError(
                f"Trigger {run.trigger_key!r} of policy {run.policy!r} is claimed already "
                f"(loop run {taken.run_id})."
            )
        insert_event(self._db, self._conn, event)
        self._conn.execute(loop_runs.insert(), run_row(run))
