"""The slice rule of a release gate: no slice may get worse than ``max_drop``, beyond noise.

**Why bounds and not point drops.** A slice of 280 rows has an AUC interval dozens of points
wide; its point drop is mostly noise. A worst-slice search looks at hundreds of candidates and
reports the ones with the largest point drops, so comparing those with ``max_drop`` fails
almost any model, better ones included (the winner's curse). By default (``use: bound``) a
slice fails only when the cautious end of its drop's interval is beyond ``max_drop``.

**Why corrected.** Every slice the rule looks at is one more chance of a false failure: with
the 95% bound, one slice fails an equal model 2.5% of the time, twenty slices about 40%. So
the rule's slices are one family of ``m`` comparisons, ``m`` = the declared slices it checks
+ every candidate the worst-slice search examined (``DatasetEvaluation.searched``, not only
the ones reported: the reported ones were picked *because* they looked worst). Each bound is
widened as if computed at level ``1 - (1 - confidence) / m`` (Bonferroni), which keeps the
chance that the rule fails a model no worse than its baseline on any slice below
``(1 - confidence) / 2`` (2.5% at 95%), whatever the search's ranking. The widening scales
the interval's cautious half by ``z(1 - alpha / 2m) / z(1 - alpha / 2)``, a normal
approximation of the bootstrap distribution's tail (percentiles that deep are not resolvable
from 1,000 resamples): 1.75x for 80 comparisons, 1.92x for 300. A rule with ``scope:
declared`` counts only the declared slices (a single declared slice keeps its stored bound).

The drop's interval is the paired one: ``baseline - candidate`` on the slice's rows
(``versus: baseline``), or ``overall - slice`` on the same resamples of all rows
(``versus: overall``, :attr:`SliceResult.gaps`). ``use: value`` compares point drops (the
old behaviour; an explicit opt-in). Without an interval the point drop is used and the reason
says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from loopml.core.entities.evaluation import (
    DatasetEvaluation,
    Evaluation,
    GateCheck,
    MetricDelta,
    SliceResult,
)
from loopml.evaluation.gate_lookup import (
    find_delta,
    find_metric,
    format_value,
    missing_metric,
    not_checked,
)
from loopml.evaluation.gate_rules import SliceRule, format_limit, higher_is_better

__all__ = ["check_slices", "widening"]

_NORMAL = NormalDist()


def widening(confidence: float, candidates: int) -> float:
    """How much wider the cautious half of an interval gets for ``candidates`` comparisons
    (Bonferroni, normal approximation): ``z(1 - alpha / 2m) / z(1 - alpha / 2)``."""
    alpha = 1.0 - confidence
    m = max(1, candidates)
    return _NORMAL.inv_cdf(1 - alpha / (2 * m)) / _NORMAL.inv_cdf(1 - alpha / 2)


@dataclass(frozen=True)
class _Drop:
    piece: SliceResult
    searched: bool
    drop: float  # point drop, positive = worse
    judged: float  # the number compared with max_drop
    bound: float | None  # the (corrected) cautious bound, None when no interval


def _pieces(rule: SliceRule, ds: DatasetEvaluation) -> list[tuple[SliceResult, bool]]:
    """(slice, found by the search) for the rule's scope; a slice both declared and found
    counts once, as declared."""
    out: dict[str, tuple[SliceResult, bool]] = {}
    if rule.scope in ("declared", "all"):
        for piece in ds.slices:
            out.setdefault(piece.name, (piece, False))
    if rule.scope in ("searched", "all"):
        for piece in ds.worst_slices:
            out.setdefault(piece.name, (piece, True))
    return list(out.values())


def _point_and_interval(
    rule: SliceRule, piece: SliceResult, baseline: bool, overall: float | None
) -> tuple[float, float | None] | None:
    """The point drop and the cautious (smallest plausible) drop at the stored level."""
    sign = 1.0 if higher_is_better(rule.metric) else -1.0
    diff: MetricDelta | None = (
        find_delta(piece.deltas, rule.metric) if baseline else find_delta(piece.gaps, rule.metric)
    )
    if diff is not None and diff.diff is not None:  # diff = candidate - reference
        cautious = None
        if diff.low is not None and diff.high is not None:
            cautious = -diff.high if sign > 0 else diff.low
        return -sign * diff.diff, cautious
    if baseline:
        return None
    found = find_metric(piece.metrics, rule.metric)  # an evaluation without gaps: point only
    if found is None or found.value is None or overall is None:
        return None
    return sign * (overall - found.value), None


def _judge(
    rule: SliceRule, piece: SliceResult, *, searched: bool, measured: tuple[float, float | None],
    factor: float,
) -> _Drop:  # fmt: skip
    point, cautious = measured
    if rule.use == "value" or cautious is None:
        return _Drop(piece, searched, point, point, None)
    half = max(point - cautious, 0.0)
    bound = point - factor * half
    return _Drop(piece, searched, point, bound, bound)


def _confidence(config: Mapping[str, Any]) -> float:
    value = config.get("confidence", 0.95)
    return float(value) if isinstance(value, int | float) and 0 < value < 1 else 0.95


def check_slices(rule: SliceRule, ds: DatasetEvaluation, ev: Evaluation) -> GateCheck:
    """One check of a slice rule on one dataset (see the module's docstring)."""
    pieces = _pieces(rule, ds)
    if not pieces:
        which = {"all": "no slices were", "declared": "no declared slices were"}.get(
            rule.scope, "no slices were found by the search"
        )
        reason = (
            f"{which} evaluated on {ds.dataset}; declare slices or enable the search"
            if rule.scope != "searched"
            else f"{which} on {ds.dataset}; run the evaluation with worst_slices > 0"
        )
        return not_checked(rule, "slice", reason, dataset=ds.dataset)
    baseline = rule.versus == "baseline"
    if baseline and ev.baseline is None and not any(s.deltas for s, _ in pieces):
        reason = (
            f"the evaluation of {ev.model} has no baseline to compare slices with; evaluate "
            "against one (baseline='champion'), or write 'versus: overall' in the rule"
        )
        return not_checked(rule, "slice", reason, dataset=ds.dataset)
    overall: float | None = None
    if not baseline:
        found = find_metric(ds.metrics, rule.metric)
        if found is None or found.value is None:
            reason = (
                f"slices are compared with the overall metric, but "
                f"{missing_metric(rule.metric, ds, found)}"
            )
            return not_checked(rule, "slice", reason, dataset=ds.dataset)
        overall = found.value
    small = [s for s, _ in pieces if s.support < rule.min_support]
    declared_n = sum(1 for s, found in pieces if not found and s.support >= rule.min_support)
    searched_n = (ds.searched or len(ds.worst_slices)) if rule.scope != "declared" else 0
    factor = widening(_confidence(ev.config), declared_n + searched_n)
    drops: list[_Drop] = []
    skipped = 0
    for piece, searched in pieces:
        if piece.support < rule.min_support:
            continue
        measured = _point_and_interval(rule, piece, baseline, overall)
        if measured is None:
            skipped += 1
        else:
            drops.append(_judge(rule, piece, searched=searched, measured=measured, factor=factor))
    notes = _notes(
        rule,
        drops,
        skipped=skipped,
        small=small,
        family=(declared_n, searched_n),
        ds=ds,
        factor=factor,
    )
    return _verdict(rule, ds, drops, notes, skipped=skipped)


def _notes(
    rule: SliceRule,
    drops: list[_Drop],
    *,
    skipped: int,
    small: list[SliceResult],
    family: tuple[int, int],
    ds: DatasetEvaluation,
    factor: float,
) -> str:
    parts = []
    if rule.use == "bound" and any(d.bound is None for d in drops):
        parts.append("no interval for some slices: their point drop was used")
    declared_n, searched_n = family
    if declared_n + searched_n > 1 and any(d.bound is not None for d in drops):
        known = (
            ""
            if ds.searched or not searched_n
            else " (the reported ones: the evaluation did not record how many the search examined)"
        )
        parts.append(
            f"bounds corrected for {declared_n + searched_n} comparisons ({declared_n} declared "
            f"slice(s) + {searched_n} search candidate(s){known}; Bonferroni, "
            f"{factor:.2f}x wider)"
        )
    if skipped:
        parts.append(f"{skipped} slice(s) skipped ({rule.metric} not computable)")
    if small:
        parts.append(f"{len(small)} slice(s) below support {rule.min_support} not checked")
    return "".join(f"; {p}" for p in parts)


def _describe(d: _Drop) -> str:
    bound = "" if d.bound is None else f", bound {format_value(d.bound)}"
    found = ", found by search" if d.searched else ""
    return f"{d.piece.name} (drop {format_value(d.drop)}{bound}, support {d.piece.support}{found})"


def _verdict(
    rule: SliceRule, ds: DatasetEvaluation, drops: list[_Drop], notes: str, *, skipped: int
) -> GateCheck:
    by_bound = rule.use == "bound"
    what = "cautious bound of the drop" if by_bound else "drop"
    threshold = f"{what} of {rule.metric} <= {format_limit(rule.max_drop)}"
    against = "vs baseline" if rule.versus == "baseline" else f"vs overall {rule.metric} on"
    if rule.versus == "overall":
        against += f" {ds.dataset}"
    if not drops:
        if skipped:
            reason = f"no slice's {rule.metric} drop is computable on {ds.dataset}{notes}"
            return not_checked(rule, "slice", reason, dataset=ds.dataset)
        reason = f"no slice has support >= {rule.min_support} on {ds.dataset}{notes}"
        return GateCheck(rule.describe(), "slice", True, "", threshold, reason, ds.dataset)
    worst = max(drops, key=lambda d: d.drop)
    observed = f"worst drop {format_value(worst.drop)} on {worst.piece.name}"
    if worst.bound is not None:
        observed += f" (bound {format_value(worst.bound)})"
    bad = sorted((d for d in drops if d.judged > rule.max_drop), key=lambda d: -d.judged)
    beyond = " beyond noise" if by_bound else ""
    if bad:
        listed = ", ".join(_describe(d) for d in bad)
        reason = (
            f"{len(bad)} of {len(drops)} slice(s) drop {rule.metric} by more than "
            f"{format_limit(rule.max_drop)}{beyond} {against}: {listed}{notes}"
        )
    else:
        reason = (
            f"{len(drops)} slice(s) checked {against}, none drops {rule.metric} by more than "
            f"{format_limit(rule.max_drop)}{beyond}{notes}"
        )
    return GateCheck(rule.describe(), "slice", not bad, observed, threshold, reason, ds.dataset)
