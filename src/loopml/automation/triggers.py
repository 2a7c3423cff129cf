"""Triggers: what happened that starts a loop run, and the claim that makes it happen once.

:func:`occurrences` lists what a policy's triggers saw from the time the policy was first run
until now, each with the key that makes it unique:

- a schedule: its latest cron instant (UTC) at or before now (``schedule:2026-01-05T03:00Z``);
  instants missed while no agent ran are not made up, only the latest one counts;
- a dataset: each version registered since (``dataset:flights@4``);
- an alert: each ``monitor.alert`` event on ``model:<model>`` since, of the rule named
  (``alert:<event id>``).

:func:`claim` stores one as a loop run, in one transaction under the policy's lock: a key
already claimed is skipped (by this agent or any other), and while a run of the policy is
still open a new occurrence is stored as ``skipped`` with the reason, so the deployment is
never released to by two runs at once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from loopml.automation.loop_events import loop_event
from loopml.core.entities import LoopRun
from loopml.core.entities.automation import TriggerKind
from loopml.core.ids import new_event_id

if TYPE_CHECKING:
    from loopml.automation.policy import LoopPolicy, Trigger
    from loopml.store.backend import Backend
    from loopml.store.protocols import LoopClaim

#: The kind of the events that alert triggers follow.
ALERT_EVENT = "monitor.alert"
#: The first step of a loop run.
FIRST_STEP = "data"


@dataclass(frozen=True)
class Occurrence:
    """One thing a trigger saw.

    Attributes:
        kind: ``schedule``, ``dataset``, ``alert`` (or ``manual``).
        key: What makes it unique within the policy.
        at: When it happened (ms since the epoch).
        reason: What happened, in words.
        data: Its evidence (the alert, the dataset version, the instant), JSON-ready.
        links: The objects it names, by role.
    """

    kind: TriggerKind
    key: str
    at: int
    reason: str
    data: dict[str, Any] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)


def iso(ms: int) -> str:
    """A time in ms as ISO 8601 UTC, to the second (``2026-01-05T03:00:00Z``)."""
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def occurrences(policy: LoopPolicy, backend: Backend, *, since: int, now: int) -> list[Occurrence]:
    """What ``policy``'s triggers saw from ``since`` to ``now`` (ms), oldest first."""
    found: list[Occurrence] = []
    for trigger in policy.triggers:
        if trigger.kind == "schedule":
            found.extend(_schedule(trigger, since, now))
        elif trigger.kind == "dataset":
            found.extend(_dataset(trigger, backend, since))
        else:
            found.extend(_alerts(trigger, policy, backend, since, now))
    return sorted(found, key=lambda o: (o.at, o.key))


def _schedule(trigger: Trigger, since: int, now: int) -> list[Occurrence]:
    from cronsim import CronSim

    assert trigger.schedule is not None
    # CronSim in reverse yields instants strictly before its start: start just past now.
    start = dt.datetime.fromtimestamp(now / 1000 + 1, dt.UTC).replace(microsecond=0)
    latest = next(CronSim(trigger.schedule, start, reverse=True))
    at = int(latest.timestamp() * 1000)
    if at < since or at > now:
        return []
    instant = iso(at)
    return [
        Occurrence(
            "schedule",
            f"schedule:{instant}",
            at,
            f"schedule {trigger.schedule!r}: the instant {instant}",
            {"schedule": trigger.schedule, "instant": instant},
        )
    ]


def _dataset(trigger: Trigger, backend: Backend, since: int) -> list[Occurrence]:
    from loopml.core.errors import NotFoundError

    assert trigger.dataset is not None
    try:
        versions = backend.datasets.list_versions(trigger.dataset)
    except NotFoundError:
        return []
    return [
        Occurrence(
            "dataset",
            f"dataset:{v.ref}",
            v.created_at,
            f"new dataset version {v.ref} ({v.rows:,} rows, by {v.created_by})",
            {"dataset": v.ref, "rows": v.rows, "content_hash": v.content_hash},
            {"dataset": v.ref},
        )
        for v in versions
        if v.created_at >= since
    ]


def _alerts(
    trigger: Trigger, policy: LoopPolicy, backend: Backend, since: int, now: int
) -> list[Occurrence]:
    events = backend.events.list_events(
        subject=f"model:{policy.model}", kind=ALERT_EVENT, since=since, until=now
    )
    return [
        Occurrence(
            "alert",
            f"alert:{e.event_id}",
            e.at,
            f"alert {e.data.get('rule')!r} ({e.data.get('severity', 'warning')}) on "
            f"{e.subject}: {e.reason}",
            {"alert": e.to_dict()},
            {"alert": e.event_id},
        )
        for e in events
        if trigger.rule is None or e.data.get("rule") == trigger.rule
    ]


def claim(
    backend: Backend, policy: LoopPolicy, occurrence: Occurrence, *, now: int
) -> LoopRun | None:
    """Store ``occurrence`` as a loop run of ``policy`` unless its key is claimed already;
    return the run stored (``skipped`` when another run of the policy is open), or None."""
    run = LoopRun(
        run_id=new_event_id(),
        policy=policy.name,
        trigger_key=occurrence.key,
        trigger=occurrence.kind,
        status="running",
        step=FIRST_STEP,
        state={},
        trigger_data=occurrence.data,
        created_at=now,
        updated_at=now,
        next_at=now,
    )

    def work(c: LoopClaim) -> LoopRun | None:
        if c.find(occurrence.key) is not None:
            return None
        running = c.open_runs()
        if running:
            first = running[0]
            stored = replace(run, status="skipped", step="done")
            reason = (
                f"{occurrence.reason}; skipped: loop run {first.run_id[:12]} of this policy is "
                f"still open (step {first.step}, {first.status})"
            )
            kind = "loop.skipped"
        else:
            stored, reason, kind = run, occurrence.reason, "loop.triggered"
        links = {**occurrence.links, "open_run": running[0].run_id if running else ""}
        data = {"trigger": occurrence.kind, "key": occurrence.key, **occurrence.data}
        c.insert(
            stored, loop_event(stored, kind, seq=0, reason=reason, at=now, data=data, links=links)
        )
        return stored

    return backend.loops.claim(policy.name, work)
