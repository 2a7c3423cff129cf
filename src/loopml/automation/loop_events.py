"""The ``loop.*`` events: every decision of a loop run, with its reason and evidence.

Their subject is ``loop:<policy>`` (``loopml events list --subject loop:late-flights``, told as
a timeline by ``loopml loop history``), their actor ``automation:<policy>``, and their links
name the loop run, the model versions, the deployment and what triggered the run. An event's
id is derived from the run, the step's number and the kind, so the same decision can never be
stored twice, whichever agent writes it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from loopml.core.entities import Event, LoopRun

#: Every kind, in the order a run meets them.
KINDS = (
    "loop.triggered",
    "loop.skipped",
    "loop.data_ready",
    "loop.trained",
    "loop.gate_passed",
    "loop.gate_failed",
    "loop.released",
    "loop.evidence",
    "loop.approved",
    "loop.approval_refused",
    "loop.promoted",
    "loop.rolled_back",
    "loop.failed",
)


def event_id(run_id: str, seq: int, kind: str) -> str:
    """The id of the event of step ``seq`` (0: the trigger) of a run: 32 hex digits."""
    text = f"{run_id}:{seq}:{kind}".encode()
    return hashlib.blake2b(text, digest_size=16).hexdigest()


def loop_event(
    run: LoopRun,
    kind: str,
    *,
    seq: int,
    reason: str,
    at: int,
    data: Mapping[str, Any] | None = None,
    links: Mapping[str, str] | None = None,
) -> Event:
    """The event of one decision of ``run`` (its links name the run and what it acted on)."""
    linked = {"run": run.run_id, **{k: v for k, v in (links or {}).items() if v}}
    for key in ("challenger", "champion"):
        ref = run.state.get(key)
        if isinstance(ref, str):
            linked.setdefault(key, ref)
    return Event(
        event_id=event_id(run.run_id, seq, kind),
        kind=kind,
        subject=f"loop:{run.policy}",
        actor=f"automation:{run.policy}",
        at=at,
        reason=reason,
        links=linked,
        data=dict(data or {}),
    )
