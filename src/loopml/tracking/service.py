"""The tracking service: experiments, runs, params, metrics, tags, artifacts and search.

The rules shared by every backend live here, written once: key and value validation,
write-once params, 'an ended run is immutable', buffered metrics, environment capture.

A run's life is in the audit log: it is created, ended (or resumed), deleted, restored or
purged with an event in the same transaction (``run.created``, ``run.ended``,
``run.resumed``, ``run.deleted``, ``run.restored``, ``run.purged``; subject ``run:<id>``).
What is logged on a run (params, metrics, tags, artifacts) is not: it is the run's content.
"""

from __future__ import annotations

import logging
import threading
import traceback
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml.core.clock import Clock, now_ms
from loopml.core.entities import ArtifactEntry, Event, Experiment, MetricPoint, Run, RunStatus
from loopml.core.errors import ConflictError, LoopmlError
from loopml.core.id_prefix import resolve_prefix
from loopml.core.ids import RunId, new_event_id, new_run_id
from loopml.core.settings import current_user
from loopml.store.backend import Backend
from loopml.store.protocols import TrackingStore
from loopml.store.query import Comparison, FieldRef, RunQuery
from loopml.tracking import inputs, keys
from loopml.tracking.artifact_log import ArtifactLog
from loopml.tracking.capture import capture_environment
from loopml.tracking.experiments import ExperimentCatalog
from loopml.tracking.search import runs_to_frame
from loopml.tracking.writer import MetricWriter

if TYPE_CHECKING:
    import pandas as pd

MAX_ERROR_CHARS = 20_000
_log = logging.getLogger(__name__)

_writers_lock = threading.Lock()
_writers: weakref.WeakKeyDictionary[TrackingStore, MetricWriter] = weakref.WeakKeyDictionary()


def _writer_for(store: TrackingStore, interval: float) -> MetricWriter:
    """One writer per store per process, shared by every service on it."""
    with _writers_lock:
        writer = _writers.get(store)
        if writer is None:
            writer = _writers[store] = MetricWriter(store, interval=interval)
        return writer


def format_error(exc: BaseException) -> str:
    """Render an exception as ``Type: message`` plus its traceback, bounded in size."""
    text = "".join(traceback.format_exception(exc))
    if len(text) > MAX_ERROR_CHARS:
        text = text[: MAX_ERROR_CHARS // 2] + "\n...\n" + text[-MAX_ERROR_CHARS // 2 :]
    return text


class TrackingService(inputs.BufferedMetrics):
    """Everything the SDK and CLI do with runs, over one :class:`Backend`.

    Args:
        backend: The stores to use.
        clock: Millisecond clock (injectable for tests).
        cache_running: Remember the runs this service saw RUNNING, so that logging to them
            reads no run. False for a server: one of its workers may end a run another saw
            running, so each write reads the run's status (metric points always have it
            read in their own transaction by the store).
    """

    def __init__(
        self, backend: Backend, *, clock: Clock = now_ms, cache_running: bool = True
    ) -> None:
        self.backend = backend
        self.store = backend.tracking
        self.settings = backend.settings
        self.artifacts = ArtifactLog(backend.tracking, backend.artifacts)
        self.writer = _writer_for(backend.tracking, backend.settings.flush_interval)
        self.experiments = ExperimentCatalog(backend.tracking, clock=clock)
        self._clock = clock
        self._running: set[RunId] = set()
        self._cache_running = cache_running

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
        """Start a new run (status RUNNING) and capture its environment.

        Args:
            experiment: Experiment name; created if missing. Default: the parent run's
                experiment for a nested run, else the settings' one.
            name: Run name. Default: ``run-`` plus the first 8 digits of its id.
            tags: Initial tags.
            parent_run_id: The enclosing run of a nested run.
            capture: Capture git/entry point/packages/host. Default: settings.capture_env.
        """
        parent = self.get_run(parent_run_id) if parent_run_id is not None else None
        if experiment is None and parent is not None:
            exp = self.store.get_experiment(parent.experiment_id)
        else:
            exp = self.experiments.get_or_create(experiment or self.settings.experiment)
        run_id = new_run_id()
        name = keys.check_name("run", name) if name is not None else f"run-{run_id[:8]}"
        tag_values = keys.check_texts("tag", tags or {})
        captured = None
        if capture if capture is not None else self.settings.capture_env:
            captured = capture_environment(user=current_user(self.backend.settings))
            tag_values = {**captured.tags, **tag_values}
        run = Run(
            run_id=run_id,
            experiment_id=exp.experiment_id,
            name=name,
            status=RunStatus.RUNNING,
            start_time=self._clock(),
            parent_run_id=parent_run_id,
            tags=tag_values,
        )
        links: dict[str, str] = {"experiment": exp.experiment_id}
        if parent_run_id is not None:
            links["parent"] = parent_run_id
        event = self._event(
            "run.created", run, data={"name": name, "experiment": exp.name}, links=links
        )
        self.store.create_run(run, event=event)
        self._running.add(run_id)
        if captured is not None:
            for path, data in captured.files.items():
                self.artifacts.log_bytes(run_id, data, path)
        return run

    def resume_run(self, run_id: str) -> Run:
        """Reopen a run by id to log more to it.

        A RUNNING run (for example from another process) is used as is; a FAILED or KILLED
        run is set back to RUNNING; a FINISHED run is immutable and is refused.
        """
        run = self.get_run(run_id)
        if run.status is RunStatus.FINISHED:
            raise ConflictError(
                f"Run {run.run_id} is FINISHED, and finished runs are immutable. Start a new "
                f"run instead (e.g. start_run(tags={{'resumed_from': '{run.run_id}'}}))."
            )
        if run.status is not RunStatus.RUNNING:
            event = self._event("run.resumed", run, data={"from": run.status.value})
            self.store.end_run(
                run.run_id, status=RunStatus.RUNNING, end_time=None, error=None, event=event
            )
        self._running.add(run.run_id)
        return self.get_run(run.run_id)

    def end_run(
        self,
        run_id: RunId,
        *,
        status: RunStatus = RunStatus.FINISHED,
        error: BaseException | str | None = None,
    ) -> None:
        """Flush the run's metrics and record its end (status, end time, error)."""
        inputs.check_final_status(status)
        self.writer.flush()
        message = format_error(error) if isinstance(error, BaseException) else error
        if message is not None:  # free text: NULs and lone surrogates kept as escapes
            message = message.encode("utf-8", "backslashreplace").decode().replace("\0", "\\x00")
        end = self._clock()
        event = self._event("run.ended", run_id, data={"status": status.value}, at=end)
        self.store.end_run(run_id, status=status, end_time=end, error=message, event=event)
        self._running.discard(run_id)
        self._prune_batch_keys(now=end)

    def _prune_batch_keys(self, *, now: int | None = None) -> int:
        """Forget the metric batches' idempotency keys older than the retry window
        (``settings.retry_window`` hours), at most 10,000 per call; return how many.

        Called at each run's end, so the keys a server keeps stay those of the last day's
        batches (a few hundred bytes each). A failure is logged, never raised: the run's end
        is committed, and the keys go at the next end.
        """
        window_ms = int(self.settings.retry_window * 3_600_000)
        cutoff = (self._clock() if now is None else now) - window_ms
        try:
            return self.store.prune_batch_keys(applied_before=cutoff)
        except LoopmlError as exc:
            _log.warning("The metric batch keys were not pruned this time: %s", exc)
            return 0

    def _event(
        self,
        kind: str,
        run: Run | RunId,
        *,
        data: Mapping[str, Any] | None = None,
        links: Mapping[str, str] | None = None,
        at: int | None = None,
    ) -> Event:
        """The audit event of a change of a run's life (written with the change)."""
        run_id = run.run_id if isinstance(run, Run) else run
        return Event(
            event_id=new_event_id(),
            kind=kind,
            subject=f"run:{run_id}",
            actor=current_user(self.settings),
            at=self._clock() if at is None else at,
            links=dict(links or {}),
            data=dict(data or {}),
        )

    def require_running(self, run_id: RunId) -> None:
        """Raise ConflictError unless the run exists and is RUNNING (ended runs are immutable)."""
        known = self._running if self._cache_running else set()
        inputs.require_running(run_id, known, self.get_run)

    # -- logging ----------------------------------------------------------------------------

    def log_params(self, run_id: RunId, params: Mapping[str, Any]) -> None:
        """Log write-once params; the same value again is fine, another value is an error."""
        values = keys.check_texts("param", params)
        self.require_running(run_id)
        if values:
            self.store.log_params(run_id, values)

    def set_tags(self, run_id: RunId, tags: Mapping[str, Any]) -> None:
        """Set (or overwrite) tags."""
        values = keys.check_texts("tag", tags)
        self.require_running(run_id)
        if values:
            self.store.set_tags(run_id, values)

    def log_batch(
        self,
        run_id: RunId,
        *,
        metrics: Sequence[MetricPoint] = (),
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> None:
        """Write metric points, params and tags now (not buffered), one transaction each."""
        inputs.write_batch(self, run_id, metrics=metrics, params=params, tags=tags)

    def log_metric_batch(
        self, points: Sequence[tuple[RunId, MetricPoint]], *, batch_key: str | None = None
    ) -> bool:
        """Write metric points of any runs now, in one transaction, once per ``batch_key``.

        What a server does with a batch from the remote SDK's writer: every point is checked,
        then the points and the key are written together, so a batch sent again after a lost
        answer is not applied twice. Every run must be RUNNING: the store reads their status
        in the batch's transaction (no process's memory of it), so a run ended by another
        process or server worker takes no point after its end.

        Returns:
            False when ``batch_key`` was applied before (nothing written), else True.

        Raises:
            NotFoundError: A run does not exist (nothing is written).
            ConflictError: A run has ended (nothing is written).
        """
        checked = [(run_id, keys.check_point(point)) for run_id, point in points]
        if not checked:
            return True
        self.writer.flush()  # keep log order: buffered points first
        return self.store.log_metrics(checked, batch_key=batch_key)

    def flush(self) -> None:
        """Write every buffered metric point now."""
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
        """Log a file, folder, bytes, DataFrame, Arrow table or figure; see ArtifactLog."""
        self.require_running(run_id)
        return self.artifacts.log(run_id, source, name=name, artifact_path=artifact_path)

    def register_artifacts(
        self, run_id: RunId, entries: Sequence[ArtifactEntry]
    ) -> list[ArtifactEntry]:
        """Index blobs already in the artifact store (uploaded through the server's artifact
        proxy) on a running run; see :meth:`ArtifactLog.register`."""
        self.require_running(run_id)
        return self.artifacts.register(run_id, entries)

    def log_dict(self, run_id: RunId, data: Mapping[str, Any], name: str) -> ArtifactEntry:
        """Log a dict as JSON (``.json``) or YAML (``.yaml``)."""
        from loopml.tracking.payloads import dict_to_bytes

        self.require_running(run_id)
        return self.artifacts.log_bytes(run_id, dict_to_bytes(data, name), name)

    def list_artifacts(self, run_id: str) -> list[ArtifactEntry]:
        """Return the artifact index of a run."""
        return self.store.list_artifacts(self.get_run(run_id).run_id)

    def read_artifact(self, run_id: str, path: str) -> bytes:
        """Return one artifact's bytes (verified)."""
        return self.artifacts.read_bytes(self.get_run(run_id).run_id, path)

    def download_artifacts(self, run_id: str, path: str, dest: Path) -> Path:
        """Copy an artifact or folder of artifacts of a run into ``dest``."""
        return self.artifacts.download(self.get_run(run_id).run_id, path, dest)

    # -- reading ----------------------------------------------------------------------------

    def get_run(self, run_id: str) -> Run:
        """Return a run (after writing this process's buffered metrics, so reads see them)."""
        checked = inputs.check_run_id(run_id)
        if self.writer.pending:
            self.writer.flush()
        return self.store.get_run(checked)

    def resolve_run_id(self, prefix: str) -> RunId:
        """Expand a unique prefix of a run id (at least 4 hex digits) to the full id; see
        :func:`loopml.core.id_prefix.resolve_prefix`."""

        def candidates(start: str, limit: int) -> list[str]:
            exps = tuple(e.experiment_id for e in self.experiments.list())
            if not exps:
                return []
            where = Comparison(FieldRef("attribute", "run_id"), "like", f"{start}%")
            query = RunQuery(experiment_ids=exps, where=where, limit=limit, include_deleted=True)
            return [run.run_id for run in self.store.search_runs(query)]

        return RunId(
            resolve_prefix(prefix, kind="run", listing="loopml runs list", candidates=candidates)
        )

    def get_metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        """Return every point of one metric, by step then time."""
        run = self.get_run(run_id)
        return self.store.get_metric_history(run.run_id, keys.check_key("metric", key))

    def delete_run(self, run_id: str, *, purge: bool = False) -> None:
        """Soft-delete a run (hidden from searches), or with ``purge`` remove its metadata.

        A soft-deleted run keeps everything and comes back with :meth:`restore_run`. Artifact
        bytes stay in the content-addressed store (other runs may share them).
        """
        run = self.get_run(run_id)
        if purge:
            self.store.purge_run(run.run_id, event=self._event("run.purged", run))
        else:
            self.store.set_run_deleted(run.run_id, True, event=self._event("run.deleted", run))
        self._running.discard(run.run_id)

    def restore_run(self, run_id: str) -> Run:
        """Bring back a soft-deleted run (searches show it again); a no-op for a run that is
        not deleted. A purged run is gone for good (NotFoundError)."""
        run = self.get_run(run_id)
        if run.deleted:
            event = self._event("run.restored", run)
            self.store.set_run_deleted(run.run_id, False, event=event)
            run = self.get_run(run.run_id)
        return run

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
        """Turn user arguments into a typed query and the experiments it spans (``offset``:
        the matching runs to skip, for pages)."""
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
        """Search runs (see :func:`loopml.search_runs` for the arguments) as ``Run`` objects."""
        query, _ = self.build_query(
            experiments,
            filter=filter,
            order_by=order_by,
            limit=limit,
            offset=offset,
            include_deleted=include_deleted,
        )
        return self._find(query)

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
        """Search runs as a wide DataFrame (see :func:`runs_to_frame`)."""
        query, experiments_by_id = self.build_query(
            experiments,
            filter=filter,
            order_by=order_by,
            limit=limit,
            offset=offset,
            include_deleted=include_deleted,
        )
        return runs_to_frame(self._find(query), experiments_by_id)

    def _find(self, query: RunQuery) -> list[Run]:
        if self.writer.pending:  # a process sees its own metrics
            self.writer.flush()
        return self.store.search_runs(query) if query.experiment_ids else []
