"""The single mapper between table rows and core entities (experiments, runs, metric points).

Reading runs is the hot path of a search: the runs are fetched first (one query), then the
params, latest metrics and tags of just those runs (one query per table and chunk of ids),
and the :class:`~loopml.core.entities.Run` objects are built from plain tuples.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

import sqlalchemy as sa

from loopml.core.entities import Experiment, MetricPoint, Run, RunStatus
from loopml.core.ids import ExperimentId, RunId
from loopml.store.sql.tables import experiments, latest_metrics, params, runs, tags

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
)


def encode_value(value: float) -> tuple[float | None, bool]:
    """Return the ``(value, is_nan)`` columns for a metric value (NaN is stored as NULL)."""
    if math.isnan(value):
        return None, True
    return float(value), False


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


EXPERIMENT_COLUMNS = tuple(experiments.c)


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


def metric_rows(run_id: RunId, points: Iterable[MetricPoint]) -> list[dict[str, Any]]:
    """Return ``metrics`` / ``latest_metrics`` rows for points of one run."""
    rows = []
    for point in points:
        value, is_nan = encode_value(point.value)
        rows.append({"run_id": run_id, "key": point.key, "value": value, "is_nan": is_nan,
                     "step": point.step, "timestamp": point.timestamp})
    return rows


def point_from_row(row: Sequence[Any]) -> MetricPoint:
    """Build a metric point from ``(key, value, is_nan, step, timestamp)``."""
    key, value, is_nan, step, timestamp = row
    return MetricPoint(key=key, value=decode_value(value, is_nan), step=int(step),
                       timestamp=int(timestamp))


def _chunks(ids: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(ids), ID_CHUNK):
        yield ids[start : start + ID_CHUNK]


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


def _by_run(table: sa.Table, *columns: str) -> sa.Select[Any]:
    chosen = [table.c.run_id, *(table.c[name] for name in columns)]
    return sa.select(*chosen).where(table.c.run_id.in_(sa.bindparam("ids", expanding=True)))


_PARAMS_OF_RUNS = _by_run(params, "key", "value")
_TAGS_OF_RUNS = _by_run(tags, "key", "value")
_METRICS_OF_RUNS = _by_run(latest_metrics, "key", "value", "is_nan")


def _key_values(
    conn: sa.Connection, statement: sa.Select[Any], ids: Sequence[str]
) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for chunk in _chunks(ids):
        for run_id, key, value in raw_rows(conn, statement, {"ids": chunk}):
            entries = found.get(run_id)
            if entries is None:
                entries = found[run_id] = {}
            entries[key] = value
    return found


def _latest_metrics(conn: sa.Connection, ids: Sequence[str]) -> dict[str, dict[str, float]]:
    found: dict[str, dict[str, float]] = {}
    for chunk in _chunks(ids):
        for run_id, key, value, is_nan in raw_rows(conn, _METRICS_OF_RUNS, {"ids": chunk}):
            entries = found.get(run_id)
            if entries is None:
                entries = found[run_id] = {}
            entries[key] = NAN if is_nan or value is None else value
    return found


def load_runs(conn: sa.Connection, rows: Sequence[Sequence[Any]]) -> list[Run]:
    """Build runs from rows of :data:`RUN_COLUMNS`, loading their params, latest metrics and
    tags (one query per table and chunk of ids)."""
    if not rows:
        return []
    ids = [row[0] for row in rows]
    all_params = _key_values(conn, _PARAMS_OF_RUNS, ids)
    all_metrics = _latest_metrics(conn, ids)
    all_tags = _key_values(conn, _TAGS_OF_RUNS, ids)
    result = []
    for run_id, experiment_id, name, status, start, end, parent, error, deleted in rows:
        result.append(
            Run(
                run_id=run_id,
                experiment_id=experiment_id,
                name=name,
                status=_STATUS[status],
                start_time=int(start),
                end_time=None if end is None else int(end),
                parent_run_id=parent,
                error=error,
                params=all_params.get(run_id) or {},
                metrics=all_metrics.get(run_id) or {},
                tags=all_tags.get(run_id) or {},
                deleted=bool(deleted),
            )
        )
    return result

