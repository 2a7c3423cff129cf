"""Release gates: check a declarative policy against an :class:`Evaluation`.

A policy (YAML file, mapping or :class:`GatePolicy`, read by :func:`load_policy`) has a
``name`` and a list of ``rules``. :func:`check_gate` applies each rule and returns a
:class:`GateDecision` with one :class:`GateCheck` per rule application, in policy order.
The decision passes only when every check has ``passed=True``; a check that cannot be
computed has ``passed=None`` with the reason, and counts as a failure. A gate never crashes on
a missing number and never invents one.

Rule kinds (``docs_src/gate_policy.yaml`` is a worked example):

1. **threshold** ``{metric: auc, min: 0.80, dataset: credit-holdout, use: low}``, or ``max:``.
   Exactly one of ``min``/``max``. ``dataset`` (a ref ``credit-holdout@2`` or a name) is
   optional; without it there is one check per evaluated dataset. ``use`` picks the number
   compared: ``value`` (default, the point estimate), ``low`` or ``high`` (a bound of the
   confidence interval; ``low`` with ``min`` and ``high`` with ``max`` are the cautious
   choices). A bound that the evaluation did not compute makes the check not computable.
2. **baseline** (non-inferiority) ``{metric: auc, no_worse_than_baseline_by: 0.005}``: reads
   the paired interval of ``candidate - baseline``. For a higher-is-better metric it passes
   iff the interval's lower bound >= ``-margin``; for a lower-is-better metric (``log_loss``,
   ``rmse``, ...) iff the upper bound <= ``+margin``. Without an interval the point
   difference is used and the reason says so. Without a baseline (or the delta) the check is
   not computable.
3. **slices** ``{slices: {metric: auc, min_support: 200, max_drop: 0.02}}``: every slice,
   declared or found by the search (``worst_slices``; a name in both counts once), with
   ``support >= min_support`` on each dataset. The drop is how much worse the slice is, in the
   metric's units, positive = worse (sign flipped for lower-is-better metrics). By default
   (``versus: baseline``) it is the slice's own paired delta: ``baseline - candidate`` on the
   slice's rows; an evaluation without a baseline makes the check not computable (a regression
   needs something to regress from). With ``versus: overall`` it is the candidate's overall
   metric on that dataset minus its metric on the slice (subpopulations are usually harder,
   so give that a looser ``max_drop``). One check per dataset: it fails listing
   the offending slices worst first with their drop and support, or passes saying how many
   slices were checked. Slices whose metric is not computable are skipped and counted in the
   reason; if no slice could be checked the check is not computable. Slices below
   ``min_support`` are not checked (the rule says they do not matter), and the reason counts
   them.
4. **fairness** ``{fairness: {column: SEX, metric: demographic_parity_difference, max: 0.1}}``:
   differences take ``max``, ratios (``demographic_parity_ratio``, ``equalized_odds_ratio``)
   take ``min``. One check per dataset (or the named one).
5. **cost** ``{cost: {p99_1_ms: 50, p50_1000_ms: 200, peak_memory_mb: 500, artifact_mb: 100}}``:
   each key a maximum, one check per key. Keys: ``p50_1_ms``, ``p99_1_ms``, ``p50_1000_ms``,
   ``p99_1000_ms``, ``peak_memory_mb``, ``artifact_mb`` (1 MB = 1,000,000 bytes).

Metric names are checked when the policy is loaded (``auc`` is an alias of ``roc_auc``);
unknown keys, both or neither of ``min``/``max``, negative margins, non-numeric limits, a
missing file or invalid YAML raise :class:`InvalidArgumentError` naming the rule
(``rules[2]``) and the fix. Measured values are shown with 4 significant digits, intervals as
``0.8312 [0.8201, 0.8420]``.
"""

from __future__ import annotations

from collections.abc import Iterator

from loopml.core.entities.evaluation import (
    DatasetEvaluation,
    Evaluation,
    GateCheck,
    GateDecision,
)
from loopml.core.errors import did_you_mean
from loopml.evaluation.gate_lookup import (
    find_delta,
    find_metric,
    format_interval,
    format_value,
    missing_metric,
    not_checked,
)
from loopml.evaluation.gate_rules import (
    BaselineRule,
    CostRule,
    FairnessRule,
    GateRule,
    SliceRule,
    ThresholdRule,
    format_limit,
    higher_is_better,
)
from loopml.evaluation.gate_slices import check_slices
from loopml.evaluation.policy import GatePolicy, PolicySource, load_policy

__all__ = ["GatePolicy", "check_gate", "format_interval", "format_value", "load_policy"]

_Datasets = Iterator[tuple[DatasetEvaluation | None, str]]


def check_gate(
    policy: PolicySource, evaluation: Evaluation, *, at: int, actor: str
) -> GateDecision:
    """Check a gate policy against an evaluation.

    Args:
        policy: A :class:`GatePolicy`, or anything :func:`load_policy` reads.
        evaluation: The evaluation to judge.
        at: When the gate ran (milliseconds since the epoch).
        actor: Who or what ran it.

    Returns:
        The decision, with one check per rule application in policy order; ``passed`` is True
        only when every check passed (a not computable check counts as a failure).

    Raises:
        InvalidArgumentError: The policy is malformed (see :func:`load_policy`).

    Example:
        >>> decision = check_gate("gate_policy.yaml", evaluation, at=now_ms(), actor="ci")
        >>> [c.reason for c in decision.failures]  # doctest: +SKIP
    """
    gate = load_policy(policy)
    checks: list[GateCheck] = []
    for rule in gate.rules:
        produced = list(_check_rule(rule, evaluation))
        if not produced:
            produced = [not_checked(rule, "threshold", "the evaluation has no datasets to check")]
        checks.extend(produced)
    return GateDecision(
        model=evaluation.model,
        policy=gate.name,
        passed=all(c.passed is True for c in checks),
        checks=tuple(checks),
        evaluation_id=evaluation.evaluation_id,
        at=at,
        actor=actor,
    )


def _check_rule(rule: GateRule, evaluation: Evaluation) -> Iterator[GateCheck]:
    if isinstance(rule, CostRule):
        yield from _check_cost(rule, evaluation)
        return
    kind = _KINDS[type(rule)]
    for ds, ref in _datasets(evaluation, rule.dataset):
        if ds is None:
            yield not_checked(rule, kind, ref, dataset=rule.dataset)
        elif isinstance(rule, ThresholdRule):
            yield _check_threshold(rule, ds)
        elif isinstance(rule, BaselineRule):
            yield _check_baseline(rule, ds, evaluation)
        elif isinstance(rule, SliceRule):
            yield check_slices(rule, ds, evaluation)
        else:
            yield _check_fairness(rule, ds)


_KINDS: dict[type, str] = {
    ThresholdRule: "threshold",
    BaselineRule: "baseline",
    SliceRule: "slice",
    FairnessRule: "fairness",
    CostRule: "cost",
}


def _datasets(evaluation: Evaluation, ref: str | None) -> _Datasets:
    """Yield (result, ref) per dataset the rule applies to; (None, reason) when missing."""
    if ref is None:
        for ds in evaluation.datasets:
            yield ds, ds.dataset
        return
    found = evaluation.dataset(ref)
    if found is not None:
        yield found, found.dataset
        return
    evaluated = [d.dataset for d in evaluation.datasets]
    yield (
        None,
        (
            f"dataset {ref!r} was not evaluated (evaluated: {', '.join(evaluated) or 'none'}); "
            f"evaluate the model on it or fix the rule's dataset."
            f"{did_you_mean(ref, [*evaluated, *(e.split('@')[0] for e in evaluated)])}"
        ),
    )


def _check_threshold(rule: ThresholdRule, ds: DatasetEvaluation) -> GateCheck:
    limit, op = (rule.min, ">=") if rule.min is not None else (rule.max or 0.0, "<=")
    what = rule.metric if rule.use == "value" else f"{rule.metric} {rule.use} bound"
    threshold = f"{what} {op} {format_limit(limit)}"
    found = find_metric(ds.metrics, rule.metric)
    if found is None or found.value is None:
        return not_checked(
            rule, "threshold", missing_metric(rule.metric, ds, found), dataset=ds.dataset
        )
    observed = format_interval(found.value, found.low, found.high)
    number = {"value": found.value, "low": found.low, "high": found.high}[rule.use]
    if number is None:
        reason = (
            f"{rule.metric} on {ds.dataset} has no confidence interval, so its {rule.use} bound "
            f"is unknown; run the evaluation with bootstrap resamples or use: value."
        )
        return not_checked(rule, "threshold", reason, dataset=ds.dataset)
    passed = number >= limit if op == ">=" else number <= limit
    verdict = (
        "meets" if passed else ("is below the minimum" if op == ">=" else "exceeds the maximum")
    )
    reason = f"{what} {format_value(number)} {verdict} {format_limit(limit)} on {ds.dataset}"
    return GateCheck(rule.describe(), "threshold", passed, observed, threshold, reason, ds.dataset)


def _check_baseline(rule: BaselineRule, ds: DatasetEvaluation, ev: Evaluation) -> GateCheck:
    higher = higher_is_better(rule.metric)
    side, op = ("lower", ">=") if higher else ("upper", "<=")
    margin = -rule.margin if higher else rule.margin
    threshold = f"{side} bound of candidate - baseline {op} {format_limit(margin)}"
    delta = find_delta(ds.deltas, rule.metric)
    if delta is None or delta.diff is None:
        if ev.baseline is None and delta is None:
            why = "the evaluation has no baseline; evaluate against one (e.g. the champion)"
        elif delta is None:
            why = f"no {rule.metric} difference with baseline {ev.baseline} was computed"
        else:
            why = delta.reason or "no reason given"
        reason = f"{rule.metric} vs baseline is not computable on {ds.dataset}: {why}"
        return not_checked(rule, "baseline", reason, dataset=ds.dataset)
    bound = delta.low if higher else delta.high
    note = ""
    if bound is None:
        bound = delta.diff
        note = " (no interval in the evaluation: the point difference was used)"
    passed = bound >= margin if higher else bound <= margin
    observed = f"diff {format_interval(delta.diff, delta.low, delta.high)}"
    word = "within" if passed else "beyond"
    reason = (
        f"{side} bound of {rule.metric} candidate - baseline is {format_value(bound)}, {word} the "
        f"margin {format_limit(rule.margin)} on {ds.dataset}{note}"
    )
    return GateCheck(rule.describe(), "baseline", passed, observed, threshold, reason, ds.dataset)


def _check_fairness(rule: FairnessRule, ds: DatasetEvaluation) -> GateCheck:
    found = next(
        (f for f in ds.fairness if f.column == rule.column and f.metric == rule.metric), None
    )
    if found is None or found.value is None:
        if found is None:
            have = ", ".join(f"{f.metric} of {f.column}" for f in ds.fairness) or "none"
            why = (
                f"it was not computed (computed: {have}); declare {rule.column!r} as a "
                f"sensitive column of the evaluation"
            )
        else:
            why = found.reason or "no reason given"
        reason = f"{rule.metric} of {rule.column} is not computable on {ds.dataset}: {why}"
        return not_checked(rule, "fairness", reason, dataset=ds.dataset)
    if rule.max is not None:
        limit, op, passed = rule.max, "<=", found.value <= rule.max
    else:
        limit = rule.min or 0.0  # FairnessRule guarantees exactly one of min and max
        op, passed = ">=", found.value >= limit
    verdict = "meets" if passed else "violates"
    reason = (
        f"{rule.metric} of {rule.column} is {format_value(found.value)} on {ds.dataset}, "
        f"which {verdict} {op} {format_limit(limit)}"
    )
    return GateCheck(
        rule.describe(),
        "fairness",
        passed,
        format_value(found.value),
        f"{op} {format_limit(limit)}",
        reason,
        ds.dataset,
    )


def _check_cost(rule: CostRule, ev: Evaluation) -> Iterator[GateCheck]:
    for key, limit in rule.budgets.items():
        text = rule.describe_budget(key)
        observed: float | None = None
        shown, how = "", ""
        if ev.costs is None:
            why = "the evaluation did not measure costs; run it with cost measurement on"
        elif key == "peak_memory_mb":
            observed = ev.costs.peak_memory_mb
        elif key == "artifact_mb":
            observed = ev.costs.artifact_bytes / 1_000_000
        else:
            case = key.removesuffix("_ms")
            observed = ev.costs.latency_ms.get(case)
            measured = ", ".join(ev.costs.latency_ms) or "none"
            why = f"latency case {case!r} was not measured (measured: {measured})"
            low, high = ev.costs.latency_low_ms.get(case), ev.costs.latency_high_ms.get(case)
            if observed is not None and ev.costs.rounds > 1:
                shown = format_interval(observed, low, high)
                how = f" (median of {ev.costs.rounds} rounds, range over the rounds in brackets)"
        if observed is None:
            yield GateCheck(text, "cost", None, "", f"<= {format_limit(limit)}", f"{key}: {why}")
            continue
        passed = observed <= limit
        verdict = "within" if passed else "over"
        shown = shown or format_value(observed)
        reason = f"{key} is {shown}{how}, {verdict} the budget {format_limit(limit)}"
        yield GateCheck(text, "cost", passed, shown, f"<= {format_limit(limit)}", reason)
