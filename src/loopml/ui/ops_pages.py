"""Production: ``/deployments`` (what each deployment routes to, its traffic split, fallback
and history) and ``/monitoring/{model}`` (the stored monitor runs' windows: drift per feature,
realized and estimated performance over time, alerts)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pyarrow as pa
from fastapi import APIRouter, Depends, Query
from starlette.requests import Request
from starlette.responses import Response

from loopml.core.clock import now_ms
from loopml.core.entities import MonitorResult, Principal
from loopml.health.results import list_results
from loopml.store.logs.buckets import traffic_buckets
from loopml.ui.app import PageRoute, PageServices, services
from loopml.ui.charts import to_json
from loopml.ui.deployment_charts import deployment_models, traffic_view
from loopml.ui.guard import signed_in
from loopml.ui.templating import render

__all__ = ["router"]

router = APIRouter(route_class=PageRoute)
Svc = Annotated[PageServices, Depends(services)]
Who = Annotated[Principal, Depends(signed_in)]
DEFAULT_WINDOWS = 200
DEFAULT_BUCKETS = 120


@router.get("/deployments")
def deployments_page(
    request: Request,
    svc: Svc,
    _who: Who,
    time: Annotated[Literal["received", "event"], Query()] = "received",
    buckets: Annotated[int, Query(ge=10, le=500)] = DEFAULT_BUCKETS,
) -> Response:
    """Every deployment: champion, canary and its share, shadows, fallback, its changes, and
    its logged traffic over time (rows, latency, error and fallback rates, traffic split) in
    at most ``buckets`` buckets of the time ``received`` or the ``event`` time."""
    deployments = svc.deployments
    found = deployments.list_deployments()
    changes = {d.name: deployments.history(d.name) for d in found}
    histories = {name: list(reversed(events))[:20] for name, events in changes.items()}
    settings = svc.backend.settings
    logged: dict[tuple[str, ...], pa.Table] = {}  # each set of models bucketed once per page
    for models in {tuple(deployment_models(d)) for d in found}:
        logged[models] = traffic_buckets(
            settings.logs_url,
            model=models,
            spool_dirs=(settings.home / "spool",),
            time=time,
            buckets=buckets,
        )
    views = {
        d.name: traffic_view(
            logged[tuple(deployment_models(d))],
            changes[d.name],
            received=time == "received",
            until_ms=now_ms(),
        )
        for d in found
    }
    context = {
        "title": "Deployments",
        "deployments": found,
        "histories": histories,
        "views": views,
        "time_axis": time,
        "buckets": buckets,
    }
    return render(request, "deployments.html", context)


def _series_chart(
    title: str, windows: list[MonitorResult], values: dict[str, list[float | None]]
) -> tuple[dict[str, Any], str] | None:
    """A chart over window indexes (x), one series per label; None without two points."""
    if len(windows) < 2 or not any(any(v is not None for v in ys) for ys in values.values()):
        return None
    chart = {
        "title": title,
        "x": [w.window.index for w in windows],
        "series": [{"label": label, "y": ys} for label, ys in values.items()],
    }
    return chart, to_json(chart)


@router.get("/monitoring/{model}")
def monitoring_page(
    request: Request,
    model: str,
    svc: Svc,
    _who: Who,
    limit: Annotated[int, Query(ge=1, le=5000)] = DEFAULT_WINDOWS,
) -> Response:
    """The latest monitor run of ``model`` (a model name, or a stored subject such as
    ``data:flights@4``) window by window, and the alerts of its runs."""
    results = list(list_results(svc.backend.monitor_results, model, limit=limit))
    latest_run = results[0].run_id if results else None
    windows = sorted((r for r in results if r.run_id == latest_run), key=lambda r: r.window.index)
    features = sorted({f for w in windows for f in w.window.features})
    metrics = sorted({m for w in windows for m in (*w.window.performance, *w.window.estimated)})
    charts = []
    drift = _series_chart(
        "drift share", windows, {"drift share": [w.window.drift_share for w in windows]}
    )
    if drift is not None:
        charts.append(drift)
    for metric in metrics:
        series = {
            "realized": [_value(w.window.performance.get(metric)) for w in windows],
            "estimated": [_value(w.window.estimated.get(metric)) for w in windows],
        }
        chart = _series_chart(metric, windows, series)
        if chart is not None:
            charts.append(chart)
    alerts = [alert for r in results for alert in r.alerts]
    context = {
        "title": f"Monitoring of {model}",
        "model": model,
        "windows": windows,
        "features": features,
        "metrics": metrics,
        "charts": charts,
        "alerts": sorted(alerts, key=lambda a: -a.at),
        "runs": len({r.run_id for r in results}),
    }
    return render(request, "monitoring.html", context)


def _value(found: Any) -> float | None:
    value = getattr(found, "value", None)
    return float(value) if isinstance(value, int | float) else None
