"""Tracking entities: experiments, runs and metric points.

Times are integer milliseconds since the epoch (UTC). Metric values are floats and may be
NaN or infinite: they are stored and returned faithfully.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from loopml.core.ids import ExperimentId, RunId


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


@dataclass(frozen=True)
class Experiment:
    """A named group of runs."""

    experiment_id: ExperimentId
    name: str
    created_at: int
    description: str = ""
    deleted: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "experiment_id": self.experiment_id,
            "name": self.name,
            "created_at": self.created_at,
            "description": self.description,
            "deleted": self.deleted,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Experiment:
        """Build from :meth:`to_dict` output."""
        return cls(
            experiment_id=ExperimentId(str(data["experiment_id"])),
            name=str(data["name"]),
            created_at=int(data["created_at"]),
            description=str(data.get("description", "")),
            deleted=bool(data.get("deleted", False)),
        )


@dataclass(frozen=True)
class MetricPoint:
    """One logged value of a metric at a step and a time."""

    key: str
    value: float
    step: int
    timestamp: int

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict; NaN and infinities become the strings JSON lacks."""
        return {
            "key": self.key,
            "value": _float_out(self.value),
            "step": self.step,
            "timestamp": self.timestamp,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MetricPoint:
        """Build from :meth:`to_dict` output."""
        return cls(
            key=str(data["key"]),
            value=_float_in(data["value"]),
            step=int(data["step"]),
            timestamp=int(data["timestamp"]),
        )


@dataclass(frozen=True)
class Run:
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

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (NaN/inf metric values as strings)."""
        return {
            "run_id": self.run_id,
            "experiment_id": self.experiment_id,
            "name": self.name,
            "status": self.status.value,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "parent_run_id": self.parent_run_id,
            "error": self.error,
            "params": dict(self.params),
            "metrics": {k: _float_out(v) for k, v in self.metrics.items()},
            "tags": dict(self.tags),
            "deleted": self.deleted,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Run:
        """Build from :meth:`to_dict` output."""
        parent = data.get("parent_run_id")
        return cls(
            run_id=RunId(str(data["run_id"])),
            experiment_id=ExperimentId(str(data["experiment_id"])),
            name=str(data["name"]),
            status=RunStatus(data["status"]),
            start_time=int(data["start_time"]),
            end_time=None if data.get("end_time") is None else int(data["end_time"]),
            parent_run_id=None if parent is None else RunId(str(parent)),
            error=data.get("error"),
            params={str(k): str(v) for k, v in data.get("params", {}).items()},
            metrics={str(k): _float_in(v) for k, v in data.get("metrics", {}).items()},
            tags={str(k): str(v) for k, v in data.get("tags", {}).items()},
            deleted=bool(data.get("deleted", False)),
        )


def _float_out(value: float) -> float | str:
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def _float_in(value: float | str) -> float:
    return float(value)  # float("NaN") and float("-Infinity") parse
