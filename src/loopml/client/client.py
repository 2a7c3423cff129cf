"""``LoopmlClient``: the explicit, object-style SDK over one store."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast, overload

from loopml.client.run_handle import ActiveRun
from loopml.core.entities import ArtifactEntry, Event, Experiment, MetricPoint, Run
from loopml.core.errors import InvalidArgumentError, LoopmlError, did_you_mean
from loopml.core.ids import RunId
from loopml.core.settings import Settings, resolve_settings
from loopml.data import DatasetService
from loopml.store.backend import Backend, open_backend
from loopml.tracking import TrackingService

if TYPE_CHECKING:
    import pandas as pd

    from loopml.automation import LoopService
    from loopml.evaluation import EvaluationService
    from loopml.health import MonitorService
    from loopml.registry import ModelRegistry
    from loopml.serving.deployments import DeploymentService
    from loopml.store.remote import Transport
    from loopml.store.remote.artifacts import RemoteArtifactStore


def _store_only(what: str, url: str) -> LoopmlError:
    return LoopmlError(
        f"{what} needs the store itself, and this client talks to the loopml server at {url} "
        "(LOOPML_SERVER_URL is set). Run it on the server's host with the store's own "
        "settings (LOOPML_HOME / LOOPML_DB_URL, and LOOPML_SERVER_URL unset)."
    )


class LoopmlClient:
    """The SDK over one store, with every run named by id.

    Args:
        home: Folder of the embedded store (overrides ``LOOPML_HOME``).
        db_url: Metadata store URL (overrides ``LOOPML_DB_URL``).
        artifacts_url: Artifact store URL (overrides ``LOOPML_ARTIFACTS_URL``).
        settings: Fully resolved settings (then the other arguments must be None).
        create: Create the store if there is none yet (the default); with False, a missing
            store raises NotFoundError and nothing is created (what read-only tools want).

    Example:
        >>> client = loopml.LoopmlClient()  # doctest: +SKIP
        >>> client.search_runs("churn", filter="metrics.auc > 0.8", limit=5)  # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        home: str | Path | None = None,
        db_url: str | None = None,
        artifacts_url: str | None = None,
        settings: Settings | None = None,
        create: bool = True,
    ) -> None:
        if settings is None:
            settings = resolve_settings(
                {"home": home, "db_url": db_url, "artifacts_url": artifacts_url}
            )
        self.settings = settings
        self._transport: Transport | None = None
        self._backend: Backend | None = None
        remote = self._remote()
        if remote is None:
            backend = self._backend = open_backend(settings, create=create)
            self.service = TrackingService(backend)
            self.datasets = DatasetService(backend)
        else:  # the SDK's remote mode: the same methods, through the server's services
            from loopml.client.remote.datasets import RemoteDatasets
            from loopml.client.remote.tracking import RemoteTracking

            self.service = cast(TrackingService, RemoteTracking(remote, settings))
            artifacts = self._remote_artifacts(remote)
            self.datasets = cast(DatasetService, RemoteDatasets(remote, artifacts=artifacts))
        self._models: ModelRegistry | None = None
        self._evaluations: EvaluationService | None = None
        self._monitoring: MonitorService | None = None
        self._deployments: DeploymentService | None = None
        self._loops: LoopService | None = None

    @staticmethod
    def _remote_artifacts(remote: Transport) -> RemoteArtifactStore:
        """The server's artifact proxy, over the client's one transport."""
        from loopml.store.remote.artifacts import RemoteArtifactStore

        return RemoteArtifactStore(remote.url, transport=remote)

    def _remote(self) -> Transport | None:
        """The server's transport when ``server_url`` is set (the SDK's remote mode)."""
        if not self.settings.server_url:
            return None
        if self._transport is None:
            from loopml.client.remote.connection import shared_transport

            self._transport = shared_transport(self.settings.server_url, self.settings.token)
        return self._transport

    @property
    def backend(self) -> Backend:
        """The stores themselves (embedded mode only: a remote client has none).

        Raises:
            LoopmlError: The client talks to a server (LOOPML_SERVER_URL is set).
        """
        if self._backend is None:
            raise _store_only("LoopmlClient.backend", str(self.settings.server_url))
        return self._backend

    @property
    def models(self) -> ModelRegistry:
        """The model registry (created on first use: it imports NumPy and pandas)."""
        if self._models is None:
            from loopml.registry import ModelRegistry

            remote = self._remote()
            if remote is not None:
                from loopml.client.remote.models import RemoteModels

                self._models = cast(
                    ModelRegistry,
                    RemoteModels(
                        remote,
                        self.settings,
                        artifacts=self._remote_artifacts(remote),
                        datasets=self.datasets,
                    ),
                )
            else:
                self._models = ModelRegistry(self.backend)
        return self._models

    @property
    def evaluations(self) -> EvaluationService:
        """Evaluations and release gates (created on first use)."""
        if self._evaluations is None:
            from loopml.evaluation import EvaluationService

            remote = self._remote()
            if remote is not None:
                from loopml.client.remote.evaluations import RemoteEvaluations

                self._evaluations = cast(
                    EvaluationService,
                    RemoteEvaluations(remote, models=self.models, datasets=self.datasets),
                )
            else:
                self._evaluations = EvaluationService(self.backend)
        return self._evaluations

    @property
    def monitoring(self) -> MonitorService:
        """Monitoring: drift, performance and concept drift per window (created on first use)."""
        if self._monitoring is None:
            from loopml.health import MonitorService

            remote = self._remote()
            if remote is not None:
                from loopml.client.remote.monitoring import RemoteMonitoring

                self._monitoring = cast(MonitorService, RemoteMonitoring(remote))
            else:
                self._monitoring = MonitorService(self.backend)
        return self._monitoring

    @property
    def deployments(self) -> DeploymentService:
        """Deployment records, which model servers follow (created on first use)."""
        if self._deployments is None:
            from loopml.serving.deployments import DeploymentService

            remote = self._remote()
            if remote is not None:
                from loopml.client.remote.deployments import RemoteDeployments

                self._deployments = cast(DeploymentService, RemoteDeployments(remote))
            else:
                self._deployments = DeploymentService(self.models)
        return self._deployments

    @property
    def loops(self) -> LoopService:
        """The closed loop's runs, steps and timelines (created on first use)."""
        if self._loops is None:
            from loopml.automation import LoopService

            self._loops = LoopService(self.backend)
        return self._loops

    def _registry(self) -> ModelRegistry:
        return self.models

    # -- runs -------------------------------------------------------------------------------

    def start_run(
        self,
        experiment: str | None = None,
        *,
        name: str | None = None,
        tags: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        parent_run_id: str | None = None,
        capture: bool | None = None,
    ) -> ActiveRun:
        """Start a new run, or resume one by ``run_id``; see :func:`loopml.start_run`."""
        if run_id is not None:
            return ActiveRun(
                self.service,
                self.service.resume_run(run_id),
                datasets=self.datasets,
                models=self._registry,
            )
        parent = self.service.get_run(parent_run_id).run_id if parent_run_id else None
        run = self.service.create_run(
            experiment=experiment, name=name, tags=tags, parent_run_id=parent, capture=capture
        )
        return ActiveRun(self.service, run, datasets=self.datasets, models=self._registry)

    def get_run(self, run_id: str) -> Run:
        """Return a run with its params, latest metrics and tags."""
        return self.service.get_run(run_id)

    def delete_run(self, run_id: str, *, purge: bool = False) -> None:
        """Soft-delete a run, or remove its metadata with ``purge=True``."""
        self.service.delete_run(run_id, purge=purge)

    def restore_run(self, run_id: str) -> Run:
        """Bring back a soft-deleted run; returns it. A purged run is gone for good."""
        return self.service.restore_run(run_id)

    def log_param(self, run_id: str, key: str, value: Any) -> None:
        """Log a write-once param on a running run."""
        self.service.log_params(RunId(run_id), {key: value})

    def log_metric(
        self, run_id: str, key: str, value: float, *, step: int = 0, timestamp: int | None = None
    ) -> None:
        """Log a metric point on a running run (buffered)."""
        self.service.log_metric(RunId(run_id), key, value, step=step, timestamp=timestamp)

    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Sequence[MetricPoint] = (),
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> None:
        """Write metric points, params and tags now (not buffered)."""
        self.service.log_batch(RunId(run_id), metrics=metrics, params=params, tags=tags)

    def set_tag(self, run_id: str, key: str, value: Any) -> None:
        """Set a tag on a running run."""
        self.service.set_tags(RunId(run_id), {key: value})

    def get_metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        """Return every point logged for one metric of a run."""
        return self.service.get_metric_history(run_id, key)

    def list_artifacts(self, run_id: str) -> list[ArtifactEntry]:
        """Return a run's artifacts (path, digest, size)."""
        return self.service.list_artifacts(run_id)

    def read_artifact(self, run_id: str, path: str) -> bytes:
        """Return an artifact's bytes, verified against its hash."""
        return self.service.read_artifact(run_id, path)

    def download_artifacts(self, run_id: str, path: str, dest: str | Path) -> Path:
        """Copy an artifact (or a folder of them) into ``dest``; returns the local path."""
        return self.service.download_artifacts(run_id, path, Path(dest))

    def flush(self) -> None:
        """Write buffered metrics now."""
        self.service.flush()

    # -- audit events -----------------------------------------------------------------------

    def events(
        self,
        *,
        subject: str | None = None,
        kind: str | None = None,
        since: int | None = None,
        limit: int | None = 100,
    ) -> list[Event]:
        """Return audit events (oldest first; ``limit`` keeps the newest).

        Args:
            subject: ``dataset:flights@3`` for one object, or ending in ``@`` or ``*`` for a
                prefix (``dataset:flights@``: every version of flights).
            kind: e.g. ``dataset.registered``.
            since: Only events at or after this time (ms since the epoch).
            limit: At most this many (the newest); None for all.
        """
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 1
        ):
            raise InvalidArgumentError(f"limit must be a positive integer or None; got {limit!r}.")
        remote = self._remote()
        if remote is not None:  # the server reads its own log (GET /events, the same rules)
            from loopml.store.remote import decode

            query = {"subject": subject, "kind": kind, "since": since, "limit": limit or 10_000}
            answer = remote.request("GET", "/events", params={k: v for k, v in query.items() if v})
            return decode(list[Event], answer.json())
        prefix = None
        if subject is not None and (subject.endswith("*") or subject.endswith("@")):
            prefix, subject = subject.rstrip("*"), None
        return self.backend.events.list_events(
            subject=subject, subject_prefix=prefix, kind=kind, since=since, limit=limit
        )

    # -- experiments and search -------------------------------------------------------------

    def list_experiments(self) -> list[Experiment]:
        """Return every experiment, by name."""
        return self.service.experiments.list()

    def get_experiment(self, name: str) -> Experiment:
        """Return an experiment by name."""
        return self.service.experiments.get(name)

    @overload
    def search_runs(
        self,
        experiments: str | Sequence[str] | None = ...,
        *,
        filter: str | None = ...,
        order_by: Sequence[str] | None = ...,
        limit: int | None = ...,
        include_deleted: bool = ...,
        output: Literal["pandas"] = ...,
    ) -> pd.DataFrame: ...
    @overload
    def search_runs(
        self,
        experiments: str | Sequence[str] | None = ...,
        *,
        filter: str | None = ...,
        order_by: Sequence[str] | None = ...,
        limit: int | None = ...,
        include_deleted: bool = ...,
        output: Literal["runs"],
    ) -> list[Run]: ...

    @overload
    def search_runs(
        self,
        experiments: str | Sequence[str] | None = ...,
        *,
        filter: str | None = ...,
        order_by: Sequence[str] | None = ...,
        limit: int | None = ...,
        include_deleted: bool = ...,
        output: str,
    ) -> pd.DataFrame | list[Run]: ...

    def search_runs(
        self,
        experiments: str | Sequence[str] | None = None,
        *,
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        limit: int | None = None,
        include_deleted: bool = False,
        output: str = "pandas",
    ) -> pd.DataFrame | list[Run]:
        """Search runs; see :func:`loopml.search_runs`."""
        if output == "runs":
            return self.service.search_runs(
                experiments,
                filter=filter,
                order_by=order_by,
                limit=limit,
                include_deleted=include_deleted,
            )
        if output != "pandas":
            raise InvalidArgumentError(
                f"output must be 'pandas' or 'runs'; got {output!r}."
                + did_you_mean(str(output), ["pandas", "runs"])
            )
        return self.service.search_frame(
            experiments,
            filter=filter,
            order_by=order_by,
            limit=limit,
            include_deleted=include_deleted,
        )
