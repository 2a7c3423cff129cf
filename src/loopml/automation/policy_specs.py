"""The parts of a loop policy, as validated data: its triggers and the settings of each step
(read from YAML by :func:`loopml.automation.policy.load_policy`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from loopml.evaluation.policy import GatePolicy

__all__ = [
    "DataSpec",
    "EvaluateSpec",
    "PromoteSpec",
    "ReleaseSpec",
    "RollbackSpec",
    "TrainSpec",
    "Trigger",
]


@dataclass(frozen=True)
class Trigger:
    """What starts a loop run.

    Attributes:
        kind: ``schedule``, ``dataset`` or ``alert``.
        schedule: The cron expression (UTC) of a schedule.
        dataset: The dataset whose new versions trigger.
        rule: The alert rule whose ``monitor.alert`` events on the model trigger (None: any).
    """

    kind: Literal["schedule", "dataset", "alert"]
    schedule: str | None = None
    dataset: str | None = None
    rule: str | None = None

    def describe(self) -> str:
        """The trigger in words."""
        if self.kind == "schedule":
            return f"schedule {self.schedule!r} (UTC)"
        if self.kind == "dataset":
            return f"a new version of dataset {self.dataset!r}"
        return f"alert {self.rule!r}" if self.rule else "any alert on the model"


@dataclass(frozen=True)
class DataSpec:
    """The training data of a loop run.

    Attributes:
        ref: A dataset ref (``flights@latest``); a trigger's new version of the same dataset
            is used instead of ``latest``.
        last_ms: With ``from_log``: the span of the prediction log (event time, ending at its
            newest row) whose labeled rows become a dataset version.
        name: With ``from_log``: the dataset's name (default ``<model>-production``).
    """

    ref: str | None = None
    last_ms: int | None = None
    name: str | None = None


@dataclass(frozen=True)
class TrainSpec:
    """How a challenger is trained.

    Attributes:
        pipeline: ``module:function``: a ``@loopml.pipeline`` (run with ``.run``) or a
            function called with the params; it returns the model version it registered
            (or ``register_model``'s output), or a fitted model the agent registers.
        params: Its parameters (JSON values).
        executor: ``inprocess``, ``process`` or ``ray`` (pipelines only).
        data: The training data, or None when the pipeline reads its own.
        data_param: The parameter the data's ref is passed as.
    """

    pipeline: str
    params: Mapping[str, Any]
    executor: str = "inprocess"
    data: DataSpec | None = None
    data_param: str = "data"


@dataclass(frozen=True)
class EvaluateSpec:
    """The offline evaluation and gate.

    Attributes:
        datasets: Dataset refs the challenger is evaluated on.
        gate: The gate policy, loaded.
        compare_to: The baseline alias (``champion``), or None.
        resamples: Bootstrap resamples of the intervals.
    """

    datasets: tuple[str, ...]
    gate: GatePolicy
    compare_to: str | None = "champion"
    resamples: int = 1000


@dataclass(frozen=True)
class ReleaseSpec:
    """How the challenger goes live: ``canary`` at ``share`` percent, or ``shadow``."""

    mode: Literal["canary", "shadow"]
    share: float = 0.0


@dataclass(frozen=True)
class PromoteSpec:
    """What live evidence promotes (see :func:`loopml.automation.live_evidence.compare`, which
    passes these limits to ``loopml.health.live_comparison.compare_live``).

    Attributes:
        min_labeled: Labeled challenger rows needed.
        min_duration_ms: Traffic (event time) needed, or None.
        metric: The compared metric (a name of ``loopml.stats.metrics.METRICS`` that fits
            the model's task), or None (accuracy, or rmse for regression).
        margin: How far below the champion the challenger may be and still be promoted.
        timeout_ms: Roll back when no decision is reached this long after the release (wall
            clock; the observe step's own limit).
    """

    min_labeled: int = 1000
    min_duration_ms: int | None = None
    metric: str | None = None
    margin: float = 0.0
    timeout_ms: int | None = None


@dataclass(frozen=True)
class RollbackSpec:
    """What live evidence rolls back.

    Attributes:
        metric_drop: The challenger's metric worse than the champion's by more than this,
            the whole interval.
        max_error_rate: Bound of the challenger's error rate (whole interval above it).
        max_fallback_rate: Bound of its fallback rate.
        max_guardrail_rate: Bound of its guardrail rate.
        rate_margin: How far above the champion's rate the whole interval of a challenger's
            rate (error, fallback, guardrail) must lie to roll back.
    """

    metric_drop: float = 0.01
    max_error_rate: float | None = None
    max_fallback_rate: float | None = None
    max_guardrail_rate: float | None = None
    rate_margin: float = 0.01
