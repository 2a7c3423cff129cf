"""A model card's limitations, derived from what the store holds (never typed in).

Each limitation says what it is and shows the figures behind it:

- ``review``: the version is not approved (pending, or rejected and why);
- ``gate``: its newest gate decision failed (the failed rules);
- ``evaluation``: it was never evaluated, or was evaluated on its own training data;
- ``slice``: a slice where it does worse than on all rows, or worse than its baseline, by an
  interval that excludes no difference. Every slice of a dataset is one more chance of a false
  alarm, so the intervals are widened for all the comparisons the evaluation made (its
  declared slices plus every candidate its worst-slice search examined), as the gate's slice
  rule does (:func:`loopml.evaluation.gate_slices.widening`);
- ``baseline``: overall worse than its baseline, beyond the interval;
- ``fairness``: no fairness measure was computed, or one could not be;
- ``data``: no training data recorded; the ranges, categories and missing values it never
  saw in training (inputs outside them are extrapolations);
- ``note``: what the evaluations noted (rows dropped, labels never seen in training).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from loopml.core.entities import ApprovalStatus, DatasetEvaluation, Evaluation, MetricDelta
from loopml.evaluation.gate_lookup import format_interval, format_value
from loopml.evaluation.gate_rules import higher_is_better
from loopml.evaluation.gate_slices import widening

if TYPE_CHECKING:
    from loopml.governance.cards import DataFacts, Limitation, ModelCard

__all__ = ["derive_limitations"]

_CONFIDENCE = 0.95


def _confidence(evaluation: Evaluation) -> float:
    value = evaluation.config.get("confidence", _CONFIDENCE)
    return float(value) if isinstance(value, int | float) and 0 < value < 1 else _CONFIDENCE


def _worse(delta: MetricDelta, factor: float) -> tuple[float, float] | None:
    """The (widened) interval of ``delta`` when it says worse beyond noise, else None.

    ``delta.diff`` is this model minus the reference; for a higher-is-better metric it is
    worse when even the widened upper end is below 0 (lower-is-better: the lower end above 0).
    """
    if delta.diff is None or delta.low is None or delta.high is None:
        return None
    low = delta.diff - factor * max(delta.diff - delta.low, 0.0)
    high = delta.diff + factor * max(delta.high - delta.diff, 0.0)
    if higher_is_better(delta.name):
        return (low, high) if high < 0 else None
    return (low, high) if low > 0 else None


def _slice_limits(ds: DatasetEvaluation, confidence: float) -> Iterator[tuple[str, str]]:
    """One limitation per slice that does worse than all rows or than the baseline."""
    declared = {s.name for s in ds.slices}
    pieces = [*ds.slices, *(s for s in ds.worst_slices if s.name not in declared)]
    comparisons = len(ds.slices) + ds.searched
    factor = widening(confidence, comparisons)
    corrected = f" (intervals widened for {comparisons} comparisons)" if comparisons > 1 else ""
    for piece in pieces:
        overall = []
        for gap in piece.gaps:
            worse = _worse(gap, factor)
            if worse is not None and gap.candidate is not None and gap.baseline is not None:
                overall.append(
                    f"{gap.name} {format_value(gap.candidate)} against "
                    f"{format_value(gap.baseline)}, difference "
                    f"{format_interval(gap.diff or 0.0, *worse)}"
                )
        baseline = []
        for delta in piece.deltas:
            worse = _worse(delta, factor)
            if worse is not None:
                baseline.append(f"{delta.name} {format_interval(delta.diff or 0.0, *worse)}")
        where = f"On {ds.dataset}, slice {piece.name} ({piece.support} rows)"
        if overall:
            yield "slice", f"{where} does worse than on all rows: {'; '.join(overall)}{corrected}."
        if baseline:
            yield (
                "slice",
                f"{where} does worse than the baseline: {'; '.join(baseline)}{corrected}.",
            )


def _evaluation_limits(card: ModelCard) -> Iterator[tuple[str, str]]:
    if not card.evaluations:
        yield (
            "evaluation",
            "Never evaluated: the store holds no measure of its quality "
            f"(`loopml evaluate {card.ref} --dataset ...`).",
        )
        return
    trained_on = {d.ref for d in card.data if d.role == "train"}
    latest: dict[str, tuple[Evaluation, DatasetEvaluation]] = {}
    for evaluation in card.evaluations:  # newest first: keep each dataset's newest
        for ds in evaluation.datasets:
            latest.setdefault(ds.dataset, (evaluation, ds))
    for dataset, (evaluation, ds) in sorted(latest.items()):
        if dataset in trained_on:
            yield (
                "evaluation",
                f"Evaluated on {dataset}, the data it was trained on: those figures are "
                "optimistic.",
            )
        for note in ds.notes:
            yield "note", f"{dataset}: {note}"
        for delta in ds.deltas:
            worse = _worse(delta, 1.0)
            if worse is not None:
                yield (
                    "baseline",
                    f"On {dataset}, {delta.name} is worse than the baseline "
                    f"{evaluation.baseline} by {format_interval(delta.diff or 0.0, *worse)}.",
                )
        yield from _slice_limits(ds, _confidence(evaluation))
    fairness = [f for e in card.evaluations for d in e.datasets for f in d.fairness]
    if not fairness:
        yield (
            "fairness",
            "No fairness evaluation: no sensitive column was declared in its evaluations "
            "(`loopml evaluate ... --sensitive COLUMN`).",
        )
    for item in fairness:
        if item.value is None:
            yield "fairness", f"{item.metric} over {item.column} not computable: {item.reason}"


def _data_limits(card: ModelCard) -> Iterator[tuple[str, str]]:
    train: list[DataFacts] = [d for d in card.data if d.role == "train"]
    if not train:
        yield (
            "data",
            "The training data is not recorded: nothing is known of the inputs it saw.",
        )
        return
    inputs = {c.name for c in card.version.signature.inputs}
    for dataset in train:
        columns = [c for c in dataset.columns if c.name in inputs]
        ranges = [
            f"{c.name} in [{format_value(c.minimum)}, {format_value(c.maximum)}]"
            for c in columns
            if c.minimum is not None and c.maximum is not None
        ]
        if ranges:
            yield (
                "data",
                f"Trained on {dataset.ref} ({dataset.rows} rows) with {', '.join(ranges)}: "
                "it never saw values outside these ranges.",
            )
        categories = [f"{c.name} ({c.categories})" for c in columns if c.categories is not None]
        if categories:
            yield (
                "data",
                "It knows only the categories seen in training: " + ", ".join(categories) + ".",
            )
        complete = [c.name for c in columns if c.nulls == 0]
        if complete:
            yield (
                "data",
                f"It never saw a missing value in: {', '.join(complete)}.",
            )
    missing = sorted(inputs - {c.name for d in train for c in d.columns})
    if missing:
        yield "data", f"Inputs absent from its training data's profile: {', '.join(missing)}."


def _review_limits(card: ModelCard) -> Iterator[tuple[str, str]]:
    version = card.version
    if version.approval is ApprovalStatus.PENDING:
        yield "review", "Not approved: no reviewer has approved this version yet."
    elif version.approval is ApprovalStatus.REJECTED:
        yield (
            "review",
            f"Rejected by {version.reviewer or 'an unknown reviewer'}: "
            f"{version.review_comment or 'no comment'}.",
        )
    if card.gates and not card.gates[0].passed:
        gate = card.gates[0]
        failed = "; ".join(f"{c.rule} ({c.reason})" for c in gate.failures)
        yield "gate", f"Its newest gate ({gate.policy}) failed: {failed}."


def derive_limitations(card: ModelCard) -> tuple[Limitation, ...]:
    """Every limitation the store shows for the card's version (see the module's docstring)."""
    from loopml.governance.cards import Limitation

    found = [*_review_limits(card), *_evaluation_limits(card), *_data_limits(card)]
    return tuple(Limitation(kind=kind, text=text) for kind, text in found)
