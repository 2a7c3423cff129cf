"""Metrics on slices: the declared slices and the worst-slice search of one dataset.

Each slice gets the candidate's metrics with intervals, with a baseline the paired difference
candidate - baseline on the slice's rows, and the difference slice - overall taken on the same
resamples of all rows (:func:`loopml.stats.bootstrap.bootstrap_slice_gaps`), which is what a
gate reads for ``versus: overall``. The search also says how many candidates it examined, so
a gate can correct the searched slices for that many comparisons (see
:mod:`loopml.evaluation.gate_slices`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from loopml.core.entities import MetricDelta, MetricValue, SliceResult
from loopml.evaluation import metrics_plan
from loopml.evaluation.gate_rules import higher_is_better
from loopml.evaluation.scoring import Scored
from loopml.evaluation.slices import Slice, SliceSpec, materialize, search_candidates

__all__ = ["SliceFindings", "evaluate_slices"]


@dataclass(frozen=True)
class SliceFindings:
    """The slices of one dataset.

    Attributes:
        declared: The declared slices, in declaration order.
        found: The worst slices found by the search, worst first.
        searched: How many candidate slices the search examined.
    """

    declared: tuple[SliceResult, ...]
    found: tuple[SliceResult, ...]
    searched: int


def evaluate_slices(
    frame: pd.DataFrame,
    *,
    columns: Sequence[str],
    specs: Sequence[SliceSpec],
    plan: metrics_plan.Plan,
    y: np.ndarray,
    scored: Scored,
    base: Scored | None,
    overall: Sequence[MetricValue],
    top: int,
    min_support: int,
) -> SliceFindings:
    """Measure the declared slices and search ``columns`` for the ``top`` worst ones.

    Args:
        frame: The rows (aligned with ``y`` and ``scored``).
        columns: The model's input columns, which the search slices by.
        specs: Declared slice specs.
        plan: What to compute.
        y: True labels or values.
        scored: The candidate's outputs.
        base: The baseline's outputs, or None.
        overall: The candidate's overall metrics (the search needs the primary one).
        top: How many worst slices to report (0: no search).
        min_support: Rows a searched slice needs.
    """
    declared_pieces = [piece for spec in specs for piece in materialize(spec, frame)]
    declared = [_measure(piece, plan, y, scored, base) for piece in declared_pieces]
    found, searched = _worst(
        frame, columns, plan=plan, y=y, scored=scored, base=base, overall=overall, top=top,
        min_support=min_support,
    )  # fmt: skip
    measured = [*declared, *(r for r, _ in found)]
    pieces = [*declared_pieces, *(p for _, p in found)]
    totals = {m.name: m.value for m in overall}
    gaps = _gaps(plan, y=y, scored=scored, pieces=pieces, measured=measured, totals=totals)
    with_gaps = [replace(r, gaps=g) if g else r for r, g in zip(measured, gaps, strict=True)]
    return SliceFindings(
        declared=tuple(with_gaps[: len(declared)]),
        found=tuple(with_gaps[len(declared) :]),
        searched=searched,
    )


def _measure(
    piece: Slice, plan: metrics_plan.Plan, y: np.ndarray, scored: Scored, base: Scored | None
) -> SliceResult:
    if piece.reason:
        return SliceResult(piece.name, piece.kind, 0, reason=piece.reason)
    if piece.support == 0:
        return SliceResult(piece.name, piece.kind, 0, reason="no rows in this slice")
    mask = piece.mask
    sub = Scored(scored.pred[mask], None if scored.score is None else scored.score[mask])
    sub_base = (
        None
        if base is None
        else Scored(base.pred[mask], None if base.score is None else base.score[mask])
    )
    values, deltas = metrics_plan.estimate(plan, y[mask], sub, sub_base)
    return SliceResult(piece.name, piece.kind, piece.support, tuple(values), tuple(deltas))


def _worst(
    frame: pd.DataFrame,
    columns: Sequence[str],
    *,
    plan: metrics_plan.Plan,
    y: np.ndarray,
    scored: Scored,
    base: Scored | None,
    overall: Sequence[MetricValue],
    top: int,
    min_support: int,
) -> tuple[list[tuple[SliceResult, Slice]], int]:
    if top == 0:
        return [], 0
    primary = plan.names[0]
    reference = next((m.value for m in overall if m.name == primary), None)
    if reference is None:
        return [], 0
    pieces = search_candidates(
        frame, [c for c in columns if c in frame.columns], min_support=min_support
    )
    if not pieces:
        return [], 0
    mine = metrics_plan.slice_values(plan, metric=primary, y=y, scored=scored, pieces=pieces)
    sign = 1.0 if higher_is_better(primary) else -1.0
    if base is not None:  # rank by the regression against the baseline on the same rows
        theirs = metrics_plan.slice_values(plan, metric=primary, y=y, scored=base, pieces=pieces)
        gaps = sign * (theirs - mine)
    else:  # rank by how much worse than the model's own overall value
        gaps = sign * (reference - mine)
    order = [i for i in np.argsort(-gaps) if np.isfinite(gaps[i]) and gaps[i] > 0][:top]
    found = [(_measure(pieces[i], plan, y, scored, base), pieces[i]) for i in order]
    return found, len(pieces)


def _gaps(
    plan: metrics_plan.Plan,
    *,
    y: np.ndarray,
    scored: Scored,
    pieces: Sequence[Slice],
    measured: Sequence[SliceResult],
    totals: dict[str, float | None],
) -> list[tuple[MetricDelta, ...]]:
    """Slice - overall of each built-in metric, on the same resamples; () where not measured."""
    from loopml.stats.bootstrap import bootstrap_slice_gaps

    out: list[tuple[MetricDelta, ...]] = [() for _ in pieces]
    usable = [i for i, p in enumerate(pieces) if not p.reason and p.support > 0]
    if not usable or not plan.names:
        return out
    estimates = bootstrap_slice_gaps(
        plan.names, y, scored.pred, scored.score, [pieces[i].mask for i in usable], k=plan.k,
        task=plan.task, resamples=plan.resamples, confidence=plan.confidence, seed=plan.seed,
    )  # fmt: skip
    for i, row in zip(usable, estimates, strict=True):
        deltas = []
        for name, e in zip(plan.names, row, strict=True):
            mine = measured[i].metric(name)
            deltas.append(
                MetricDelta(
                    name, None if mine is None else mine.value, totals.get(name), e.value,
                    e.low, e.high, "" if e.value is not None else e.reason,
                )
            )  # fmt: skip
        out[i] = tuple(deltas)
    return out
