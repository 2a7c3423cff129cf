"""Monitoring results: the stored windows of monitor runs (``loopml monitor show``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from loopml.api.rest.access import needs
from loopml.api.rest.params import LINE, MAX_INT
from loopml.api.rest.services import Services, services_of
from loopml.core.entities import MonitorResult
from loopml.core.errors import NotFoundError
from loopml.governance import Action

__all__ = ["router"]

router = APIRouter(tags=["monitoring"])
Svc = Annotated[Services, Depends(services_of)]
READ = [Depends(needs(Action.READ))]


@router.get("/monitoring/results", dependencies=READ)
def list_results(
    services: Svc,
    *,
    model: Annotated[str | None, Query(max_length=300, pattern=LINE)] = None,
    since: Annotated[int | None, Query(ge=0, le=MAX_INT)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 20,
) -> list[MonitorResult]:
    """Stored windows, newest run first: of a model's runs (``model=churn``, every version),
    of a subject as stored (``model=data:flights@4``), or of every run."""
    from loopml.health.results import list_results as find

    return list(find(services.backend.monitor_results, model, since=since, limit=limit))


@router.get("/monitoring/runs/{run_id}", dependencies=READ)
def get_run(
    run_id: Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")], services: Svc
) -> list[MonitorResult]:
    """The windows of one monitor run, latest window first."""
    found = services.backend.monitor_results.list_results(run_id=run_id)
    if not found:
        raise NotFoundError(
            f"No monitor run {run_id!r}. List the stored runs with `loopml monitor show` "
            "(GET /api/v1/monitoring/results)."
        )
    return found
