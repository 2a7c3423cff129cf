"""The timeline of a policy: its ``loop.*`` events told as readable entries, each with its
reason and the evidence behind it (the alert that started a run, the gate's checks, the live
figures with their intervals, what a promotion or a rollback changed).

Rendering to a terminal is the CLI's (``loopml loop history``); this module turns events into
text lines and knows nothing of colours.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loopml.core.entities import Event
from loopml.core.jsonable import Jsonable

#: What each event kind is called in the timeline.
TITLES = {
    "loop.triggered": "triggered",
    "loop.skipped": "skipped",
    "loop.data_ready": "data",
    "loop.trained": "trained",
    "loop.gate_passed": "gate passed",
    "loop.gate_failed": "gate FAILED",
    "loop.released": "released",
    "loop.evidence": "evidence",
    "loop.approved": "approved",
    "loop.approval_refused": "approval refused",
    "loop.promoted": "PROMOTED",
    "loop.rolled_back": "ROLLED BACK",
    "loop.failed": "FAILED",
    "loop.taken_over": "taken over",
}


@dataclass(frozen=True)
class TimelineEntry(Jsonable):
    """One decision of a loop run.

    Attributes:
        at: When (ms since the epoch).
        run_id: The loop run.
        kind: The event's kind (``loop.promoted``).
        title: What the timeline calls it (``PROMOTED``).
        reason: Why, in words.
        evidence: The evidence, one line each.
        event_id: The event (``loopml events list``).
    """

    at: int
    run_id: str
    kind: str
    title: str
    reason: str
    evidence: tuple[str, ...]
    event_id: str


def timeline(events: Iterable[Event]) -> list[TimelineEntry]:
    """The entries of ``events`` (``loop.*`` ones), in their order."""
    return [
        TimelineEntry(
            at=e.at,
            run_id=str(e.links.get("run", "")),
            kind=e.kind,
            title=TITLES.get(e.kind, e.kind.removeprefix("loop.")),
            reason=e.reason,
            evidence=tuple(evidence_lines(e)),
            event_id=e.event_id,
        )
        for e in events
        if e.kind.startswith("loop.")
    ]


def evidence_lines(event: Event) -> list[str]:
    """The evidence of one event, as short lines."""
    data = event.data
    kind = event.kind
    if kind in ("loop.triggered", "loop.skipped"):
        return _trigger_lines(data)
    if kind == "loop.trained":
        lines = [f"pipeline {data.get('pipeline')}, params {dict(data.get('params') or {})}"]
        if data.get("pipeline_run"):
            lines.append(f"pipeline run {str(data['pipeline_run'])[:12]}")
        if data.get("outputs"):
            lines.append("outputs: " + _pairs(data["outputs"]))
        return lines
    if kind in ("loop.gate_passed", "loop.gate_failed"):
        return _gate_lines(data)
    if kind == "loop.evidence":
        return _live_lines(data.get("evidence") or {})
    if kind in ("loop.promoted", "loop.rolled_back"):
        return [f"did: {a}" for a in data.get("actions") or []] or ["did: nothing (done before)"]
    if kind == "loop.failed":
        return [f"error: {data.get('error')}"]
    if kind == "loop.released":
        return [f"routes: {_routes(data.get('routes') or {})}"]
    return []


def _trigger_lines(data: Mapping[str, Any]) -> list[str]:
    alert = data.get("alert")
    if isinstance(alert, Mapping):
        inner = alert.get("data") or {}
        lines = [
            f"alert {inner.get('rule')!r} ({inner.get('severity')}), condition "
            f"{inner.get('condition')!r}, window {inner.get('start') or inner.get('window')}"
        ]
        shown = {k: v for k, v in (inner.get("evidence") or {}).items() if k != "windows"}
        if shown:
            lines.append("alert evidence: " + _pairs(shown))
        return lines
    if "dataset" in data:
        return [f"dataset {data['dataset']} ({data.get('rows', 0):,} rows)"]
    if "instant" in data:
        return [f"schedule {data.get('schedule')!r}, instant {data['instant']}"]
    return []


def _gate_lines(data: Mapping[str, Any]) -> list[str]:
    lines = []
    gate = data.get("gate") or {}
    named = {c.get("rule", "").split()[0] for c in gate.get("checks") or [] if c.get("rule")}
    for dataset, values in (data.get("metrics") or {}).items():
        shown = {k: v for k, v in values.items() if k in named} or dict(list(values.items())[:3])
        lines.append(f"{dataset}: " + _pairs(shown))
    for check in gate.get("checks") or []:
        mark = {True: "pass", False: "FAIL", None: "n/a"}[check.get("passed")]
        lines.append(
            f"[{mark}] {check.get('rule')}: observed {check.get('observed')} "
            f"(limit {check.get('threshold')})"
        )
    return lines


def _live_lines(evidence: Mapping[str, Any]) -> list[str]:
    """The lines of a ``loop.evidence`` event (the figures of
    :func:`loopml.automation.live_evidence.evidence`)."""
    if not evidence:
        return []
    metric = evidence.get("metric", "metric")
    lines = []
    for side in ("challenger", "champion"):
        figures = evidence.get(side) or {}
        value = figures.get("metric")
        shown = "n/a" if value is None else f"{value:.4f}"
        if value is not None and figures.get("metric_low") is not None:
            shown += f" [{figures['metric_low']:.4f}, {figures['metric_high']:.4f}]"
        lines.append(
            f"{side} {figures.get('version')} ({figures.get('route')}): {metric} {shown} on "
            f"{figures.get('labeled', 0):,} labeled of {figures.get('rows', 0):,} rows "
            f"({figures.get('requests', 0):,} requests), {figures.get('fallbacks') or 0:,} "
            "fallbacks"
        )
    gain = evidence.get("gain")
    if gain:
        better = "higher" if evidence.get("higher_is_better", True) else "lower"
        lines.append(
            f"gain {gain['value']:+.4f} [{gain['low']:+.4f}, {gain['high']:+.4f}] "
            f"({evidence.get('level', '95%')}, {better} {metric} is better)"
        )
    for rate, figures in (evidence.get("rates") or {}).items():
        if figures.get("value") is None or _nan(figures["value"]):
            continue
        bound = figures.get("max")
        lines.append(
            f"{rate.replace('_', ' ')} {figures['value']:.2%} [{figures['low']:.2%}, "
            f"{figures['high']:.2%}]" + ("" if bound is None else f", bound {bound:.2%}")
        )
    lines += [f"note: {note}" for note in evidence.get("notes") or []]
    return lines


def _nan(value: Any) -> bool:
    return (isinstance(value, float) and math.isnan(value)) or value == "NaN"


def _pairs(values: Mapping[str, Any]) -> str:
    shown = []
    for key, value in values.items():
        if isinstance(value, float):
            shown.append(f"{key} {value:.4g}")
        elif isinstance(value, Mapping) and isinstance(value.get("value"), float):
            shown.append(f"{key} {_metric(value)}")  # a metric with its interval
        else:
            shown.append(f"{key} {value}")
    return ", ".join(shown)


def _metric(value: Mapping[str, Any]) -> str:
    """``accuracy 0.8609 [0.8408, 0.8771]`` from a metric's mapping (name, value, low, high)."""
    name = f"{value['name']} " if value.get("name") else ""
    low, high = value.get("low"), value.get("high")
    interval = (
        f" [{low:.4g}, {high:.4g}]" if isinstance(low, float) and isinstance(high, float) else ""
    )
    return f"{name}{value['value']:.4g}{interval}"


def _routes(routes: Mapping[str, Any]) -> str:
    parts = [f"champion {routes.get('champion')}"]
    canary = routes.get("canary")
    if canary:
        parts.append(f"canary {canary.get('ref')} at {canary.get('share'):g}%")
    shadows: Sequence[str] = routes.get("shadows") or ()
    if shadows:
        parts.append("shadows " + ", ".join(shadows))
    return "; ".join(parts)
