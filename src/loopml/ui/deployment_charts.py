"""The deployments page's charts over time, from the prediction log in time buckets
(:func:`~loopml.store.logs.buckets.traffic_buckets`) and the deployment's changes.

Per deployment: rows per route, latency p50 and p95 per route, the error rate per route, the
fallback rate (rows answered by the fallback over the rows answered), and the traffic split:
the canary share the record asked for (a step at each change, on the time-received axis) beside
the share of answered rows the canary took. Each chart is the JSON ``loopml.js`` draws with a
time axis (x in seconds since the epoch, UTC).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from loopml.core.entities import Deployment, Event
from loopml.core.refs import parse_ref
from loopml.ui.charts import to_json

__all__ = ["TrafficView", "deployment_models", "traffic_view"]

#: The routes that answer a request (shadows answer nobody; batch and external are not served).
ANSWERING = ("champion", "canary", "fallback")


@dataclass(frozen=True)
class TrafficView:
    """What the page shows of one deployment's logged traffic.

    Attributes:
        charts: ``(chart, chart JSON)`` pairs, in page order.
        totals: Per route: rows, requests and errors over the whole log.
        width_ms: The buckets' width (None without rows).
    """

    charts: list[tuple[dict[str, Any], str]]
    totals: dict[str, dict[str, int]]
    width_ms: int | None


def deployment_models(deployment: Deployment) -> list[str]:
    """The model names a deployment's routes serve (whose logs hold its traffic)."""
    refs = [deployment.champion, *deployment.shadows]
    if deployment.canary is not None:
        refs.append(deployment.canary.ref)
    return sorted({parse_ref(ref, noun="model").name for ref in refs})


def traffic_view(
    buckets: pa.Table, history: Sequence[Event], *, received: bool, until_ms: int
) -> TrafficView:
    """The charts of one deployment from its models' bucketed log and its changes.

    Args:
        buckets: :func:`~loopml.store.logs.buckets.traffic_buckets` rows of the deployment's
            models (one bucket width).
        history: The deployment's change events, oldest first.
        received: Whether the buckets are by time received (then the record's split is drawn
            on the same axis).
        until_ms: Where the record's split ends when the log does not reach further (now).
    """
    rows = buckets.to_pylist()
    starts = sorted({r["start"] for r in rows})
    width = rows[0]["width_ms"] if rows else None
    index = {start: i for i, start in enumerate(starts)}
    routes = sorted({r["route"] for r in rows}, key=_route_order)
    per: dict[str, dict[str, list[float | None]]] = {
        name: {route: [None] * len(starts) for route in routes}
        for name in ("rows", "requests", "errors", "p50", "p95")
    }
    totals: dict[str, dict[str, int]] = {}
    for r in rows:
        i, route = index[r["start"]], r["route"]
        for name, column in (("rows", "rows"), ("requests", "requests"), ("errors", "errors")):
            per[name][route][i] = (per[name][route][i] or 0) + r[column]
        # several versions on one route in a bucket: the larger quantile (a bound, not a mix)
        for name, column in (("p50", "latency_p50_ms"), ("p95", "latency_p95_ms")):
            if r[column] is not None:
                per[name][route][i] = max(per[name][route][i] or 0.0, r[column])
        total = totals.setdefault(route, {"rows": 0, "requests": 0, "errors": 0})
        for key in total:
            total[key] += r[key]
    x = [start / 1000 for start in starts]
    charts = []
    if starts:
        charts.append(_chart("rows per bucket", x, per["rows"]))
        latency = {f"{route} p50": per["p50"][route] for route in routes}
        latency |= {f"{route} p95": per["p95"][route] for route in routes}
        charts.append(_chart("latency (ms)", x, latency))
        errors = {
            route: [
                _rate(e, n) for e, n in zip(per["errors"][route], per["rows"][route], strict=True)
            ]
            for route in routes
        }
        charts.append(_chart("error rate", x, errors))
        answered = [
            sum(per["rows"][route][i] or 0 for route in routes if route in ANSWERING)
            for i in range(len(starts))
        ]
        fallback = per["rows"].get("fallback", [None] * len(starts))
        charts.append(
            _chart(
                "fallback rate",
                x,
                {"fallback": [_rate(f or 0, n) for f, n in zip(fallback, answered, strict=True)]},
            )
        )
        canary = per["rows"].get("canary", [None] * len(starts))
        split: dict[str, list[float | None]] = {
            "canary share of answered rows (%)": [
                None if r is None else 100 * r
                for r in (_rate(c or 0, n) for c, n in zip(canary, answered, strict=True))
            ]
        }
        if received:
            split["canary share asked (%)"] = [
                _share_at(history, s + (width or 0) // 2) for s in starts
            ]
        charts.append(_chart("traffic split", x, split))
    elif history:
        times = sorted({e.at for e in history} | {until_ms})
        asked = {"canary share asked (%)": [_share_at(history, t) for t in times]}
        charts.append(_chart("traffic split", [t / 1000 for t in times], asked))
    return TrafficView(charts=[(c, to_json(c)) for c in charts], totals=totals, width_ms=width)


def _chart(title: str, x: list[float], series: dict[str, list[float | None]]) -> dict[str, Any]:
    return {
        "title": title,
        "time": True,
        "x": x,
        "series": [{"label": label, "y": ys} for label, ys in series.items()],
    }


def _rates(counts: list[float | None], rows: list[float | None]) -> list[float | None]:
    return [_rate(c, n) for c, n in zip(counts, rows, strict=True)]


def _rate(count: float | None, rows: float | None) -> float | None:
    return None if not rows else float(count or 0) / float(rows)


def _route_order(route: str) -> tuple[int, str]:
    order = ("champion", "canary", "shadow", "fallback")
    return (order.index(route) if route in order else len(order), route)


def _share_at(history: Sequence[Event], at_ms: int) -> float | None:
    """The canary share (%) the record asked for at ``at_ms`` (the last change before it);
    None before the deployment existed or after it was deleted."""
    share: float | None = None
    for event in history:
        if event.at > at_ms:
            break
        after = event.data.get("after")
        if not isinstance(after, dict):
            share = None
            continue
        canary = after.get("canary")
        share = float(canary["share"]) if isinstance(canary, dict) else 0.0
    return share
