"""Datasets and evaluations: ``/datasets``, ``/datasets/{name}`` (versions, a diff between
two), ``/datasets/{name}/{version}`` (schema, a profile chart per column, lineage) and
``/evaluations/{id or prefix}`` (metrics with intervals, deltas, slices, fairness, costs and
the gates decided on it)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from loopml.core.entities import ColumnProfile, DatasetVersion, Principal, SliceResult
from loopml.ui.app import PageRoute, PageServices, services
from loopml.ui.charts import bars_svg
from loopml.ui.guard import signed_in
from loopml.ui.templating import render

__all__ = ["router"]

router = APIRouter(route_class=PageRoute)
Svc = Annotated[PageServices, Depends(services)]
Who = Annotated[Principal, Depends(signed_in)]
_TOP_CATEGORIES = 12


@router.get("/datasets")
def datasets_page(request: Request, svc: Svc, _who: Who) -> Response:
    """Every dataset, by its latest version."""
    latest = sorted(svc.datasets.latest_versions(), key=lambda d: d.name)
    return render(request, "datasets.html", {"title": "Datasets", "datasets": latest})


@router.get("/datasets/{name}")
def dataset_page(
    request: Request, name: str, svc: Svc, _who: Who, old: int | None = None, new: int | None = None
) -> Response:
    """A dataset's versions, newest first; ``?old=1&new=2`` adds their diff."""
    versions = list(reversed(svc.datasets.versions(name)))
    diff = None
    if old is not None and new is not None:
        diff = svc.datasets.diff(f"{name}@{old}", f"{name}@{new}")
    context = {"title": name, "name": name, "versions": versions, "diff": diff}
    return render(request, "dataset.html", context)


def _profile_chart(column: ColumnProfile) -> Any:
    if column.numeric is not None and column.numeric.bin_counts:
        edges = column.numeric.bin_edges
        labels = [
            f"[{edges[i]:.4g}, {edges[i + 1]:.4g})" if i + 1 < len(edges) else str(i)
            for i in range(len(column.numeric.bin_counts))
        ]
        return bars_svg([float(c) for c in column.numeric.bin_counts], labels=labels)
    if column.frequencies:
        top = sorted(column.frequencies.items(), key=lambda kv: -kv[1])[:_TOP_CATEGORIES]
        return bars_svg(
            [float(count) for _, count in top], labels=[k for k, _ in top], horizontal=True
        )
    return None


@router.get("/datasets/{name}/{version}")
def dataset_version_page(
    request: Request, name: str, version: str, svc: Svc, _who: Who
) -> Response:
    """One version (a number or ``latest``): schema, profile per column, where it is used."""
    found: DatasetVersion = svc.datasets.get(f"{name}@{version}")
    profiles = {column.name: column for column in found.profile.columns}
    charts = {column.name: _profile_chart(column) for column in found.profile.columns}
    context = {
        "title": f"{found.name}@{found.version}",
        "dataset": found,
        "profiles": profiles,
        "charts": charts,
        "runs": svc.datasets.runs_using(f"{found.name}@{found.version}"),
        "models": svc.models.models_from_dataset(f"{found.name}@{found.version}"),
    }
    return render(request, "dataset_version.html", context)


def _slice_value(found: SliceResult, metric: str) -> float | None:
    value = found.metric(metric)
    return None if value is None else value.value


@router.get("/evaluations/{ref}")
def evaluation_page(request: Request, ref: str, svc: Svc, _who: Who) -> Response:
    """An evaluation: per dataset, metrics with intervals, deltas against the baseline, slices
    (a chart of each metric across them), fairness; costs; the gates decided on it."""
    evaluation = svc.evaluations.get(ref)
    gates = [
        event
        for event in svc.backend.events.list_events(subject=f"model:{evaluation.model}")
        if event.kind.startswith("gate.")
        and event.links.get("evaluation") == evaluation.evaluation_id
    ]
    slice_charts = {}
    for result in evaluation.datasets:
        found = [*result.slices, *result.worst_slices]
        names = sorted({m.name for s in found for m in s.metrics})
        slice_charts[result.dataset] = {
            metric: bars_svg(
                [_slice_value(s, metric) for s in found],
                labels=[s.name for s in found],
                horizontal=True,
                width=220,
            )
            for metric in names
        }
    context = {
        "title": f"Evaluation of {evaluation.model}",
        "evaluation": evaluation,
        "gates": list(reversed(gates)),
        "slice_charts": slice_charts,
    }
    return render(request, "evaluation.html", context)
