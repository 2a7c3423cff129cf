"""What the gate's rule checks share: finding a metric or a difference in an evaluation's
results (under any spelling of its name), saying why one is missing, formatting numbers, and
the check that could not be computed."""

from __future__ import annotations

from loopml.core.entities.evaluation import (
    DatasetEvaluation,
    GateCheck,
    MetricDelta,
    MetricValue,
)
from loopml.evaluation.gate_rules import GateRule, metric_names

__all__ = [
    "find_delta",
    "find_metric",
    "format_interval",
    "format_value",
    "missing_metric",
    "not_checked",
]


def format_value(value: float) -> str:
    """Format a measured number with 4 significant digits (``0.8420``, ``12.50``, ``123500``)."""
    if value == 0:
        return "0.000"
    text = f"{value:.4g}"
    if "e+" in text:
        return f"{float(text):.0f}"
    return f"{value:#.4g}".rstrip(".")


def format_interval(value: float, low: float | None, high: float | None) -> str:
    """Format a value with its interval: ``0.8312 [0.8201, 0.8420]`` (no brackets without one)."""
    if low is None or high is None:
        return format_value(value)
    return f"{format_value(value)} [{format_value(low)}, {format_value(high)}]"


def not_checked(rule: GateRule, kind: str, reason: str, *, dataset: str | None = None) -> GateCheck:
    """A check that could not be computed (``passed=None``; it counts as a failure)."""
    return GateCheck(
        rule=rule.describe(),
        kind=kind,
        passed=None,
        observed="",
        threshold="",
        reason=reason,
        dataset=dataset,
    )


def find_metric(items: tuple[MetricValue, ...], metric: str) -> MetricValue | None:
    """The value of ``metric`` (any spelling) among ``items``, or None."""
    names = metric_names(metric)
    return next((m for n in names for m in items if m.name == n), None)


def find_delta(items: tuple[MetricDelta, ...], metric: str) -> MetricDelta | None:
    """The difference of ``metric`` (any spelling) among ``items``, or None."""
    names = metric_names(metric)
    return next((d for n in names for d in items if d.name == n), None)


def missing_metric(metric: str, ds: DatasetEvaluation, found: MetricValue | None) -> str:
    """Why ``metric`` has no value on ``ds``: not computed, or not computable (and why)."""
    if found is None:
        computed = ", ".join(m.name for m in ds.metrics) or "none"
        return (
            f"{metric} was not computed on {ds.dataset} (computed: {computed}); add it to the "
            f"evaluation's metrics."
        )
    return f"{metric} is not computable on {ds.dataset}: {found.reason or 'no reason given'}"
