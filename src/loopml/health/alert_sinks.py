"""Firing alert rules (:mod:`loopml.health.alerts`) on a monitor run: cooldown through the
stored ``monitor.alert`` events, then delivery to the event log, stdout and webhooks.

Delivery never raises into the monitor run: a webhook is retried with exponential backoff
(on a connection error, a timeout, a 429 or a 5xx) and a final failure is recorded as a
``monitor.alert_failed`` event and in the alert's ``deliveries``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import httpx

from loopml.core.entities import Alert, Event, MonitorWindow
from loopml.core.ids import new_event_id
from loopml.health.alerts import AlertRule, Sink

if TYPE_CHECKING:
    from loopml.store.protocols import EventStore

ALERT_EVENT = "monitor.alert"
FAILED_EVENT = "monitor.alert_failed"


def fire(
    rules: Sequence[AlertRule],
    windows: Sequence[MonitorWindow],
    *,
    subject: str,
    events: EventStore | None,
    actor: str,
    at: int,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[Alert, ...]:
    """Check every rule on every window; one alert per rule that held (on its latest window),
    suppressed when the rule fired for ``subject`` within its cooldown."""
    out: list[Alert] = []
    for rule in rules:
        held = [(w, e) for w in windows if (e := rule.check(w)) is not None]
        latest = _persisted(held, rule.persist)
        if latest is None:
            continue
        w, evidence = held[latest]
        evidence = {**evidence, "windows": [x.index for x, _ in held]}
        alert = Alert(
            rule=rule.name,
            severity=rule.severity,
            condition=rule.when,
            subject=subject,
            window=w.index,
            start=w.start,
            message=f"{rule.name}: {rule.when} held on {subject} in window "
            f"{w.start or '#' + str(w.index)}"
            + (f" ({len(held)} windows)" if len(held) > 1 else ""),
            evidence=evidence,
            at=at,
        )
        last = _last_fired(events, rule, subject, at) if rule.cooldown_ms else None
        if last is not None:
            suppressed = {**evidence, "last_fired_at": last}
            out.append(replace(alert, status="suppressed", evidence=suppressed))
            continue
        deliveries: dict[str, str] = {}
        if events is not None:
            events.append(_event(ALERT_EVENT, alert, actor, reason=alert.message))
            deliveries["events"] = "ok"
        for sink in rule.sinks:
            deliveries[sink.label] = _deliver(sink, alert, sleep)
            if deliveries[sink.label] != "ok" and events is not None:
                failed = _event(FAILED_EVENT, alert, actor, reason=deliveries[sink.label])
                events.append(replace(failed, data={"sink": sink.label, **failed.data}))
        out.append(replace(alert, deliveries=deliveries))
    return tuple(out)


def _persisted(held: Sequence[tuple[MonitorWindow, Any]], persist: int) -> int | None:
    """Position in ``held`` of the latest window ending a run of ``persist`` consecutive
    windows the condition held on (None: no such run)."""
    run, latest = 0, None
    for i, (w, _) in enumerate(held):
        run = run + 1 if i and w.index == held[i - 1][0].index + 1 else 1
        if run >= persist:
            latest = i
    return latest


def _last_fired(events: EventStore | None, rule: AlertRule, subject: str, at: int) -> int | None:
    """When ``rule`` last fired for ``subject`` within its cooldown (None: not recently)."""
    if events is None:
        return None
    recent = events.list_events(subject=subject, kind=ALERT_EVENT, since=at - rule.cooldown_ms)
    times = [e.at for e in recent if e.data.get("rule") == rule.name and e.at <= at]
    return max(times) if times else None


def _event(kind: str, alert: Alert, actor: str, *, reason: str) -> Event:
    return Event(
        event_id=new_event_id(),
        kind=kind,
        subject=alert.subject,
        actor=actor,
        at=alert.at,
        reason=reason,
        data={
            "rule": alert.rule,
            "severity": alert.severity,
            "condition": alert.condition,
            "window": alert.window,
            "start": alert.start,
            "evidence": dict(alert.evidence),
        },
    )


def _deliver(sink: Sink, alert: Alert, sleep: Callable[[float], None]) -> str:
    if sink.kind == "stdout":
        print(f"ALERT [{alert.severity}] {alert.message}", file=sys.stdout, flush=True)
        return "ok"
    return post_webhook(sink, alert.to_dict(), sleep)


def post_webhook(sink: Sink, body: dict[str, Any], sleep: Callable[[float], None]) -> str:
    """POST ``body`` as JSON, retrying transient failures with exponential backoff; ``ok`` or
    ``failed: <why>`` (never raises)."""
    why = ""
    for attempt in range(sink.tries):
        if attempt:
            sleep(sink.backoff * 2 ** (attempt - 1))
        try:
            response = httpx.post(sink.url, json=body, timeout=sink.timeout)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            why = f"{type(exc).__name__}: {exc}"
            continue
        if response.is_success:
            return "ok"
        why = f"HTTP {response.status_code}"
        if response.status_code != 429 and response.status_code < 500:
            break  # the endpoint refuses this request: retrying will not help
    return f"failed: {why} after {attempt + 1} attempt(s)"
