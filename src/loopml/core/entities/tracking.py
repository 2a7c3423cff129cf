"""Tracking entities: experiments, runs and metric points.

Times are integer milliseconds since the epoch (UTC). Metric values are floats and may be
NaN or infinite: they are stored and returned faithfully.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from loopml.core.errors import ConflictError
from loopml.core.ids import ExperimentId, RunId
from loopml.core.jsonable import Jsonable


class RunStatus(enum.StrEnum):
    """Lifecycle of a run. Only ``RUNNING`` runs accept new data."""

    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @property
    def is_terminal(self) -> bool:
        """True once the run has ended (its data is then immutable)."""
        return self is not RunStatus.RUNNING

    def refusal(self, run_id: str) -> ConflictError:
        """The error for a write to run ``run_id`` that has ended in this status (the one
        message of the service's check and of the store's, made in the write's transaction)."""
        return ConflictError(
            f"Run {run_id} is {self.value}: an ended run is immutable and takes no more "
            "params, metrics, tags or artifacts. Start a new run, or resume a FAILED/KILLED "
            "one with start_run(run_id=...)."
        )


@dataclass(frozen=True)
class Experiment(Jsonable):
    """A named group of runs."""

    experiment_id: ExperimentId
    name: str
    created_at: int
    description: str = ""
    deleted: bool = False


@dataclass(frozen=True)
class MetricPoint(Jsonable):
    """One logged value of a metric at a step and a time."""

    key: str
    value: float
    step: int
    timestamp: int


@dataclass(frozen=True)
class Run(Jsonable):
    """A run: its identity, lifecycle, and the params, latest metrics and tags logged on it.

    Attributes:
        run_id: 32 hex digits.
        experiment_id: The experiment the run belongs to.
        name: Human-readable name (not unique).
        status: Where the run is in its lifecycle.
        start_time: Milliseconds since the epoch.
        end_time: Milliseconds since the epoch, once ended.
        parent_run_id: The enclosing run of a nested run.
        error: For a failed run, the exception type, message and traceback.
        params: Write-once string parameters.
        metrics: The latest value of each metric (highest step, then latest time).
        tags: String tags; those starting with ``loopml.`` are captured by loopml.
        deleted: Soft-deleted runs are hidden from searches unless asked for.
    """

    run_id: RunId
    experiment_id: ExperimentId
    name: str
    status: RunStatus
    start_time: int
    end_time: int | None = None
    parent_run_id: RunId | None = None
    error: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    deleted: bool = False

    @property
    def duration_ms(self) -> int | None:
        """Milliseconds from start to end, once ended."""
        return None if self.end_time is None else self.end_time - self.start_time
