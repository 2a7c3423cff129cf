"""Automation entities: the durable state of the closed loop's agent.

A :class:`LoopRun` is one occurrence of a policy's trigger (a scheduled instant, a new dataset
version, a monitoring alert), claimed exactly once by its ``trigger_key``, and walked through
the policy's steps (data, train, evaluate, release, observe, approval, promote or rollback) by
the agent that holds its lease. Each finished step is a :class:`LoopStep`, stored in the same
transaction as the run's move to the next step and the step's ``loop.*`` event. A
:class:`LoopAgent` is a running agent process, so that a second one started under the same
name is refused. A :class:`LoopPolicyRecord` remembers when a policy was first run, which is
where its triggers start looking.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from loopml.core.jsonable import Jsonable

#: Where a loop run is. ``running``: a step is due (or waits for live evidence until
#: ``next_at``); ``awaiting_approval``: a person must approve the challenger; the rest end it.
LoopStatus = Literal[
    "running",
    "awaiting_approval",
    "promoted",
    "rolled_back",
    "rejected",
    "failed",
    "skipped",
]
#: The statuses of a run that is not over.
OPEN_STATUSES: tuple[str, ...] = ("running", "awaiting_approval")
#: The statuses that end a run.
END_STATUSES: tuple[str, ...] = ("promoted", "rolled_back", "rejected", "failed", "skipped")
#: The kinds of trigger.
TriggerKind = Literal["schedule", "dataset", "alert", "manual"]


@dataclass(frozen=True)
class LoopRun(Jsonable):
    """One trigger occurrence of a policy and how far the loop got with it.

    Attributes:
        run_id: 32 hex digits.
        policy: The policy's name.
        trigger_key: What makes the occurrence unique within the policy
            (``schedule:2026-01-05T03:00:00Z``, ``dataset:flights@4``, ``alert:<event id>``):
            a second claim of the same key is refused, so no trigger is acted on twice.
        trigger: ``schedule``, ``dataset``, ``alert`` or ``manual``.
        status: See :data:`LoopStatus`.
        step: The next step to run (``done`` once the run has ended).
        state: What the steps produced so far (data ref, challenger, evaluation, deployment
            versions, the latest live evidence), JSON-ready.
        trigger_data: The trigger's evidence (the alert event, the dataset version, the
            scheduled instant).
        created_at: When it was claimed (ms since the epoch).
        updated_at: When it last changed.
        next_at: Not before this time is the step run again (ms; waiting for evidence).
        lease_holder: The agent advancing it now, or None.
        lease_expires_at: When that lease ends unless renewed (ms).
        steps_done: How many steps are stored.
    """

    run_id: str
    policy: str
    trigger_key: str
    trigger: TriggerKind
    status: LoopStatus
    step: str
    state: Mapping[str, Any] = field(default_factory=dict)
    trigger_data: Mapping[str, Any] = field(default_factory=dict)
    created_at: int = 0
    updated_at: int = 0
    next_at: int = 0
    lease_holder: str | None = None
    lease_expires_at: int | None = None
    steps_done: int = 0

    @property
    def is_open(self) -> bool:
        """Whether the run has not ended."""
        return self.status in OPEN_STATUSES


@dataclass(frozen=True)
class LoopStep(Jsonable):
    """One finished step of a loop run, stored before the next one starts.

    Attributes:
        run_id: The loop run.
        seq: 1, 2, ... in the order the steps finished.
        step: ``data``, ``train``, ``evaluate``, ``release``, ``observe``, ``approval``,
            ``promote`` or ``rollback``.
        outcome: ``done`` (the run goes on), or how it ended the run (``rejected``,
            ``failed``, ``promoted``, ``rolled_back``).
        holder: The agent that ran it.
        started_at: When the agent began it (ms since the epoch).
        ended_at: When it was stored.
        event_id: The ``loop.*`` event that tells it.
        detail: What it produced (refs, ids, evidence), JSON-ready.
    """

    run_id: str
    seq: int
    step: str
    outcome: str
    holder: str
    started_at: int
    ended_at: int
    event_id: str
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LoopAgent(Jsonable):
    """A running agent, by its name.

    Attributes:
        holder: The agent's name (what its leases say).
        token: A random id of the process that registered it (a process that lost its name
            to another stops renewing).
        host: The machine it runs on.
        pid: Its process id there.
        started_at: When it registered (ms since the epoch).
        seen_at: Its last heartbeat.
        expires_at: Past this, without a heartbeat, it counts as gone.
        policies: The policies it runs.
    """

    holder: str
    token: str
    host: str
    pid: int
    started_at: int
    seen_at: int
    expires_at: int
    policies: tuple[str, ...] = ()


@dataclass(frozen=True)
class LoopPolicyRecord(Jsonable):
    """A policy as an agent last loaded it.

    Attributes:
        name: The policy's name.
        digest: SHA-256 of its normalized content.
        spec: The normalized policy, JSON-ready.
        first_seen_at: When an agent first ran it (ms): its triggers count what happens
            from then on (a dataset version, an alert), never what happened before.
        updated_at: When an agent last loaded it.
    """

    name: str
    digest: str
    spec: Mapping[str, Any]
    first_seen_at: int
    updated_at: int
