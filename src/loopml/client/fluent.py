"""The fluent SDK: ``loopml.start_run()`` and friends, acting on the active run of the process.

Process lifecycle: runs still active at interpreter exit are ended (FAILED with the error
when the program died of an uncaught exception, KILLED after SIGTERM, else FINISHED), and
buffered metrics are written first. SIGTERM is turned into ``SystemExit(143)`` while a run
is active (only when no other SIGTERM handler is installed), so ``with`` blocks and
``finally`` clauses run and nothing logged is lost.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, Literal, overload

from loopml.client.client import LoopmlClient
from loopml.client.run_handle import ActiveRun
from loopml.core.entities import ArtifactEntry, Run, RunStatus
from loopml.core.errors import NotFoundError
from loopml.core.settings import Settings, resolve_settings

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class _ProcessState:
    """The fluent SDK's per-process state: the client, the run stack and how the process ends."""

    client: LoopmlClient | None = None
    hooks_installed: bool = False
    uncaught: BaseException | None = None
    killed_by_signal: bool = False
    previous_excepthook: Callable[..., Any] = field(default=sys.excepthook)


_stack: list[ActiveRun] = []
_lock = threading.RLock()
_state = _ProcessState()


def _get_client() -> LoopmlClient:
    """The process-wide client, rebuilt when the resolved settings change."""
    settings = resolve_settings()
    if _state.client is None or _state.client.settings != settings:
        _state.client = LoopmlClient(settings=settings)
    return _state.client


def reset_client() -> None:
    """Forget the process-wide client (the next call resolves the settings again)."""
    _state.client = None


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    if not _stack:  # no run to protect: behave as if loopml had never been here
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    _state.killed_by_signal = True
    raise SystemExit(128 + signum)


def _excepthook(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    _state.uncaught = exc
    _state.previous_excepthook(exc_type, exc, tb)


def _install_hooks() -> None:
    if _state.hooks_installed:
        return
    _state.hooks_installed = True
    _state.previous_excepthook = sys.excepthook
    sys.excepthook = _excepthook
    if threading.current_thread() is threading.main_thread():
        try:
            if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
                signal.signal(signal.SIGTERM, _on_sigterm)
        except (ValueError, OSError):  # not the main interpreter / platform without it
            pass
    atexit.register(_end_active_runs_at_exit)


def _end_active_runs_at_exit() -> None:
    error: BaseException | None = None
    if _state.uncaught is not None:
        status, error = RunStatus.FAILED, _state.uncaught
    elif _state.killed_by_signal:
        status = RunStatus.KILLED
    else:
        status = RunStatus.FINISHED
    while _stack:
        run = _stack[-1]
        try:
            run.end(status, error=error)
        except Exception as exc:
            print(f"loopml: could not end run {run.run_id} at exit: {exc}", file=sys.stderr)
            _stack.pop()


def _pop(run: ActiveRun) -> None:
    with _lock:
        if run in _stack:
            _stack.remove(run)


def start_run(
    experiment: str | None = None,
    *,
    name: str | None = None,
    tags: Mapping[str, Any] | None = None,
    run_id: str | None = None,
    capture: bool | None = None,
) -> ActiveRun:
    """Start a run (or resume one) and make it the active run.

    A run started while another is active is nested under it (its ``parent_run_id``).
    Use the result as a context manager so the run ends with the right status.

    Args:
        experiment: Experiment name, created on first use (default: ``LOOPML_EXPERIMENT``
            or ``"default"``).
        name: Run name (default: ``run-<first 8 hex digits of its id>``).
        tags: Initial tags.
        run_id: Resume this run instead of starting one: a RUNNING, FAILED or KILLED run
            takes more data; a FINISHED one is immutable and refused.
        capture: Record git commit/diff, entry point, Python, packages, host and user
            (default: ``LOOPML_CAPTURE_ENV``, on).

    Returns:
        The active run.

    Raises:
        InvalidArgumentError: A bad name or tag.
        NotFoundError: ``run_id`` does not exist.
        ConflictError: ``run_id`` names a FINISHED run.

    Example:
        >>> with loopml.start_run("churn", tags={"team": "risk"}) as run:  # doctest: +SKIP
        ...     run.log_param("max_depth", 6)
        ...     run.log_metric("auc", 0.91)
    """
    client = _get_client()
    with _lock:
        parent = _stack[-1].run_id if _stack and run_id is None else None
        active = client.start_run(
            experiment, name=name, tags=tags, run_id=run_id, parent_run_id=parent, capture=capture
        )
        active.on_end = _pop
        _stack.append(active)
        _install_hooks()
    return active


@contextmanager
def activated(settings: Settings, run_id: str) -> Iterator[ActiveRun]:
    """Make the RUNNING run ``run_id`` the active run for the block, without ending it.

    What a sweep trial's objective runs in, on any worker: ``loopml.active_run()`` and
    ``loopml.log_metric(...)`` reach the trial's run, in the store ``settings`` name (the
    driver's, not whatever the worker's folder resolves to). Whoever started the run ends it.
    """
    run = LoopmlClient(settings=settings).start_run(run_id=run_id)
    with _lock:
        _stack.append(run)
    try:
        yield run
    finally:
        _pop(run)


def active_run() -> ActiveRun | None:
    """Return the innermost active run, or None."""
    return _stack[-1] if _stack else None


def _require_active() -> ActiveRun:
    run = active_run()
    if run is None:
        raise NotFoundError(
            "No active run. Start one first: `with loopml.start_run(experiment=...) as run:`."
        )
    return run


def end_run(status: RunStatus | str = RunStatus.FINISHED) -> None:
    """End the innermost active run (no-op when there is none)."""
    run = active_run()
    if run is not None:
        run.end(status)


def log_param(key: str, value: Any) -> None:
    """Log a write-once param on the active run."""
    _require_active().log_param(key, value)


def log_params(params: Mapping[str, Any]) -> None:
    """Log write-once params on the active run."""
    _require_active().log_params(params)


def log_metric(key: str, value: float, *, step: int = 0, timestamp: int | None = None) -> None:
    """Log a metric on the active run (buffered: no database round trip per call)."""
    _require_active().log_metric(key, value, step=step, timestamp=timestamp)


def log_metrics(
    metrics: Mapping[str, float], *, step: int = 0, timestamp: int | None = None
) -> None:
    """Log several metrics at one step on the active run."""
    _require_active().log_metrics(metrics, step=step, timestamp=timestamp)


def set_tag(key: str, value: Any) -> None:
    """Set a tag on the active run."""
    _require_active().set_tag(key, value)


def set_tags(tags: Mapping[str, Any]) -> None:
    """Set tags on the active run."""
    _require_active().set_tags(tags)


def log_artifact(
    source: Any, *, name: str | None = None, artifact_path: str | None = None
) -> list[ArtifactEntry]:
    """Log a file, folder, bytes, DataFrame, Arrow table or figure on the active run."""
    return _require_active().log_artifact(source, name=name, artifact_path=artifact_path)


def log_dict(data: Mapping[str, Any], name: str) -> ArtifactEntry:
    """Log a dict as a JSON or YAML artifact on the active run."""
    return _require_active().log_dict(data, name)


def get_run(run_id: str) -> Run:
    """Return a run by id, with its params, latest metrics and tags."""
    return _get_client().get_run(run_id)


@overload
def search_runs(
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
    experiments: str | Sequence[str] | None = ...,
    *,
    filter: str | None = ...,
    order_by: Sequence[str] | None = ...,
    limit: int | None = ...,
    include_deleted: bool = ...,
    output: Literal["runs"],
) -> list[Run]: ...


def search_runs(
    experiments: str | Sequence[str] | None = None,
    *,
    filter: str | None = None,
    order_by: Sequence[str] | None = None,
    limit: int | None = None,
    include_deleted: bool = False,
    output: Literal["pandas", "runs"] = "pandas",
) -> pd.DataFrame | list[Run]:
    """Search runs of one or more experiments.

    Args:
        experiments: An experiment name, a list of names, or None for all experiments.
        filter: e.g. ``"metrics.auc > 0.8 and params.max_depth = '6' and tags.team = 'risk'"``.
            Fields: ``metrics.<key>`` (latest value), ``params.<key>``, ``tags.<key>``, and
            the attributes ``status``, ``name``, ``run_id``, ``start_time``, ``end_time``,
            ``parent_run_id``. Operators: ``= != < <= > >= like ilike in (...) not in (...)
            is null is not null``, combined with ``and``/``or`` and parentheses. Keys with
            other characters go in backticks: ``metrics.`val loss` < 0.3``.
        order_by: e.g. ``["metrics.auc desc", "start_time"]``; runs lacking the field last.
            Default: newest first.
        limit: At most this many runs (default: all).
        include_deleted: Include soft-deleted runs.
        output: ``"pandas"`` for a DataFrame (one row per run; ``params.*``, ``metrics.*`` and
            ``tags.*`` columns) or ``"runs"`` for a list of :class:`loopml.Run`.

    Raises:
        FilterSyntaxError: The filter or an order clause does not parse; the message points
            at the token.
        NotFoundError: An experiment does not exist.

    Example:
        >>> loopml.search_runs("churn", filter="metrics.auc > 0.8",  # doctest: +SKIP
        ...                    order_by=["metrics.auc desc"], limit=10)
    """
    return _get_client().search_runs(
        experiments,
        filter=filter,
        order_by=order_by,
        limit=limit,
        include_deleted=include_deleted,
        output=output,
    )
