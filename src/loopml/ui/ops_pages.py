"""Production: ``/deployments`` (what each deployment routes to, its traffic split, fallback
and history) and ``/monitoring/{model}`` (the stored monitor runs' windows: drift per feature,
realized and estimated performance over time, alerts)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import pyarrow as pa
from fastapi import APIRouter, Depends, Query
from starlette.requests import Request
from starlette.responses import Response

from loopml.core.clock import now_ms
from loopml.core.entities import FeatureDrift, MonitorResult, Principal
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
#: Features drawn on the monitoring page's drift-per-feature chart (the table shows them all).
DRIFT_SERIES = 8


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


def _window_axis(windows: list[MonitorResult]) -> tuple[list[float], bool]:
    """The x values of the monitoring charts: each window's start in seconds since the epoch
    (UTC) when every window has one (time windows), else the window indexes (row windows)."""
    starts = [_epoch_seconds(w.window.start) for w in windows]
    if all(s is not None for s in starts):
        return [float(s) for s in starts if s is not None], True
    return [float(w.window.index) for w in windows], False


def _epoch_seconds(instant: str | None) -> float | None:
    if not instant:
        return None
    try:
        parsed = datetime.fromisoformat(instant)
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def _series_chart(
    title: str, windows: list[MonitorResult], values: dict[str, list[float | None]]
) -> tuple[dict[str, Any], str] | None:
    """A chart over the windows (x: their start in time, or their index), one series per
    label; None without two windows and a value."""
    if len(windows) < 2 or not any(any(v is not None for v in ys) for ys in values.values()):
        return None
    x, time = _window_axis(windows)
    chart: dict[str, Any] = {
        "title": title,
        "x": x,
        "series": [{"label": label, "y": ys} for label, ys in values.items()],
    }
    if time:
        chart["time"] = True
    else:
        chart["x_label"] = "window"
    return chart, to_json(chart)


def drift_score(drift: FeatureDrift | None) -> float | None:
    """A feature's drift in one window on a scale shared by every test: 1 is the threshold
    the verdict used, above 1 drifted. A distance (PSI, Wasserstein, ...) is divided by its
    threshold; a test's adjusted p-value ``p`` against its level ``a`` is
    ``log10(p) / log10(a)`` (p floored at 1e-16). None when the test could not run."""
    if drift is None or drift.statistic is None or not drift.threshold:
        return None
    if drift.p_value is not None:
        if not 0 < drift.threshold < 1:
            return None
        return math.log10(max(drift.p_value, 1e-16)) / math.log10(drift.threshold)
    return drift.statistic / drift.threshold


def _feature_drift_chart(
    windows: list[MonitorResult], features: list[str]
) -> tuple[dict[str, Any], str] | None:
    """Drift per feature over the windows, the :data:`DRIFT_SERIES` features that came
    closest to (or went furthest past) their threshold."""
    scores = {f: [drift_score(w.window.features.get(f)) for w in windows] for f in features}
    ranked = sorted(
        features, key=lambda f: (-max((v for v in scores[f] if v is not None), default=-1), f)
    )
    shown = {f: scores[f] for f in ranked[:DRIFT_SERIES]}
    title = "drift per feature (1 = its threshold)"
    return _series_chart(title, windows, shown)


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
    per_feature = _feature_drift_chart(windows, features)
    if per_feature is not None:
        charts.append(per_feature)
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
