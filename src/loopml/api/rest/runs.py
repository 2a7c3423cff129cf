"""Runs: create, resume, end, read, delete and restore; params, tags and metric batches;
metric history, search and a run's artifact index.

Every route calls the server's :class:`~loopml.tracking.TrackingService`, so its rules hold
for remote callers too: write-once params, an ended run takes nothing more, keys and values
checked, the run's life in the audit log with the token's user as the actor.

Starting, ending and resuming a run are applied once per ``Idempotency-Key``
(:mod:`loopml.api.rest.once`). Metric points arrive in batches (``POST /metric-batches``),
each with an ``Idempotency-Key`` header: the key is stored in the transaction that writes the
points, so a batch sent again (the client retrying after a lost answer, or after the server
was killed and restarted) is applied exactly once. Non-finite values travel as the strings
``"NaN"``, ``"Infinity"`` and ``"-Infinity"``, both ways.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response
from pydantic import BaseModel, Field

from loopml.api.rest.access import needs
from loopml.api.rest.once import OnceKey, subject_id
from loopml.api.rest.services import Services, services_of
from loopml.core.entities import ArtifactEntry, MetricPoint, Run, RunStatus
from loopml.core.ids import RunId
from loopml.governance import Action
from loopml.tracking.writer import MAX_BATCH

__all__ = ["router"]

router = APIRouter(tags=["runs"])
Svc = Annotated[Services, Depends(services_of)]
READ = [Depends(needs(Action.READ))]
WRITE = [Depends(needs(Action.WRITE))]
DELETE = [Depends(needs(Action.DELETE))]

#: The length of a run id.
_ID = 32
#: The longest key or value the API reads (the service checks the real limits).
_TEXT = 10_000
Texts = dict[Annotated[str, Field(max_length=_TEXT)], Annotated[str, Field(max_length=_TEXT)]]
#: One point of a batch: run id, key, value, step, timestamp (ms).
PointRow = tuple[
    Annotated[str, Field(max_length=_ID)],
    Annotated[str, Field(max_length=_TEXT)],
    float,
    int,
    int,
]


class NewRun(BaseModel):
    """The body of ``POST /runs``. The client captures its own environment (git state,
    packages) and sends it as tags: the server's environment says nothing about the run."""

    experiment: str | None = Field(None, max_length=250, description="Experiment name.")
    name: str | None = Field(None, max_length=500, description="Run name.")
    tags: Texts = Field(default_factory=dict, max_length=1000, description="Initial tags.")
    parent_run_id: str | None = Field(
        None, max_length=_ID, description="The enclosing run of a nested run."
    )


class EndRun(BaseModel):
    """The body of ``POST /runs/{run_id}/end``."""

    status: RunStatus = Field(RunStatus.FINISHED, description="FINISHED, FAILED or KILLED.")
    error: str | None = Field(None, max_length=100_000, description="The error, if failed.")


class Params(BaseModel):
    """The body of ``POST /runs/{run_id}/params``: write-once params (as text)."""

    params: Texts = Field(max_length=1000)


class Tags(BaseModel):
    """The body of ``POST /runs/{run_id}/tags``."""

    tags: Texts = Field(max_length=1000)


class MetricBatch(BaseModel):
    """The body of ``POST /metric-batches``: points of any runs, as
    ``[run_id, key, value, step, timestamp]`` rows."""

    points: list[PointRow] = Field(max_length=MAX_BATCH)


class BatchAnswer(BaseModel):
    """What ``POST /metric-batches`` answers."""

    applied: bool = Field(description="False: this key's batch was applied before.")
    points: int = Field(description="Points in the batch.")


@router.post("/runs", dependencies=WRITE)
def create_run(body: NewRun, services: Svc, once: OnceKey) -> Run:
    """Start a run (RUNNING) in ``experiment`` (created if missing), with ``run.created``;
    once per ``Idempotency-Key`` (sent again, the answer is the run it started)."""
    tracking = services.tracking
    parent = RunId(body.parent_run_id) if body.parent_run_id else None
    return once(
        lambda: tracking.create_run(
            experiment=body.experiment,
            name=body.name,
            tags=body.tags,
            parent_run_id=parent,
            capture=False,
        ),
        lambda event: tracking.get_run(subject_id(event, "run")),
    )


@router.get("/runs/count", dependencies=READ)
def count_runs(
    services: Svc,
    *,
    experiments: Annotated[list[str] | None, Query(max_length=1000)] = None,
    include_deleted: bool = False,
) -> int:
    """How many runs the experiments hold (all experiments when none is named)."""
    query, _ = services.tracking.build_query(experiments, include_deleted=include_deleted)
    return services.tracking.store.count_runs(query) if query.experiment_ids else 0


@router.get("/runs", dependencies=READ)
def search_runs(
    services: Svc,
    *,
    experiments: Annotated[list[str] | None, Query(max_length=1000)] = None,
    filter: Annotated[str | None, Query(max_length=_TEXT)] = None,
    order_by: Annotated[list[str] | None, Query(max_length=100)] = None,
    limit: Annotated[int | None, Query(ge=0)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    include_deleted: bool = False,
) -> list[Run]:
    """Search runs with the SDK's filter grammar (a syntax error names the token with a
    caret); ``order_by`` clauses; ``limit`` and ``offset`` for pages."""
    return services.tracking.search_runs(
        experiments,
        filter=filter,
        order_by=order_by,
        limit=limit,
        offset=offset,
        include_deleted=include_deleted,
    )


def _run_id(services: Services, id_or_prefix: str) -> RunId:
    if len(id_or_prefix) == _ID:
        return RunId(id_or_prefix)
    return services.tracking.resolve_run_id(id_or_prefix)


@router.get("/runs/{run_id}", dependencies=READ)
def get_run(run_id: str, services: Svc) -> Run:
    """One run, by id or by a unique prefix of at least 4 hex digits."""
    return services.tracking.get_run(_run_id(services, run_id))


@router.post("/runs/{run_id}/resume", dependencies=WRITE)
def resume_run(run_id: str, services: Svc, once: OnceKey) -> Run:
    """Reopen a run to log more (a FAILED or KILLED one is RUNNING again; FINISHED: 409);
    once per ``Idempotency-Key``."""
    tracking = services.tracking
    return once(
        lambda: tracking.resume_run(run_id),
        lambda event: tracking.get_run(subject_id(event, "run")),
    )


@router.post("/runs/{run_id}/end", dependencies=WRITE)
def end_run(run_id: str, body: EndRun, services: Svc, once: OnceKey) -> Run:
    """End a run with a final status (and error), with ``run.ended``; once per
    ``Idempotency-Key`` (sent again, the answer is the run as it is, and no second end)."""
    tracking = services.tracking

    def end() -> Run:
        run = tracking.get_run(run_id)
        tracking.end_run(run.run_id, status=body.status, error=body.error)
        return tracking.get_run(run.run_id)

    return once(end, lambda event: tracking.get_run(subject_id(event, "run")))


@router.delete("/runs/{run_id}", dependencies=DELETE, status_code=204)
def delete_run(run_id: str, services: Svc, purge: bool = False) -> Response:
    """Soft-delete a run (``purge=true``: remove its metadata for good). Admin only."""
    services.tracking.delete_run(run_id, purge=purge)
    return Response(status_code=204)


@router.post("/runs/{run_id}/restore", dependencies=DELETE)
def restore_run(run_id: str, services: Svc) -> Run:
    """Bring back a soft-deleted run. Admin only."""
    return services.tracking.restore_run(run_id)


@router.post("/runs/{run_id}/params", dependencies=WRITE, status_code=204)
def log_params(run_id: str, body: Params, services: Svc) -> Response:
    """Log write-once params: the same value again is fine, another is 409 (nothing written).
    Safe to send again."""
    services.tracking.log_params(services.tracking.get_run(run_id).run_id, body.params)
    return Response(status_code=204)


@router.post("/runs/{run_id}/tags", dependencies=WRITE, status_code=204)
def set_tags(run_id: str, body: Tags, services: Svc) -> Response:
    """Set (or overwrite) tags. Safe to send again."""
    services.tracking.set_tags(services.tracking.get_run(run_id).run_id, body.tags)
    return Response(status_code=204)


@router.post("/metric-batches", dependencies=WRITE)
def log_metric_batch(
    body: MetricBatch,
    services: Svc,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=64)] = None,
) -> BatchAnswer:
    """Write a batch of metric points now, in one transaction, once per ``Idempotency-Key``
    (a batch whose key was applied before writes nothing and answers ``applied: false``)."""
    points = [(RunId(r), MetricPoint(k, v, s, t)) for r, k, v, s, t in body.points]
    applied = services.tracking.log_metric_batch(points, batch_key=idempotency_key)
    return BatchAnswer(applied=applied, points=len(points))


@router.get("/runs/{run_id}/metric-history", dependencies=READ)
def get_metric_history(
    run_id: str, key: Annotated[str, Query(max_length=_TEXT)], services: Svc
) -> list[MetricPoint]:
    """Every point of one metric of a run, by step then time."""
    return services.tracking.get_metric_history(run_id, key)


class NewArtifacts(BaseModel):
    """The body of ``POST /runs/{run_id}/artifacts``: blobs uploaded through the artifact
    proxy, indexed at run-relative paths."""

    entries: list[ArtifactEntry] = Field(max_length=100_000)


@router.post("/runs/{run_id}/artifacts", dependencies=WRITE)
def register_artifacts(run_id: str, body: NewArtifacts, services: Svc) -> list[ArtifactEntry]:
    """Index uploaded blobs on a running run: each must be stored, with the size given (404 /
    422 otherwise, nothing indexed). Safe to send again."""
    tracking = services.tracking
    return tracking.register_artifacts(tracking.get_run(run_id).run_id, body.entries)


@router.get("/runs/{run_id}/artifacts", dependencies=READ)
def list_artifacts(run_id: str, services: Svc) -> list[ArtifactEntry]:
    """A run's artifact index (path, digest, size); the bytes are behind the artifact proxy."""
    return services.tracking.list_artifacts(run_id)
