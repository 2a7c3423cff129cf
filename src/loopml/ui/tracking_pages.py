"""Experiments and runs: ``/experiments``, ``/experiments/{name or id}/runs``, ``/runs/{id or
prefix}``, a run's artifact files, and ``/compare?runs=ID,ID``."""

from __future__ import annotations

import mimetypes
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.requests import Request
from starlette.responses import Response

from loopml.core.entities import Principal, Run
from loopml.core.errors import InvalidArgumentError
from loopml.store.query import RunQuery
from loopml.ui.app import PageRoute, PageServices, services
from loopml.ui.charts import curve_chart, to_json
from loopml.ui.guard import signed_in
from loopml.ui.lineage_graph import graph_svg, run_graph
from loopml.ui.runs_table import DEFAULT_PER_PAGE, runs_page
from loopml.ui.templating import render

__all__ = ["router"]

router = APIRouter(route_class=PageRoute)
Svc = Annotated[PageServices, Depends(services)]
Who = Annotated[Principal, Depends(signed_in)]
#: Captured tags shown under "code and environment" rather than with the run's tags.
_CAPTURED = ("loopml.source.", "loopml.env.", "loopml.git.", "loopml.user")
#: Captured files shown as text on the run's page.
_CAPTURED_FILES = ("loopml/requirements.txt", "loopml/git.diff")
_TEXT_PREVIEW = 4000
_IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp", "image/svg+xml"}
_TEXT_SUFFIXES = (".txt", ".json", ".yaml", ".yml", ".csv", ".md", ".log", ".py", ".diff")
MAX_COMPARED = 10


@router.get("/experiments")
def experiments_page(request: Request, svc: Svc, _who: Who) -> Response:
    """Every experiment with its number of runs."""
    tracking = svc.tracking
    rows = []
    for experiment in tracking.experiments.list():
        query = RunQuery(experiment_ids=(experiment.experiment_id,))
        rows.append((experiment, tracking.store.count_runs(query)))
    return render(request, "experiments.html", {"title": "Experiments", "rows": rows})


@router.get("/experiments/{ref}/runs")
def runs_list_page(
    request: Request,
    ref: str,
    svc: Svc,
    _who: Who,
    filter: str = "",
    sort: str | None = None,
    order: str = "desc",
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1, le=500)] = DEFAULT_PER_PAGE,
    col: Annotated[list[str] | None, Query()] = None,
) -> Response:
    """One page of an experiment's runs (paged, sorted and filtered in the store)."""
    experiment = svc.tracking.experiments.get(ref)
    table = runs_page(
        svc.tracking,
        experiment,
        filter=filter,
        sort=sort or None,
        descending=order != "asc",
        page=page,
        per_page=per_page,
        columns=col,
    )
    context = {"title": f"Runs of {experiment.name}", "table": table}
    return render(request, "runs.html", context, status_code=422 if table.error else 200)


def _resolve(svc: PageServices, ref: str) -> Run:
    return svc.tracking.get_run(svc.tracking.resolve_run_id(ref))


def _artifact_preview(svc: PageServices, run: Run, path: str, size: int) -> dict[str, str]:
    kind = mimetypes.guess_type(path)[0] or ""
    if kind in _IMAGE_TYPES:
        return {"kind": "image"}
    if kind == "text/html":
        return {"kind": "html"}
    if path.endswith(_TEXT_SUFFIXES) and size <= 1_000_000:
        data = svc.tracking.read_artifact(run.run_id, path)[:_TEXT_PREVIEW]
        return {"kind": "text", "text": data.decode("utf-8", errors="replace")}
    return {"kind": "none"}


@router.get("/runs/{ref}")
def run_page(request: Request, ref: str, svc: Svc, _who: Who) -> Response:
    """A run: params, metric curves, artifacts, captured code and environment, lineage."""
    tracking = svc.tracking
    run = _resolve(svc, ref)
    experiment = tracking.experiments.get(run.experiment_id)
    charts, singles = [], {}
    for key in sorted(run.metrics):
        chart = curve_chart(
            key, {run.name or run.run_id[:8]: tracking.get_metric_history(run.run_id, key)}
        )
        if chart is None:
            singles[key] = run.metrics[key]
        else:
            charts.append((chart, to_json(chart)))
    artifacts = tracking.list_artifacts(run.run_id)
    captured = {p: "" for p in _CAPTURED_FILES}
    previews = {}
    for entry in artifacts:
        if entry.path in captured:
            data = tracking.read_artifact(run.run_id, entry.path)
            captured[entry.path] = data.decode("utf-8", errors="replace")
        else:
            previews[entry.path] = _artifact_preview(svc, run, entry.path, entry.size)
    tags = {k: v for k, v in run.tags.items() if not k.startswith(_CAPTURED)}
    environment = {k: v for k, v in sorted(run.tags.items()) if k.startswith(_CAPTURED)}
    inputs = svc.datasets.inputs_of(run.run_id)
    models = svc.models.store.versions_of_run(run.run_id)
    children = tracking.search_runs(
        experiment.experiment_id, filter=f"parent_run_id = '{run.run_id}'", limit=100
    )
    context = {
        "title": run.name or run.run_id,
        "run": run,
        "experiment": experiment,
        "charts": charts,
        "singles": singles,
        "artifacts": artifacts,
        "previews": previews,
        "captured": {p: text for p, text in captured.items() if text},
        "tags": tags,
        "environment": environment,
        "inputs": inputs,
        "models": models,
        "lineage_svg": graph_svg(
            run_graph(svc.models, run, inputs, models, svc.deployments.list_deployments())
        ),
        "children": children,
    }
    return render(request, "run.html", context)


@router.get("/runs/{ref}/artifacts/{path:path}")
def artifact_file(ref: str, path: str, svc: Svc, _who: Who) -> Response:
    """One artifact's bytes (verified against its digest by the store). HTML and SVG are
    served sandboxed: no script in them runs with this site's cookies."""
    run = _resolve(svc, ref)
    data = svc.tracking.read_artifact(run.run_id, path)
    kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
    if kind.startswith("text/") or kind == "application/json":
        kind = "text/plain; charset=utf-8" if kind != "text/html" else "text/html; charset=utf-8"
    headers = {
        "Content-Security-Policy": (
            "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"
        ),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, max-age=3600",
    }
    if kind in ("application/octet-stream",):
        headers["Content-Disposition"] = f'attachment; filename="{path.rsplit("/", 1)[-1]}"'
    return Response(data, media_type=kind, headers=headers)


@router.get("/compare")
def compare_page(
    request: Request, svc: Svc, _who: Who, runs: Annotated[list[str], Query()]
) -> Response:
    """Runs side by side: every param and metric (differing ones marked), overlaid curves.
    ``runs`` is ``ID,ID`` (ids or unique prefixes), or repeated (the runs page's form)."""
    refs = list(dict.fromkeys(r.strip() for item in runs for r in item.split(",") if r.strip()))
    if not 2 <= len(refs) <= MAX_COMPARED:
        raise InvalidArgumentError(
            f"Compare 2 to {MAX_COMPARED} runs: /compare?runs=ID,ID (ids or unique prefixes); "
            f"got {len(refs)}."
        )
    found = [_resolve(svc, ref) for ref in refs]
    labels = {run.run_id: f"{run.name or 'run'} ({run.run_id[:8]})" for run in found}
    params = sorted({k for run in found for k in run.params})
    metrics = sorted({k for run in found for k in run.metrics})
    differs = {f"params.{k}": len({run.params.get(k) for run in found}) > 1 for k in params} | {
        f"metrics.{k}": len({run.metrics.get(k) for run in found}) > 1 for k in metrics
    }
    charts = []
    for key in metrics:
        histories = {
            labels[run.run_id]: svc.tracking.get_metric_history(run.run_id, key)
            for run in found
            if key in run.metrics
        }
        chart = curve_chart(key, histories)
        if chart is not None:
            charts.append((chart, to_json(chart)))
    context = {
        "title": f"Compare {len(found)} runs",
        "runs": found,
        "labels": labels,
        "params": params,
        "metrics": metrics,
        "differs": differs,
        "charts": charts,
    }
    return render(request, "compare.html", context)
