"""``ActiveRun``: the handle ``start_run`` returns; a context manager that ends the run."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from loopml.core.entities import (
    ArtifactEntry,
    DatasetVersion,
    MetricPoint,
    ModelVersion,
    Run,
    RunStatus,
)
from loopml.core.errors import InvalidArgumentError
from loopml.core.ids import RunId
from loopml.data import DatasetService
from loopml.tracking import TrackingService

if TYPE_CHECKING:
    from loopml.registry import ModelRegistry


def exit_status(exc: BaseException | None) -> RunStatus:
    """The status a run ends with when its block exits with ``exc``.

    No exception, or ``SystemExit(0)``: FINISHED. Ctrl-C, SIGTERM or another ``SystemExit``:
    KILLED. Any other exception: FAILED.
    """
    if exc is None or (isinstance(exc, SystemExit) and exc.code in (0, None)):
        return RunStatus.FINISHED
    if isinstance(exc, KeyboardInterrupt | SystemExit):
        return RunStatus.KILLED
    return RunStatus.FAILED


class ActiveRun:
    """A run that is being logged to.

    Use it as a context manager: the run ends when the block ends, FINISHED on success,
    FAILED (with the error and traceback recorded) when the block raises, KILLED on Ctrl-C
    or SIGTERM. Buffered metrics are written before the run ends.

    Example:
        >>> with loopml.start_run(experiment="churn") as run:  # doctest: +SKIP
        ...     run.log_params({"max_depth": 6, "lr": 0.1})
        ...     for epoch in range(10):
        ...         run.log_metric("loss", 1 / (epoch + 1), step=epoch)
    """

    def __init__(
        self,
        service: TrackingService,
        run: Run,
        on_end: Callable[[ActiveRun], None] | None = None,
        *,
        datasets: DatasetService | None = None,
        models: Callable[[], ModelRegistry] | None = None,
    ) -> None:
        self._service = service
        self._datasets = datasets
        self._models = models
        self._run_id: RunId = run.run_id
        self._name = run.name
        self.on_end = on_end
        self.ended = False

    @property
    def run_id(self) -> RunId:
        """The run's id (32 hex digits)."""
        return self._run_id

    @property
    def name(self) -> str:
        """The run's name."""
        return self._name

    @property
    def info(self) -> Run:
        """The run as stored now, with its params, latest metrics and tags."""
        return self._service.get_run(self._run_id)

    def __repr__(self) -> str:
        return f"<ActiveRun {self._name!r} id={self._run_id}>"

    def log_param(self, key: str, value: Any) -> None:
        """Log one write-once param (stored as text)."""
        self._service.log_params(self._run_id, {key: value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log several write-once params in one write."""
        self._service.log_params(self._run_id, params)

    def log_metric(
        self, key: str, value: float, *, step: int = 0, timestamp: int | None = None
    ) -> None:
        """Log a metric value at ``step`` (buffered; costs no database round trip)."""
        self._service.log_metric(self._run_id, key, value, step=step, timestamp=timestamp)

    def log_metrics(
        self, metrics: Mapping[str, float], *, step: int = 0, timestamp: int | None = None
    ) -> None:
        """Log several metrics at one step (buffered)."""
        self._service.log_metrics(self._run_id, metrics, step=step, timestamp=timestamp)

    def log_batch(
        self,
        *,
        metrics: Sequence[MetricPoint] = (),
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> None:
        """Write many metric points, params and tags now, not buffered."""
        self._service.log_batch(self._run_id, metrics=metrics, params=params, tags=tags)

    def set_tag(self, key: str, value: Any) -> None:
        """Set one tag (tags, unlike params, may be overwritten while the run is running)."""
        self._service.set_tags(self._run_id, {key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set several tags."""
        self._service.set_tags(self._run_id, tags)

    def log_artifact(
        self, source: Any, *, name: str | None = None, artifact_path: str | None = None
    ) -> list[ArtifactEntry]:
        """Log a file, a folder, bytes (``name`` required), a pandas DataFrame or pyarrow Table
        (Parquet), a matplotlib figure (PNG) or a plotly figure (JSON).

        Args:
            source: What to log.
            name: File name inside the run (default: the file's own name, or
                ``data.parquet`` / ``figure.png`` / ``figure.plotly.json``).
            artifact_path: Folder inside the run to put it in.

        Returns:
            The index entries written (path, digest, size).
        """
        return self._service.log_artifact(
            self._run_id, source, name=name, artifact_path=artifact_path
        )

    def log_dict(self, data: Mapping[str, Any], name: str) -> ArtifactEntry:
        """Log a dict as a JSON (``name.json``) or YAML (``name.yaml``) artifact."""
        return self._service.log_dict(self._run_id, data, name)

    def log_input(self, dataset: DatasetVersion | str, *, role: str = "train") -> None:
        """Record that this run used a dataset version (``credit@3`` or a ``DatasetVersion``)
        in a role such as ``train``, ``validation`` or ``eval``."""
        if self._datasets is None:
            raise InvalidArgumentError(
                "This run handle has no dataset service; start the run "
                "with loopml.start_run() or LoopmlClient.start_run()."
            )
        self._service.require_running(self._run_id)
        self._datasets.log_input(self._run_id, dataset, role)

    def log_model(
        self,
        model: Any,
        name: str,
        *,
        input_example: Any = None,
        training_data: DatasetVersion | str | None = None,
        validation_data: DatasetVersion | str | None = None,
        flavor: str | None = None,
        description: str = "",
        tags: Mapping[str, Any] | None = None,
        code_commit: str | None = None,
        trusted_types: Sequence[str] = (),
    ) -> ModelVersion:
        """Register ``model`` as the next version of ``name``, produced by this run.

        The version links to this run, its code commit and the datasets given (which are
        also recorded as the run's inputs). The options are those of
        :func:`loopml.models.register` (one definition:
        :class:`~loopml.registry.RegisterOptions`), which documents them and their errors.

        Example:
            >>> with loopml.start_run(experiment="credit") as run:  # doctest: +SKIP
            ...     model = GradientBoostingClassifier().fit(X, y)
            ...     run.log_model(model, "credit-default", input_example=X.head(),
            ...                   training_data="credit@3")
        """
        if self._models is None:
            raise InvalidArgumentError(
                "This run handle has no model registry; start the run "
                "with loopml.start_run() or LoopmlClient.start_run()."
            )
        self._service.require_running(self._run_id)
        return self._models().register(
            model,
            name,
            input_example=input_example,
            training_data=training_data,
            validation_data=validation_data,
            run_id=self._run_id,
            flavor=flavor,
            description=description,
            tags=tags,
            code_commit=code_commit,
            trusted_types=trusted_types,
        )

    def flush(self) -> None:
        """Write buffered metrics now."""
        self._service.flush()

    def end(
        self, status: RunStatus | str = RunStatus.FINISHED, error: BaseException | str | None = None
    ) -> None:
        """End the run (idempotent)."""
        if self.ended:
            return
        self.ended = True
        try:
            self._service.end_run(self._run_id, status=RunStatus(status), error=error)
        finally:
            if self.on_end is not None:
                self.on_end(self)

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        status = exit_status(exc)
        self.end(status, error=exc if status is not RunStatus.FINISHED else None)
