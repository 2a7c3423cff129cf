"""Evaluation entities: metrics with confidence intervals, slices, fairness, costs, and the
gate decisions taken on them.

An :class:`Evaluation` is immutable: one model version scored on one or more dataset
versions, optionally against a baseline version (``champion``). Every number that could not be
computed (AUC with one class, a slice with no rows) is kept as ``value=None`` with the
reason, never as a made-up number.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from loopml.core.jsonable import Jsonable


@dataclass(frozen=True)
class MetricValue(Jsonable):
    """One metric, with its bootstrap confidence interval.

    Attributes:
        name: ``auc``, ``accuracy``, ``rmse``, ...
        value: The metric on all rows; None when it is not computable.
        low: Lower bound of the interval (None without one).
        high: Upper bound of the interval.
        reason: Why it is not computable (empty when it is).
    """

    name: str
    value: float | None
    low: float | None = None
    high: float | None = None
    reason: str = ""


@dataclass(frozen=True)
class MetricDelta(Jsonable):
    """A metric of the candidate minus the baseline's on the same rows, with a paired
    bootstrap interval (both models scored on the same resamples).

    Attributes:
        name: The metric.
        candidate: The candidate's value.
        baseline: The baseline's value.
        diff: ``candidate - baseline`` (None when either is not computable).
        low: Lower bound of the paired interval of the difference.
        high: Upper bound.
        reason: Why it is not computable.
    """

    name: str
    candidate: float | None
    baseline: float | None
    diff: float | None
    low: float | None = None
    high: float | None = None
    reason: str = ""


@dataclass(frozen=True)
class SliceResult(Jsonable):
    """Metrics on one subpopulation.

    Attributes:
        name: What the slice is: ``origin = 'JFK'``, ``distance in [500, 1000)``,
            ``origin = 'JFK' & carrier = 'UA'``, or a declared name.
        kind: ``value``, ``bin``, ``cross``, ``expression`` or ``auto`` (found by the search).
        support: Rows in the slice.
        metrics: The candidate's metrics on the slice (with intervals).
        deltas: Candidate minus baseline on the slice (empty without a baseline).
        reason: Why the slice has no metrics (e.g. no rows), when it has none.
        gaps: The candidate's metric on the slice minus its overall metric, per metric, with
            the interval of that difference taken on the same bootstrap resamples of all rows
            (``candidate`` is the slice's value, ``baseline`` the overall value); empty in
            evaluations made before it was computed.
    """

    name: str
    kind: str
    support: int
    metrics: tuple[MetricValue, ...] = ()
    deltas: tuple[MetricDelta, ...] = ()
    reason: str = ""
    gaps: tuple[MetricDelta, ...] = ()

    def metric(self, name: str) -> MetricValue | None:
        """Return one metric by name, or None."""
        return next((m for m in self.metrics if m.name == name), None)

    def delta(self, name: str) -> MetricDelta | None:
        """Return one delta by metric name, or None."""
        return next((d for d in self.deltas if d.name == name), None)

    def gap(self, name: str) -> MetricDelta | None:
        """Return the slice-minus-overall difference of one metric, or None."""
        return next((d for d in self.gaps if d.name == name), None)


@dataclass(frozen=True)
class FairnessResult(Jsonable):
    """A fairness measure over the groups of one sensitive column.

    Attributes:
        column: The sensitive column.
        metric: ``demographic_parity_difference``, ``demographic_parity_ratio``,
            ``equalized_odds_difference`` or ``equalized_odds_ratio``.
        value: The measure (None when not computable).
        groups: Per group: ``support``, ``selection_rate``, ``tpr``, ``fpr`` (JSON-ready).
        reason: Why it is not computable.
    """

    column: str
    metric: str
    value: float | None
    groups: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    reason: str = ""


@dataclass(frozen=True)
class CostResult(Jsonable):
    """What the model costs to run.

    Attributes:
        latency_ms: Prediction latency by case: ``p50_1``, ``p99_1`` (batches of 1 row),
            ``p50_1000``, ``p99_1000`` (batches of 1,000 rows), in milliseconds: the median
            over ``rounds`` timing rounds of each round's percentile.
        peak_memory_mb: Peak memory allocated while predicting 1,000 rows (MB).
        artifact_bytes: Size of the model's package.
        latency_low_ms: Per case, the smallest round's value (empty: measured in one round).
        latency_high_ms: Per case, the largest round's value; with ``latency_low_ms`` the
            interval of the median (94% with 5 rounds).
        rounds: Timing rounds per case.
    """

    latency_ms: Mapping[str, float]
    peak_memory_mb: float
    artifact_bytes: int
    latency_low_ms: Mapping[str, float] = field(default_factory=dict)
    latency_high_ms: Mapping[str, float] = field(default_factory=dict)
    rounds: int = 1


@dataclass(frozen=True)
class DatasetEvaluation(Jsonable):
    """Everything measured on one dataset version.

    Attributes:
        dataset: The dataset version (``credit-holdout@2``).
        rows: Rows scored (rows with a missing label are left out and counted in ``notes``).
        metrics: Overall metrics with intervals.
        deltas: Candidate minus baseline, overall (empty without a baseline).
        slices: The declared slices.
        worst_slices: Slices found by the automatic search, worst first.
        fairness: Fairness measures for the declared sensitive columns.
        curves: Plot data, JSON-ready: ``roc``, ``pr``, ``calibration`` (lists of points),
            ``confusion`` (labels and counts), for the candidate and (``baseline_*``) the
            baseline.
        notes: Things the reader should know (rows dropped, labels never seen in training).
        searched: How many candidate slices the worst-slice search examined (0: no search,
            or an evaluation made before it was recorded); a gate corrects the searched
            slices' intervals for this many comparisons.
    """

    dataset: str
    rows: int
    metrics: tuple[MetricValue, ...]
    deltas: tuple[MetricDelta, ...] = ()
    slices: tuple[SliceResult, ...] = ()
    worst_slices: tuple[SliceResult, ...] = ()
    fairness: tuple[FairnessResult, ...] = ()
    curves: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    searched: int = 0

    def metric(self, name: str) -> MetricValue | None:
        """Return one overall metric by name, or None."""
        return next((m for m in self.metrics if m.name == name), None)

    def delta(self, name: str) -> MetricDelta | None:
        """Return one overall delta by metric name, or None."""
        return next((d for d in self.deltas if d.name == name), None)


@dataclass(frozen=True)
class Evaluation(Jsonable):
    """One model version scored on several datasets, optionally against a baseline.

    Attributes:
        evaluation_id: 32 hex digits.
        model: The evaluated version (``credit-default@7``).
        baseline: The baseline version it was compared with (``credit-default@5``), if any.
        task: ``binary``, ``multiclass`` or ``regression``.
        target: The label column.
        datasets: One result per dataset version, in the order given.
        costs: Latency, memory and size (None when not measured).
        created_at: Milliseconds since the epoch.
        created_by: Who ran it.
        config: How it was run (resamples, confidence level, seed, slice specs), JSON-ready.
    """

    evaluation_id: str
    model: str
    baseline: str | None
    task: str
    target: str
    datasets: tuple[DatasetEvaluation, ...]
    costs: CostResult | None
    created_at: int
    created_by: str
    config: Mapping[str, Any] = field(default_factory=dict)

    def dataset(self, ref: str) -> DatasetEvaluation | None:
        """Return the result on one dataset (by ref, or by name for its only version)."""
        exact = next((d for d in self.datasets if d.dataset == ref), None)
        if exact is not None:
            return exact
        named = [d for d in self.datasets if d.dataset.split("@")[0] == ref]
        return named[0] if len(named) == 1 else None


@dataclass(frozen=True)
class GateCheck(Jsonable):
    """One rule of a release gate, checked.

    Attributes:
        rule: The rule as written (``auc >= 0.80 on credit-holdout``).
        kind: ``threshold``, ``baseline``, ``slice``, ``fairness`` or ``cost``.
        passed: True or False; None when it could not be checked (counts as a failure).
        observed: What was measured, as text (``0.8312 [0.8201, 0.8420]``).
        threshold: The limit, as text.
        reason: Why it passed or failed, in words.
        dataset: The dataset it was checked on, if any.
    """

    rule: str
    kind: str
    passed: bool | None
    observed: str
    threshold: str
    reason: str
    dataset: str | None = None


@dataclass(frozen=True)
class GateDecision(Jsonable):
    """The verdict of a gate policy on an evaluation.

    Attributes:
        model: The version gated.
        policy: The policy's name.
        passed: True only when every check passed.
        checks: Each rule's outcome, in policy order.
        evaluation_id: The evaluation the checks read.
        at: Milliseconds since the epoch.
        actor: Who or what ran the gate.
    """

    model: str
    policy: str
    passed: bool
    checks: tuple[GateCheck, ...]
    evaluation_id: str
    at: int
    actor: str

    @property
    def failures(self) -> tuple[GateCheck, ...]:
        """The checks that failed or could not be checked."""
        return tuple(c for c in self.checks if c.passed is not True)


@dataclass(frozen=True)
class EvaluationRecord(Jsonable):
    """The stored index entry of an evaluation: who, what, when, where its document is.

    Attributes:
        evaluation_id: 32 hex digits.
        model: The evaluated version (``credit-default@7``).
        baseline: The baseline version, if any.
        task: ``binary``, ``multiclass`` or ``regression``.
        datasets: The dataset versions evaluated, in order.
        created_at: Milliseconds since the epoch.
        created_by: Who ran it.
        digest: The full :class:`Evaluation` as JSON in the artifact store.
        summary: Headline numbers for listings: ``{dataset: {metric: value}}``.
    """

    evaluation_id: str
    model: str
    baseline: str | None
    task: str
    datasets: tuple[str, ...]
    created_at: int
    created_by: str
    digest: str
    summary: Mapping[str, Mapping[str, float | None]] = field(default_factory=dict)
