"""Rows of the agent's tables (``loop_runs``, ``loop_steps``, ``loop_agents``,
``loop_policies``) to entities and back, for :mod:`loopml.store.sql.loop_store`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa

from loopml.core.entities import LoopAgent, LoopPolicyRecord, LoopRun, LoopStep
from loopml.store.sql.tables import loop_runs, loop_steps

_lr = loop_runs.c

RUN_COLUMNS = (
    _lr.run_id,
    _lr.policy,
    _lr.trigger_key,
    _lr.trigger,
    _lr.status,
    _lr.step,
    _lr.state_json,
    _lr.trigger_json,
    _lr.created_at,
    _lr.updated_at,
    _lr.next_at,
    _lr.lease_holder,
    _lr.lease_expires_at,
    _lr.steps_done,
)


def to_json(value: Any) -> str:
    return orjson.dumps(value).decode()


def run_from_row(row: Sequence[Any]) -> LoopRun:
    (run_id, policy, key, trigger, status, step, state, trigger_json, created, updated) = row[:10]
    next_at, holder, expires, steps_done = row[10:]
    return LoopRun(
        run_id=str(run_id),
        policy=str(policy),
        trigger_key=str(key),
        trigger=trigger,
        status=status,
        step=str(step),
        state=orjson.loads(state),
        trigger_data=orjson.loads(trigger_json),
        created_at=int(created),
        updated_at=int(updated),
        next_at=int(next_at),
        lease_holder=None if holder is None else str(holder),
        lease_expires_at=None if expires is None else int(expires),
        steps_done=int(steps_done),
    )


def run_row(run: LoopRun) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "policy": run.policy,
        "trigger_key": run.trigger_key,
        "trigger": run.trigger,
        "status": run.status,
        "step": run.step,
        "state_json": to_json(dict(run.state)),
        "trigger_json": to_json(dict(run.trigger_data)),
        "created_at": run.created_at,
        "updated_at": run.updated_at,
        "next_at": run.next_at,
        "lease_holder": run.lease_holder,
        "lease_expires_at": run.lease_expires_at,
        "steps_done": run.steps_done,
    }


def agent_from_row(row: Sequence[Any]) -> LoopAgent:
    holder, token, host, pid, started, seen, expires, policies = row
    return LoopAgent(
        holder=str(holder),
        token=str(token),
        host=str(host),
        pid=int(pid),
        started_at=int(started),
        seen_at=int(seen),
        expires_at=int(expires),
        policies=tuple(orjson.loads(policies)),
    )


def agent_row(agent: LoopAgent) -> dict[str, Any]:
    return {
        "holder": agent.holder,
        "token": agent.token,
        "host": agent.host,
        "pid": agent.pid,
        "started_at": agent.started_at,
        "seen_at": agent.seen_at,
        "expires_at": agent.expires_at,
        "policies_json": to_json(list(agent.policies)),
    }


def policy_from_row(row: Sequence[Any]) -> LoopPolicyRecord:
    name, digest, spec, first_seen, updated = row
    return LoopPolicyRecord(
        name=str(name),
        digest=str(digest),
        spec=orjson.loads(spec),
        first_seen_at=int(first_seen),
        updated_at=int(updated),
    )


def insert_step(conn: sa.Connection, step: LoopStep) -> None:
    conn.execute(
        loop_steps.insert(),
        {
            "run_id": step.run_id,
            "seq": step.seq,
            "step": step.step,
            "outcome": step.outcome,
            "holder": step.holder,
            "started_at": step.started_at,
            "ended_at": step.ended_at,
            "event_id": step.event_id,
            "detail_json": to_json(dict(step.detail)),
        },
    )
