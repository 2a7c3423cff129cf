"""The single mapper between table rows and core entities (experiments, runs, metric points,
dataset versions, events, model versions).

Reading runs is the hot path of a search: one query returns the matching ``runs`` rows with
their summary columns (params, latest metrics and tags as JSON), and the
:class:`~loopml.core.entities.Run` objects are built from the driver's plain tuples.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

import orjson
import sqlalchemy as sa

from loopml.core.entities import (
    ApprovalStatus,
    DatasetProfile,
    DatasetSchema,
    DatasetVersion,
    Event,
    Experiment,
    MetricPoint,
    ModelExplanation,
    ModelExport,
    ModelSignature,
    ModelVersion,
    Run,
    RunStatus,
)
from loopml.core.ids import ExperimentId, RunId
from loopml.store.sql import summary
from loopml.store.sql.tables import (
    dataset_versions,
    events,
    experiments,
    model_explanations,
    model_exports,
    model_versions,
    runs,
)

#: Ids per ``IN (...)`` list: below SQLite's historical limit of 999 bound variables.
ID_CHUNK = 900
NAN = float("nan")
_STATUS = {status.value: status for status in RunStatus}

#: The columns :func:`load_runs` expects, in order.
RUN_COLUMNS = (
    runs.c.run_id,
    runs.c.experiment_id,
    runs.c.name,
    runs.c.status,
    runs.c.start_time,
    runs.c.end_time,
    runs.c.parent_run_id,
    runs.c.error,
    runs.c.deleted,
    runs.c.params_json,
    runs.c.metrics_json,
    runs.c.tags_json,
)
#: The columns :func:`experiment_from_row` expects, in order.
EXPERIMENT_COLUMNS = tuple(experiments.c)
#: Columns of a metric row tuple (``metrics`` without its id, and ``latest_metrics``).
METRIC_COLUMNS = ("run_id", "key", "value", "is_nan", "step", "timestamp")


def metric_tuples(points: Iterable[tuple[str, MetricPoint]]) -> list[tuple[Any, ...]]:
    """Return row tuples (:data:`METRIC_COLUMNS`) for ``(run_id, point)`` pairs; a NaN is
    stored as ``value = NULL, is_nan = true``."""
    rows: list[tuple[Any, ...]] = []
    for run_id, point in points:
        value = float(point.value)
        if math.isnan(value):
            rows.append((run_id, point.key, None, True, point.step, point.timestamp))
        else:
            rows.append((run_id, point.key, value, False, point.step, point.timestamp))
    return rows


def decode_value(value: float | None, is_nan: bool) -> float:
    """Return the metric value of stored ``(value, is_nan)`` columns."""
    return NAN if is_nan or value is None else float(value)


def experiment_row(experiment: Experiment) -> dict[str, Any]:
    """Return the ``experiments`` row of an experiment."""
    return {
        "experiment_id": experiment.experiment_id,
        "name": experiment.name,
        "created_at": experiment.created_at,
        "description": experiment.description,
        "deleted": experiment.deleted,
    }


def experiment_from_row(row: Sequence[Any]) -> Experiment:
    """Build an experiment from a row of ``experiments`` (in column order)."""
    experiment_id, name, created_at, description, deleted = row
    return Experiment(
        experiment_id=ExperimentId(experiment_id),
        name=name,
        created_at=int(created_at),
        description=description or "",
        deleted=bool(deleted),
    )


def run_row(run: Run) -> dict[str, Any]:
    """Return the ``runs`` row of a run (its params, tags and metrics go elsewhere)."""
    return {
        "run_id": run.run_id,
        "experiment_id": run.experiment_id,
        "name": run.name,
        "status": run.status.value,
        "start_time": run.start_time,
        "end_time": run.end_time,
        "parent_run_id": run.parent_run_id,
        "error": run.error,
        "deleted": run.deleted,
    }


def point_from_row(row: Sequence[Any]) -> MetricPoint:
    """Build a metric point from ``(key, value, is_nan, step, timestamp)``."""
    key, value, is_nan, step, timestamp = row
    return MetricPoint(
        key=key, value=decode_value(value, is_nan), step=int(step), timestamp=int(timestamp)
    )


def raw_rows(
    conn: sa.Connection, statement: sa.Executable, parameters: Mapping[str, Any] | None = None
) -> Sequence[tuple[Any, ...]]:
    """Execute ``statement`` (compiled and cached by SQLAlchemy) and return the driver's own
    row tuples, skipping SQLAlchemy's per-row processing (which costs more than the query on
    large reads). Callers convert types themselves (SQLite gives booleans as 0/1)."""
    result = conn.execute(statement, parameters or {})
    try:
        return cast("Sequence[tuple[Any, ...]]", result.cursor.fetchall())
    finally:
        result.close()


def load_runs(rows: Sequence[Sequence[Any]]) -> list[Run]:
    """Build runs from rows of :data:`RUN_COLUMNS`; params, latest metrics and tags come from
    the summary columns of the same rows (see :mod:`loopml.store.sql.summary`)."""
    return [
        Run(
            run_id=run_id,
            experiment_id=experiment_id,
            name=name,
            status=_STATUS[status],
            start_time=int(start),
            end_time=None if end is None else int(end),
            parent_run_id=parent,
            error=error,
            params=summary.decode_texts(params_json),
            metrics=summary.decode_metrics(metrics_json),
            tags=summary.decode_texts(tags_json),
            deleted=bool(deleted),
        )
        for (
            run_id,
            experiment_id,
            name,
            status,
            start,
            end,
            parent,
            error,
            deleted,
            params_json,
            metrics_json,
            tags_json,
        ) in rows
    ]


#: The columns :func:`dataset_from_row` expects, in order.
DATASET_COLUMNS = tuple(dataset_versions.c)


def dataset_row(version: DatasetVersion, number: int) -> dict[str, Any]:
    """Return the ``dataset_versions`` row of a version numbered ``number`` (its parents go
    to ``dataset_parents``); the schema and profile are stored as JSON text."""
    return {
        "name": version.name,
        "version": number,
        "content_hash": version.content_hash,
        "artifact_digest": version.artifact_digest,
        "rows": version.rows,
        "size_bytes": version.size_bytes,
        "created_at": version.created_at,
        "created_by": version.created_by,
        "run_id": version.run_id,
        "description": version.description,
        "split": version.split,
        "schema_json": orjson.dumps(version.schema.to_dict()).decode(),
        "profile_json": orjson.dumps(version.profile.to_dict()).decode(),
    }


def dataset_from_row(row: Sequence[Any], parents: Sequence[str]) -> DatasetVersion:
    """Build a dataset version from a row of :data:`DATASET_COLUMNS` and its parent refs."""
    (
        name,
        version,
        content_hash,
        artifact_digest,
        rows,
        size_bytes,
        created_at,
        created_by,
        run_id,
        description,
        split,
        schema_json,
        profile_json,
    ) = row
    return DatasetVersion(
        name=name,
        version=int(version),
        content_hash=content_hash,
        artifact_digest=artifact_digest,
        rows=int(rows),
        size_bytes=int(size_bytes),
        created_at=int(created_at),
        created_by=created_by,
        schema=DatasetSchema.from_dict(orjson.loads(schema_json)),
        profile=DatasetProfile.from_dict(orjson.loads(profile_json)),
        run_id=None if run_id is None else RunId(run_id),
        description=description or "",
        parents=tuple(parents),
        split=split,
    )


#: The columns :func:`event_from_row` expects, in order.
EVENT_COLUMNS = (
    events.c.event_id,
    events.c.kind,
    events.c.subject,
    events.c.actor,
    events.c.at,
    events.c.reason,
    events.c.links_json,
    events.c.data_json,
    events.c.client,
    events.c.address,
)


def event_row(event: Event) -> dict[str, Any]:
    """Return the ``events`` row of an event (``seq`` and the hashes are added when it is
    chained); links and data are stored as JSON text."""
    return {
        "event_id": event.event_id,
        "kind": event.kind,
        "subject": event.subject,
        "actor": event.actor,
        "at": event.at,
        "reason": event.reason,
        "links_json": orjson.dumps(dict(event.links)).decode(),
        "data_json": orjson.dumps(dict(event.data)).decode(),
        "client": event.client,
        "address": event.address,
    }


def event_from_row(row: Sequence[Any]) -> Event:
    """Build an event from a row of :data:`EVENT_COLUMNS`."""
    event_id, kind, subject, actor, at, reason, links_json, data_json, client, address = row
    return Event(
        event_id=event_id,
        kind=kind,
        subject=subject,
        actor=actor,
        at=int(at),
        reason=reason or "",
        links=orjson.loads(links_json),
        data=orjson.loads(data_json),
        client=client,
        address=address,
    )


#: The columns :func:`model_version_from_row` expects, in order.
MODEL_VERSION_COLUMNS = tuple(model_versions.c)


def model_version_row(version: ModelVersion, number: int) -> dict[str, Any]:
    """Return the ``model_versions`` row of a version numbered ``number`` (its datasets go to
    ``model_inputs``, its exports to ``model_exports``)."""
    return {
        "name": version.name,
        "version": number,
        "flavor": version.flavor,
        "manifest_digest": version.manifest_digest,
        "signature_json": orjson.dumps(version.signature.to_dict()).decode(),
        "size_bytes": version.size_bytes,
        "created_at": version.created_at,
        "created_by": version.created_by,
        "run_id": version.run_id,
        "code_commit": version.code_commit,
        "description": version.description,
        "tags_json": orjson.dumps(dict(version.tags)).decode(),
        "approval": version.approval.value,
        "reviewer": version.reviewer,
        "review_comment": version.review_comment,
        "reviewed_at": version.reviewed_at,
    }


def model_version_from_row(
    row: Sequence[Any],
    datasets: Mapping[str, str],
    exports: Sequence[ModelExport],
) -> ModelVersion:
    """Build a model version from a row of :data:`MODEL_VERSION_COLUMNS`, its dataset refs by
    role (``train``, ``validation``) and its exports (oldest first)."""
    (
        name,
        version,
        flavor,
        manifest_digest,
        signature_json,
        size_bytes,
        created_at,
        created_by,
        run_id,
        code_commit,
        description,
        tags_json,
        approval,
        reviewer,
        review_comment,
        reviewed_at,
    ) = row
    return ModelVersion(
        name=name,
        version=int(version),
        flavor=flavor,
        manifest_digest=manifest_digest,
        signature=ModelSignature.from_dict(orjson.loads(signature_json)),
        size_bytes=int(size_bytes),
        created_at=int(created_at),
        created_by=created_by,
        run_id=None if run_id is None else RunId(run_id),
        training_data=datasets.get("train"),
        validation_data=datasets.get("validation"),
        code_commit=code_commit,
        description=description or "",
        tags=orjson.loads(tags_json),
        approval=ApprovalStatus(approval),
        reviewer=reviewer,
        review_comment=review_comment or "",
        reviewed_at=None if reviewed_at is None else int(reviewed_at),
        exports=tuple(exports),
    )


#: The columns :func:`model_export_from_row` expects, in order (after name and version).
MODEL_EXPORT_COLUMNS = (
    model_exports.c.format,
    model_exports.c.manifest_digest,
    model_exports.c.created_at,
    model_exports.c.created_by,
    model_exports.c.check_json,
)


def model_export_row(name: str, version: int, export: ModelExport) -> dict[str, Any]:
    """Return the ``model_exports`` row of an export of ``name@version``."""
    return {
        "name": name,
        "version": version,
        "format": export.format,
        "manifest_digest": export.manifest_digest,
        "created_at": export.created_at,
        "created_by": export.created_by,
        "check_json": orjson.dumps(dict(export.check)).decode(),
    }


def model_export_from_row(row: Sequence[Any]) -> ModelExport:
    """Build an export from a row of :data:`MODEL_EXPORT_COLUMNS`."""
    fmt, digest, created_at, created_by, check_json = row
    return ModelExport(
        format=fmt,
        manifest_digest=digest,
        created_at=int(created_at),
        created_by=created_by,
        check=orjson.loads(check_json),
    )


#: The columns :func:`model_explanation_from_row` expects, in order.
MODEL_EXPLANATION_COLUMNS = (
    model_explanations.c.explanation_id,
    model_explanations.c.name,
    model_explanations.c.version,
    model_explanations.c.method,
    model_explanations.c.dataset,
    model_explanations.c.created_at,
    model_explanations.c.created_by,
    model_explanations.c.body_json,
)


def model_explanation_row(name: str, version: int, found: ModelExplanation) -> dict[str, Any]:
    """Return the ``model_explanations`` row of an explanation of ``name@version`` (the
    features, rows and details in ``body_json``)."""
    body = found.to_dict()
    return {
        "explanation_id": found.explanation_id,
        "name": name,
        "version": version,
        "method": found.method,
        "dataset": found.dataset,
        "created_at": found.created_at,
        "created_by": found.created_by,
        "body_json": orjson.dumps({k: body[k] for k in ("rows", "features", "details")}).decode(),
    }


def model_explanation_from_row(row: Sequence[Any]) -> ModelExplanation:
    """Build an explanation from a row of :data:`MODEL_EXPLANATION_COLUMNS`."""
    explanation_id, name, version, method, dataset, created_at, created_by, body = row
    return ModelExplanation.from_dict(
        {
            **orjson.loads(body),
            "explanation_id": explanation_id,
            "model": f"{name}@{int(version)}",
            "method": method,
            "dataset": dataset,
            "created_at": int(created_at),
            "created_by": created_by,
        }
    )
