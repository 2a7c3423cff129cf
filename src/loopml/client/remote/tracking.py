"""The tracking service through a ``loopml server``: :class:`RemoteTracking` has the public
methods of :class:`~loopml.tracking.TrackingService`, with the same signatures, and the SDK
uses it in its place when ``LOOPML_SERVER_URL`` is set.

Keys and values are checked here first (the same checks, so a bad value fails at the call,
not later in the background), then again by the server's service, which enforces every rule.
Metric points are buffered as in the embedded SDK: a :class:`~loopml.tracking.MetricWriter`
sends them in batches (``POST /metric-batches``), each with an idempotency key it keeps until
the server acknowledges the batch. A batch whose answer is lost (a dropped connection, a server
killed and restarted) is sent again with the same key and applied once; the writer keeps
unacknowledged points in memory, and a run's end, ``flush()`` and the process's exit (SIGTERM
included) write them first.

The environment is captured here, in the client's process (git state, packages, host): it is
sent as the run's tags and files, since the server's environment says nothing about the run.

Artifacts are logged as in the embedded SDK (:class:`~loopml.tracking.artifact_log.ArtifactLog`),
with the bytes going through the server's artifact proxy
(:class:`~loopml.store.remote.artifacts.RemoteArtifactStore`: chunked, resumable, checked
against their digest) and the run's index entries registered by ``POST /runs/{id}/artifacts``,
where the server checks each blob is stored with the size given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from loopml.client.remote.experiments import RemoteExperiments, segment
from loopml.client.remote.metric_batches import BatchSink, writer_for
from loopml.core.clock import Clock, now_ms
from loopml.core.entities import ArtifactEntry, Experiment, MetricPoint, Run, RunStatus
from loopml.core.errors import InvalidArgumentError
from loopml.core.ids import RunId
from loopml.core.settings import Settings, current_user
from loopml.store.protocols import TrackingStore
from loopml.store.query import RunQuery
from loopml.store.remote import Transport, new_idempotency_key
from loopml.store.remote.artifacts import RemoteArtifactStore
from loopml.tracking import inputs, keys
from loopml.tracking.artifact_log import ArtifactLog
from loopml.tracking.service import format_error

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["RemoteTracking"]


class _RemoteIndex:
    """The artifact index of runs on the server (what :class:`ArtifactLog` needs of a
    tracking store): entries registered by ``POST /runs/{id}/artifacts``, which checks the
    blobs are stored."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def add_artifacts(self, run_id: RunId, entries: Sequence[ArtifactEntry]) -> None:
        body = {"entries": [e.to_dict() for e in entries]}
        path = _run_path(run_id, "/artifacts")
        self.transport.post(path, list[ArtifactEntry], body, idempotency_key=new_idempotency_key())

    def list_artifacts(self, run_id: RunId) -> list[ArtifactEntry]:
        return self.transport.get(_run_path(run_id, "/artifacts"), list[ArtifactEntry])


def _run_path(run_id: str, tail: str = "") -> str:
    return f"/runs/{inputs.check_run_id(run_id)}{tail}"


class RemoteTracking(inputs.BufferedMetrics):
    """:class:`~loopml.tracking.TrackingService` through a ``loopml server`` (see the module
    docstring).

    Args:
        transport: The server's transport (its URL and token).
        settings: The client's settings (experiment, flush interval, environment capture).
        clock: Millisecond clock for the points' default timestamps.
    """

    def __init__(self, transport: Transport, settings: Settings, *, clock: Clock = now_ms) -> None:
        self.transport = transport
        self.settings = settings
        self.experiments = RemoteExperiments(transport)
        blobs = RemoteArtifactStore(transport.url, transport=transport)
        self.artifacts = ArtifactLog(cast(TrackingStore, _RemoteIndex(transport)), blobs)
        self.writer = writer_for(transport, settings.flush_interval)
        self._clock = clock
        self._running: set[RunId] = set()

    # -- run lifecycle ----------------------------------------------------------------------

    def create_run(
        self,
        *,
        experiment: str | None = None,
        name: str | None = None,
        tags: Mapping[str, Any] | None = None,
        parent_run_id: RunId | None = None,
        capture: bool | None = None,
    ) -> Run:
        """Start a new run on the server; see :meth:`TrackingService.create_run`. The
        environment is captured in this process and sent as tags."""
        tag_values = keys.check_texts("tag", tags or {})
        if capture if capture is not None else self.settings.capture_env:
            from loopml.tracking.capture import capture_environment

            captured = capture_environment(user=current_user(self.settings))
            tag_values = {**captured.tags, **tag_values}
        else:
            captured = None
        body = {
            "experiment": experiment
            if experiment is not None or parent_run_id is not None
            else self.settings.experiment,
            "name": keys.check_name("run", name) if name is not None else None,
            "tags": tag_values,
            "parent_run_id": parent_run_id,
        }
        run = self.transport.post("/runs", Run, body, idempotency_key=new_idempotency_key())
        self._running.add(run.run_id)
        if captured is not None:
            for path, data in captured.files.items():
                self.artifacts.log_bytes(run.run_id, data, path)
        return run

    def resume_run(self, run_id: str) -> Run:
        """Reopen a run by id; see :meth:`TrackingService.resume_run`."""
        path = _run_path(run_id, "/resume")
        run = self.transport.post(path, Run, idempotency_key=new_idempotency_key())
        self._running.add(run.run_id)
        return run

    def end_run(
        self,
        run_id: RunId,
        *,
        status: RunStatus = RunStatus.FINISHED,
        error: BaseException | str | None = None,
    ) -> None:
        """Send the run's buffered metrics, then record its end; see
        :meth:`TrackingService.end_run`."""
        inputs.check_final_status(status)
        self.writer.flush()
        message = format_error(error) if isinstance(error, BaseException) else error
        body = {"status": status.value, "error": message}
        path = _run_path(run_id, "/end")
        self.transport.post(path, Run, body, idempotency_key=new_idempotency_key())
        self._running.discard(run_id)

    def require_running(self, run_id: RunId) -> None:
        """Raise ConflictError unless the run exists and is RUNNING."""
        inputs.require_running(run_id, self._running, self.get_run)

    # -- logging ----------------------------------------------------------------------------

    def log_params(self, run_id: RunId, params: Mapping[str, Any]) -> None:
        """Log write-once params (sent at once; safe to send again)."""
        self._send_texts(run_id, "param", params)

    def set_tags(self, run_id: RunId, tags: Mapping[str, Any]) -> None:
        """Set (or overwrite) tags (sent at once; safe to send again)."""
        self._send_texts(run_id, "tag", tags)

    def _send_texts(
        self, run_id: RunId, kind: Literal["param", "tag"], values: Mapping[str, Any]
    ) -> None:
        """Check params or tags here, then send them (``POST /runs/{id}/params|tags``)."""
        checked = keys.check_texts(kind, values)
        if checked:
            self.transport.request(
                "POST",
                _run_path(run_id, f"/{kind}s"),
                json={f"{kind}s": checked},
                idempotency_key=new_idempotency_key(),
            )

    def log_batch(
        self,
        run_id: RunId,
        *,
        metrics: Sequence[MetricPoint] = (),
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> None:
        """Write metric points, params and tags now (not buffered)."""
        inputs.write_batch(self, run_id, metrics=metrics, params=params, tags=tags)

    def log_metric_batch(
        self, points: Sequence[tuple[RunId, MetricPoint]], *, batch_key: str | None = None
    ) -> bool:
        """Write metric points of any runs now, in one request applied once per
        ``batch_key`` (a fresh key when None); see :meth:`TrackingService.log_metric_batch`."""
        checked = [(run_id, keys.check_point(point)) for run_id, point in points]
        if not checked:
            return True
        self.writer.flush()  # keep log order: buffered points first
        return BatchSink(self.transport).log_metrics(checked, batch_key=batch_key)

    def flush(self) -> None:
        """Send every buffered metric point now."""
        self.writer.flush()

    # -- artifacts --------------------------------------------------------------------------

    def log_artifact(
        self,
        run_id: RunId,
        source: Any,
        *,
        name: str | None = None,
        artifact_path: str | None = None,
    ) -> list[ArtifactEntry]:
        """Log a file, folder, bytes, DataFrame, Arrow table or figure: the bytes go through
        the server's artifact proxy (chunked, checked against their digest), then the server
        indexes them on the run."""
        self.require_running(run_id)
        return self.artifacts.log(run_id, source, name=name, artifact_path=artifact_path)

    def register_artifacts(
        self, run_id: RunId, entries: Sequence[ArtifactEntry]
    ) -> list[ArtifactEntry]:
        """Index blobs already uploaded through the artifact proxy on a running run."""
        body = {"entries": [e.to_dict() for e in entries]}
        return self.transport.post(
            _run_path(run_id, "/artifacts"),
            list[ArtifactEntry],
            body,
            idempotency_key=new_idempotency_key(),
        )

    def log_dict(self, run_id: RunId, data: Mapping[str, Any], name: str) -> ArtifactEntry:
        """Log a dict as JSON (``.json``) or YAML (``.yaml``)."""
        from loopml.tracking.payloads import dict_to_bytes

        self.require_running(run_id)
        return self.artifacts.log_bytes(run_id, dict_to_bytes(data, name), name)

    def list_artifacts(self, run_id: str) -> list[ArtifactEntry]:
        """Return the artifact index of a run."""
        return self.transport.get(_run_path(run_id, "/artifacts"), list[ArtifactEntry])

    def read_artifact(self, run_id: str, path: str) -> bytes:
        """Return one artifact's bytes (verified against its digest here)."""
        _run_path(run_id)
        return self.artifacts.read_bytes(RunId(run_id), path)

    def download_artifacts(self, run_id: str, path: str, dest: Path) -> Path:
        """Copy an artifact or folder of artifacts of a run into ``dest``."""
        _run_path(run_id)
        return self.artifacts.download(RunId(run_id), path, dest)

    # -- reading ----------------------------------------------------------------------------

    def get_run(self, run_id: str) -> Run:
        """Return a run (after sending this process's buffered metrics, so reads see them)."""
        path = _run_path(run_id)
        if self.writer.pending:
            self.writer.flush()
        return self.transport.get(path, Run)

    def resolve_run_id(self, prefix: str) -> RunId:
        """Expand a unique prefix of a run id (at least 4 hex digits) to the full id."""
        if not isinstance(prefix, str) or not prefix.strip():
            raise InvalidArgumentError(f"A run id or prefix must be hex digits; got {prefix!r}.")
        return self.transport.get(f"/runs/{segment(prefix.strip())}", Run).run_id

    def get_metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        """Return every point of one metric, by step then time."""
        path = _run_path(run_id, "/metric-history")
        key = keys.check_key("metric", key)
        if self.writer.pending:
            self.writer.flush()
        return self.transport.get(path, list[MetricPoint], key=key)

    def delete_run(self, run_id: str, *, purge: bool = False) -> None:
        """Soft-delete a run, or with ``purge`` remove its metadata (admin role)."""
        self.transport.request("DELETE", _run_path(run_id), params={"purge": purge})
        self._running.discard(RunId(run_id))

    def restore_run(self, run_id: str) -> Run:
        """Bring back a soft-deleted run (admin role)."""
        return self.transport.post(_run_path(run_id, "/restore"), Run)

    def build_query(
        self,
        experiments: str | Sequence[str] | None = None,
        *,
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        limit: int | None = None,
        offset: int = 0,
        include_deleted: bool = False,
    ) -> tuple[RunQuery, dict[str, Experiment]]:
        """Turn user arguments into a typed query and the experiments it spans (the
        experiments read from the server)."""
        return inputs.build_run_query(
            self.experiments,
            experiments,
            filter=filter,
            order_by=order_by,
            limit=limit,
            offset=offset,
            include_deleted=include_deleted,
        )

    def search_runs(
        self,
        experiments: str | Sequence[str] | None = None,
        *,
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        limit: int | None = None,
        offset: int = 0,
        include_deleted: bool = False,
    ) -> list[Run]:
        """Search runs on the server (see :func:`loopml.search_runs`) as ``Run`` objects."""
        names = [experiments] if isinstance(experiments, str) else experiments
        if names is not None and not list(names):
            return []
        if self.writer.pending:  # a process sees its own metrics
            self.writer.flush()
        return self.transport.get(
            "/runs",
            list[Run],
            experiments=None if names is None else list(names),
            filter=filter,
            order_by=None if order_by is None else list(order_by),
            limit=keys.check_limit(limit),
            offset=keys.check_offset(offset),
            include_deleted=include_deleted,
        )

    def search_frame(
        self,
        experiments: str | Sequence[str] | None = None,
        *,
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        limit: int | None = None,
        offset: int = 0,
        include_deleted: bool = False,
    ) -> pd.DataFrame:
        """Search runs as a wide DataFrame (built here from the server's runs)."""
        from loopml.tracking.search import runs_to_frame

        runs = self.search_runs(
            experiments,
            filter=filter,
            order_by=order_by,
            limit=limit,
            offset=offset,
            include_deleted=include_deleted,
        )
        by_id: dict[str, Experiment] = {}
        if runs:
            by_id = {e.experiment_id: e for e in self.experiments.list()}
        return runs_to_frame(runs, by_id)
