"""The rules of the tracking service's inputs that do not need a store: a run id, a final
status, 'an ended run takes nothing more', metric points built from user arguments, a
batch's order of writes and a search's typed query.

Written once here and used by :class:`~loopml.tracking.TrackingService` and by the remote
SDK's :class:`~loopml.client.remote.tracking.RemoteTracking`, so a bad value fails the same
way at the call whether the SDK is embedded or talks to a server.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from loopml.core.clock import Clock
from loopml.core.entities import Experiment, MetricPoint, Run, RunStatus
from loopml.core.errors import InvalidArgumentError
from loopml.core.ids import RunId, is_hex_id
from loopml.store.query import RunQuery, parse_filter, parse_order_by
from loopml.tracking import keys

if TYPE_CHECKING:
    from loopml.tracking.writer import MetricWriter

__all__ = [
    "BufferedMetrics",
    "build_run_query",
    "check_final_status",
    "check_metrics_mapping",
    "check_run_id",
    "metric_point",
    "metric_points",
    "require_running",
    "write_batch",
]


def check_run_id(run_id: Any) -> RunId:
    """Return ``run_id`` if it is a full run id (32 lowercase hex digits).

    Raises:
        InvalidArgumentError: It is not.
    """
    if not isinstance(run_id, str) or not is_hex_id(run_id):
        raise InvalidArgumentError(
            f"{run_id!r} is not a run id: run ids are 32 lowercase hex digits "
            "(see `loopml runs list`)."
        )
    return RunId(run_id)


def check_final_status(status: RunStatus) -> None:
    """Raise InvalidArgumentError unless ``status`` ends a run (FINISHED, FAILED, KILLED)."""
    if not status.is_terminal:
        raise InvalidArgumentError(
            f"end_run needs a final status (FINISHED, FAILED or KILLED); got {status.value}."
        )


def require_running(run_id: RunId, running: set[RunId], get_run: Callable[[str], Run]) -> None:
    """Raise ConflictError unless the run is RUNNING (ended runs are immutable).

    Args:
        run_id: The run.
        running: Runs this process knows are RUNNING (checked first, and ``run_id`` is added
            to it once read as RUNNING).
        get_run: Reads the run (raises NotFoundError for an unknown one).
    """
    if run_id in running:
        return
    run = get_run(run_id)
    if run.status.is_terminal:
        raise run.status.refusal(run_id)
    running.add(run_id)


def metric_point(key: Any, value: Any, *, step: Any, timestamp: Any, clock: Clock) -> MetricPoint:
    """Return the checked point of one ``log_metric`` call (time from ``clock`` when None).

    Raises:
        InvalidArgumentError: The key, value, step or timestamp is not valid.
    """
    key = keys.check_key("metric", key)
    return MetricPoint(
        key,
        keys.check_metric_value(key, value),
        keys.check_step(key, step),
        clock() if timestamp is None else keys.check_timestamp(key, timestamp),
    )


def check_metrics_mapping(metrics: Any) -> Mapping[Any, Any]:
    """Return ``metrics`` if it is a mapping (of key to number).

    Raises:
        InvalidArgumentError: It is not.
    """
    if not isinstance(metrics, Mapping):
        raise InvalidArgumentError(
            f"metrics must be a mapping of key to number; got {type(metrics).__name__}."
        )
    return metrics


def metric_points(
    run_id: RunId, metrics: Any, *, step: Any, timestamp: Any, clock: Clock
) -> list[tuple[RunId, MetricPoint]]:
    """Return the checked points of one ``log_metrics`` call: one per key, at one step and
    one time (from ``clock`` when None).

    Raises:
        InvalidArgumentError: ``metrics`` is not a mapping, or a key, value, the step or the
            timestamp is not valid.
    """
    metrics = check_metrics_mapping(metrics)
    ts = clock() if timestamp is None else keys.check_timestamp("metrics", timestamp)
    return [
        (
            run_id,
            MetricPoint(
                keys.check_key("metric", k),
                keys.check_metric_value(k, v),
                keys.check_step(k, step),
                ts,
            ),
        )
        for k, v in metrics.items()
    ]


class BatchTarget(Protocol):
    """What :func:`write_batch` writes through (a tracking service or its remote proxy)."""

    def require_running(self, run_id: RunId) -> None: ...

    def log_params(self, run_id: RunId, params: Mapping[str, Any]) -> None: ...

    def set_tags(self, run_id: RunId, tags: Mapping[str, Any]) -> None: ...

    def log_metric_batch(
        self, points: Sequence[tuple[RunId, MetricPoint]], *, batch_key: str | None = None
    ) -> bool: ...


def write_batch(
    target: BatchTarget,
    run_id: RunId,
    *,
    metrics: Sequence[MetricPoint],
    params: Mapping[str, Any] | None,
    tags: Mapping[str, Any] | None,
) -> None:
    """Write a ``log_batch`` call: the run must be RUNNING and every point valid before
    anything is written; then params, tags and the points, in that order."""
    target.require_running(run_id)
    points = [(run_id, keys.check_point(p)) for p in metrics]
    if params:
        target.log_params(run_id, params)
    if tags:
        target.set_tags(run_id, tags)
    if points:
        target.log_metric_batch(points)


class ExperimentLookup(Protocol):
    """What :func:`build_run_query` reads experiments from (a catalog or its remote proxy)."""

    def get(self, name_or_id: str) -> Experiment: ...

    def list(self) -> list[Experiment]: ...


def build_run_query(
    catalog: ExperimentLookup,
    experiments: str | Sequence[str] | None,
    *,
    filter: str | None,
    order_by: Sequence[str] | None,
    limit: int | None,
    offset: int,
    include_deleted: bool,
) -> tuple[RunQuery, dict[str, Experiment]]:
    """Turn search arguments into a typed query and the experiments it spans (every
    experiment when ``experiments`` is None).

    Raises:
        InvalidArgumentError: A bad limit or offset.
        NotFoundError: An experiment named does not exist.
        FilterSyntaxError: The filter or an order-by clause does not parse.
    """
    limit = keys.check_limit(limit)
    offset = keys.check_offset(offset)
    if experiments is None:
        exps = catalog.list()
    else:
        names = [experiments] if isinstance(experiments, str) else list(experiments)
        exps = [catalog.get(n) for n in names]
    query = RunQuery(
        experiment_ids=tuple(e.experiment_id for e in exps),
        where=parse_filter(filter) if filter else None,
        order_by=parse_order_by(list(order_by)) if order_by else (),
        limit=limit,
        offset=offset,
        include_deleted=include_deleted,
    )
    return query, {e.experiment_id: e for e in exps}


class BufferedMetrics:
    """``log_metric`` and ``log_metrics``: points checked at the call, then buffered in a
    :class:`~loopml.tracking.writer.MetricWriter` that writes them within the flush interval.
    One body for :class:`~loopml.tracking.TrackingService` (the writer writes to the store)
    and the remote SDK's ``RemoteTracking`` (it sends keyed batches to the server)."""

    writer: MetricWriter
    _clock: Clock
    _running: set[RunId]

    def require_running(self, run_id: RunId) -> None:
        """Raise unless the run exists and is running (each class says how it knows)."""
        raise NotImplementedError

    def log_metric(
        self,
        run_id: RunId,
        key: str,
        value: Any,
        *,
        step: int = 0,
        timestamp: int | None = None,
    ) -> None:
        """Buffer one metric point; it is written in the background within the flush interval."""
        if run_id not in self._running:
            self.require_running(run_id)
        point = metric_point(key, value, step=step, timestamp=timestamp, clock=self._clock)
        self.writer.add(run_id, point)

    def log_metrics(
        self,
        run_id: RunId,
        metrics: Mapping[str, Any],
        *,
        step: int = 0,
        timestamp: int | None = None,
    ) -> None:
        """Buffer several metrics at one step and time."""
        check_metrics_mapping(metrics)
        self.require_running(run_id)
        clock = self._clock
        self.writer.add_many(
            metric_points(run_id, metrics, step=step, timestamp=timestamp, clock=clock)
        )
