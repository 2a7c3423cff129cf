"""Release gates: every rule kind passes, fails and is not computable; policies parse or say
exactly which rule is wrong; decisions round-trip through JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from loopml.core.entities.evaluation import (
    CostResult,
    DatasetEvaluation,
    Evaluation,
    FairnessResult,
    GateCheck,
    GateDecision,
    MetricDelta,
    MetricValue,
    SliceResult,
)
from loopml.core.errors import InvalidArgumentError
from loopml.evaluation.gate import check_gate, format_interval, format_value
from loopml.evaluation.gate_rules import (
    BaselineRule,
    CostRule,
    FairnessRule,
    SliceRule,
    ThresholdRule,
    higher_is_better,
)
from loopml.evaluation.policy import GatePolicy, load_policy

DOCS_POLICY = Path(__file__).parents[2] / "docs_src" / "gate_policy.yaml"
HOLDOUT = "credit-holdout@2"


# --- builders ---------------------------------------------------------------------------------


def mv(name: str, value: float | None, low: float | None = None, high: float | None = None,
       reason: str = "") -> MetricValue:  # fmt: skip
    return MetricValue(name=name, value=value, low=low, high=high, reason=reason)


def delta(name: str, candidate: float | None, baseline: float | None,
          low: float | None = None, high: float | None = None, reason: str = "") -> MetricDelta:  # fmt: skip
    diff = None if candidate is None or baseline is None else candidate - baseline
    return MetricDelta(name, candidate, baseline, diff, low, high, reason)


def piece(name: str, support: int, candidate: float | None, baseline: float | None = None,
          metric: str = "roc_auc", kind: str = "value",
          interval: tuple[float, float] | None = None) -> SliceResult:  # fmt: skip
    low, high = interval or (None, None)
    deltas = () if baseline is None else (delta(metric, candidate, baseline, low, high),)
    reason = "" if candidate is not None else "only one class in the slice"
    return SliceResult(
        name=name,
        kind=kind,
        support=support,
        metrics=(mv(metric, candidate, reason=reason),),
        deltas=deltas,
    )


def dataset(ref: str = HOLDOUT, *, metrics: tuple[MetricValue, ...] | None = None,
            deltas: tuple[MetricDelta, ...] = (), slices: tuple[SliceResult, ...] = (),
            worst: tuple[SliceResult, ...] = (), fairness: tuple[FairnessResult, ...] = (),
            searched: int = 0) -> DatasetEvaluation:  # fmt: skip
    if metrics is None:
        metrics = (mv("roc_auc", 0.8312, 0.8201, 0.8420), mv("log_loss", 0.41, 0.39, 0.43))
    return DatasetEvaluation(
        dataset=ref,
        rows=5000,
        metrics=metrics,
        deltas=deltas,
        slices=slices,
        worst_slices=worst,
        fairness=fairness,
        searched=searched,
    )


def evaluation(*datasets: DatasetEvaluation, baseline: str | None = "credit-default@5",
               costs: CostResult | None = None) -> Evaluation:  # fmt: skip
    return Evaluation(
        evaluation_id="a" * 32,
        model="credit-default@7",
        baseline=baseline,
        task="binary",
        target="default",
        datasets=datasets or (dataset(),),
        costs=costs,
        created_at=1_700_000_000_000,
        created_by="ci",
    )


def gate(*rules: Any, ev: Evaluation) -> GateDecision:
    return check_gate({"name": "test", "rules": list(rules)}, ev, at=1, actor="ci")


def only(decision: GateDecision) -> GateCheck:
    assert len(decision.checks) == 1, decision.checks
    return decision.checks[0]


# --- formatting and directions ------------------------------------------------------------


def test_values_have_four_significant_digits_and_intervals_brackets() -> None:
    assert format_interval(0.8312, 0.8201, 0.842) == "0.8312 [0.8201, 0.8420]"
    assert format_interval(0.8312, None, None) == "0.8312"
    assert format_value(12.5) == "12.50"
    assert format_value(1234.0) == "1234"
    assert format_value(123456.0) == "123500"
    assert format_value(-0.0) == "0.000"


def test_metric_directions() -> None:
    assert higher_is_better("auc") and higher_is_better("roc_auc") and higher_is_better("r2")
    for metric in ("log_loss", "brier", "ece", "mae", "rmse", "mape", "error_q90"):
        assert not higher_is_better(metric)


# --- threshold ----------------------------------------------------------------------------


def test_threshold_passes_with_alias_and_describes_the_rule() -> None:
    check = only(gate({"metric": "auc", "min": 0.80, "dataset": "credit-holdout"}, ev=evaluation()))
    assert check.passed is True
    assert check.rule == "auc >= 0.8 on credit-holdout"
    assert check.observed == "0.8312 [0.8201, 0.8420]"
    assert check.dataset == HOLDOUT
    assert check.kind == "threshold"


def test_threshold_fails() -> None:
    decision = gate({"metric": "auc", "min": 0.85}, ev=evaluation())
    assert decision.passed is False
    assert only(decision).passed is False
    assert "0.8312 is below the minimum 0.85" in only(decision).reason


def test_threshold_on_the_lower_bound_is_conservative() -> None:
    rule = {"metric": "auc", "min": 0.825, "use": "low"}
    check = only(gate(rule, ev=evaluation()))
    assert check.passed is False  # value 0.8312 passes, but the lower bound 0.8201 does not
    assert check.rule == "auc low bound >= 0.825"
    assert "0.8201" in check.reason


def test_threshold_on_a_bound_without_interval_is_not_computable() -> None:
    ev = evaluation(dataset(metrics=(mv("roc_auc", 0.83),)))
    check = only(gate({"metric": "auc", "min": 0.8, "use": "low"}, ev=ev))
    assert check.passed is None
    assert "no confidence interval" in check.reason


def test_threshold_checks_every_dataset_without_one_named() -> None:
    ev = evaluation(dataset(), dataset("credit-oot@1", metrics=(mv("roc_auc", 0.79, 0.77, 0.81),)))
    decision = gate({"metric": "auc", "min": 0.8}, ev=ev)
    assert [(c.dataset, c.passed) for c in decision.checks] == [
        (HOLDOUT, True),
        ("credit-oot@1", False),
    ]
    assert decision.passed is False
    assert decision.failures == (decision.checks[1],)


def test_threshold_lower_is_better_uses_max() -> None:
    assert only(gate({"metric": "log_loss", "max": 0.45}, ev=evaluation())).passed is True
    check = only(gate({"metric": "log_loss", "max": 0.40}, ev=evaluation()))
    assert check.passed is False
    assert "exceeds the maximum 0.4" in check.reason


def test_threshold_not_computable_metric_reports_the_reason() -> None:
    ev = evaluation(dataset(metrics=(mv("roc_auc", None, reason="roc_auc needs both classes"),)))
    decision = gate({"metric": "auc", "min": 0.8}, ev=ev)
    check = only(decision)
    assert check.passed is None
    assert decision.passed is False
    assert check.reason == ("auc is not computable on credit-holdout@2: roc_auc needs both classes")
    assert check.observed == ""


def test_threshold_metric_not_computed_and_dataset_not_evaluated() -> None:
    check = only(gate({"metric": "f1", "min": 0.5}, ev=evaluation()))
    assert check.passed is None
    assert "f1 was not computed on credit-holdout@2 (computed: roc_auc, log_loss)" in check.reason

    check = only(gate({"metric": "auc", "min": 0.8, "dataset": "credit-holdot"}, ev=evaluation()))
    assert check.passed is None
    assert "'credit-holdot' was not evaluated" in check.reason
    assert "Did you mean 'credit-holdout'?" in check.reason


# --- baseline -----------------------------------------------------------------------------


def baseline_ev(low: float | None, high: float | None, diff: float = -0.002,
                metric: str = "roc_auc") -> Evaluation:  # fmt: skip
    d = MetricDelta(metric, 0.83, 0.83 - diff, diff, low, high)
    return evaluation(dataset(deltas=(d,)))


def test_baseline_passes_on_the_interval() -> None:
    rule = {"metric": "auc", "no_worse_than_baseline_by": 0.005}
    check = only(gate(rule, ev=baseline_ev(-0.004, 0.001)))
    assert check.passed is True
    assert check.rule == "auc no worse than baseline by more than 0.005"
    assert check.observed == "diff -0.002000 [-0.004000, 0.001000]"
    assert check.kind == "baseline"


def test_baseline_point_diff_fine_but_interval_below_margin_fails() -> None:
    rule = {"metric": "auc", "no_worse_than_baseline_by": 0.005}
    check = only(gate(rule, ev=baseline_ev(-0.009, 0.004, diff=-0.002)))
    assert check.passed is False
    assert "-0.009000, beyond the margin 0.005" in check.reason


def test_baseline_without_interval_falls_back_to_the_point_diff() -> None:
    rule = {"metric": "auc", "no_worse_than_baseline_by": 0.005}
    check = only(gate(rule, ev=baseline_ev(None, None, diff=-0.002)))
    assert check.passed is True
    assert "point difference was used" in check.reason


def test_baseline_lower_is_better_reads_the_upper_bound() -> None:
    rule = {"metric": "log_loss", "no_worse_than_baseline_by": 0.01}
    # candidate log_loss higher than baseline by 0.004, upper bound 0.008: within the margin
    assert only(gate(rule, ev=baseline_ev(0.0, 0.008, 0.004, "log_loss"))).passed is True
    # upper bound 0.015 > 0.01: fails even though the point diff is small
    check = only(gate(rule, ev=baseline_ev(-0.007, 0.015, 0.004, "log_loss")))
    assert check.passed is False
    assert "upper bound" in check.reason
    # a big improvement (negative diff) passes
    assert only(gate(rule, ev=baseline_ev(-0.05, -0.02, -0.035, "log_loss"))).passed is True


def test_baseline_not_computable_without_baseline_or_delta() -> None:
    rule = {"metric": "auc", "no_worse_than_baseline_by": 0.005}
    check = only(gate(rule, ev=evaluation(baseline=None)))
    assert check.passed is None
    assert "has no baseline" in check.reason

    check = only(gate(rule, ev=evaluation()))
    assert check.passed is None
    assert "no auc difference with baseline credit-default@5 was computed" in check.reason

    missing = MetricDelta("roc_auc", None, 0.8, None, reason="roc_auc needs both classes")
    check = only(gate(rule, ev=evaluation(dataset(deltas=(missing,)))))
    assert check.passed is None
    assert check.reason.endswith("roc_auc needs both classes")


# --- slices -------------------------------------------------------------------------------

SLICE_RULE = {"slices": {"metric": "auc", "min_support": 200, "max_drop": 0.02}}


def test_planted_slice_regression_fails_while_overall_auc_passes() -> None:
    ds = dataset(
        deltas=(delta("roc_auc", 0.8312, 0.8290, -0.001, 0.006),),
        slices=(
            piece("origin = 'JFK'", 500, 0.74, 0.82),  # the planted regression: -0.08
            piece("origin = 'LGA'", 900, 0.84, 0.835),
            piece("origin = 'EWR'", 150, 0.60, 0.80),  # large drop, but too small to count
        ),
        worst=(
            piece("carrier = 'UA'", 400, 0.80, 0.83),  # -0.03: also fails
            piece("origin = 'JFK'", 500, 0.74, 0.82),  # duplicate of a declared slice
        ),
    )
    decision = gate(
        {"metric": "auc", "min": 0.8},
        {"metric": "auc", "no_worse_than_baseline_by": 0.005},
        {"slices": {**SLICE_RULE["slices"], "use": "value"}},
        ev=evaluation(ds),
    )
    threshold, baseline, slices = decision.checks
    assert threshold.passed is True and baseline.passed is True
    assert slices.passed is False
    assert decision.passed is False
    assert slices.rule == "no slice with support >= 200 drops auc by more than 0.02 (point drop)"
    assert slices.kind == "slice"
    assert slices.observed == "worst drop 0.08000 on origin = 'JFK'"
    assert slices.reason.startswith(
        "2 of 3 slice(s) drop auc by more than 0.02 vs baseline: "
        "origin = 'JFK' (drop 0.08000, support 500), "
        "carrier = 'UA' (drop 0.03000, support 400, found by search)"
    )
    assert "1 slice(s) below support 200 not checked" in slices.reason


def test_slices_pass_and_say_how_many_were_checked() -> None:
    ds = dataset(slices=(piece("a", 300, 0.83, 0.835), piece("b", 300, 0.85, 0.84)))
    check = only(gate(SLICE_RULE, ev=evaluation(ds)))
    assert check.passed is True
    assert check.reason == (
        "2 slice(s) checked vs baseline, none drops auc by more than 0.02 beyond noise; "
        "no interval for some slices: their point drop was used"
    )


def test_slices_without_baseline_are_not_computable_unless_versus_overall() -> None:
    ds = dataset(slices=(piece("a", 300, 0.80), piece("b", 300, 0.82)))  # overall 0.8312
    check = only(gate(SLICE_RULE, ev=evaluation(ds, baseline=None)))
    assert check.passed is None
    assert (
        "no baseline to compare slices with" in check.reason and "versus: overall" in check.reason
    )
    overall = {
        "slices": {"metric": "auc", "min_support": 200, "max_drop": 0.02, "versus": "overall"}
    }
    check = only(gate(overall, ev=evaluation(ds, baseline=None)))
    assert check.passed is False
    assert check.rule.endswith("by more than 0.02 vs its overall value")
    assert "vs overall auc on credit-holdout@2: a (drop 0.03120, support 300)" in check.reason
    with pytest.raises(InvalidArgumentError, match="'versus' of a slices rule must be one of"):
        load_policy({"name": "p", "rules": [{"slices": {**overall["slices"], "versus": "x"}}]})


def test_a_slice_drop_within_noise_passes_by_default_and_fails_on_the_point_value() -> None:
    # 280 rows, drop 0.139 with paired interval [-0.371, +0.006] (the case in the issue)
    noisy = piece("relationship = 'Unmarried'", 280, 0.78, 0.919, interval=(-0.371, 0.006))
    ev = evaluation(dataset(slices=(noisy,)))
    check = only(gate(SLICE_RULE, ev=ev))
    assert check.passed is True, check.reason
    assert check.threshold == "cautious bound of the drop of auc <= 0.02"
    assert check.observed == "worst drop 0.1390 on relationship = 'Unmarried' (bound -0.006000)"
    assert "none drops auc by more than 0.02 beyond noise" in check.reason
    value = only(gate({"slices": {**SLICE_RULE["slices"], "use": "value"}}, ev=ev))
    assert value.passed is False
    assert "relationship = 'Unmarried' (drop 0.1390, support 280)" in value.reason


def test_a_drop_beyond_noise_fails_naming_the_slice_and_its_bound() -> None:
    real = piece("origin = 'JFK'", 500, 0.74, 0.82, interval=(-0.11, -0.05))
    check = only(gate(SLICE_RULE, ev=evaluation(dataset(slices=(real,)))))
    assert check.passed is False
    assert "origin = 'JFK' (drop 0.08000, bound 0.05000, support 500)" in check.reason


def test_searched_slices_are_corrected_for_every_candidate_examined() -> None:
    # drop 0.07, lower bound 0.04 at 95%: beyond 0.02 for one slice, within noise for the
    # worst of 300 candidates (Bonferroni widens the cautious half 1.92x: bound 0.0124)
    found = piece("carrier = 'UA'", 400, 0.76, 0.83, kind="auto", interval=(-0.10, -0.04))
    declared = dataset(slices=(found,))
    assert only(gate(SLICE_RULE, ev=evaluation(declared))).passed is False
    searched = dataset(worst=(found,), searched=300)
    check = only(gate(SLICE_RULE, ev=evaluation(searched)))
    assert check.passed is True, check.reason
    assert (
        "bounds corrected for 300 comparisons (0 declared slice(s) + 300 search candidate(s); "
        "Bonferroni, 1.92x wider)" in check.reason
    )
    assert check.observed.endswith("(bound 0.01237)")
    # declared slices count in the family too: 9 declared + 300 candidates
    others = tuple(
        piece(f"region = {i}", 300, 0.83, 0.83, interval=(-0.03, 0.03)) for i in range(9)
    )
    both = only(
        gate(SLICE_RULE, ev=evaluation(dataset(slices=others, worst=(found,), searched=300)))
    )
    assert "corrected for 309 comparisons (9 declared slice(s) + 300 search" in both.reason
    # an evaluation that did not record the search's size corrects for the reported slices
    twice = (found, piece("carrier = 'AA'", 400, 0.8, 0.81, kind="auto", interval=(-0.03, 0.01)))
    legacy = only(gate(SLICE_RULE, ev=evaluation(dataset(worst=twice))))
    assert (
        "2 search candidate(s) (the reported ones: the evaluation did not record" in legacy.reason
    )


def test_scope_picks_declared_or_searched_slices() -> None:
    bad = piece("origin = 'JFK'", 500, 0.74, 0.82, interval=(-0.11, -0.05))
    worse = piece("carrier = 'UA'", 500, 0.60, 0.82, kind="auto", interval=(-0.30, -0.15))
    ds = dataset(slices=(bad,), worst=(worse,), searched=40)
    rule = SLICE_RULE["slices"]
    declared = only(gate({"slices": {**rule, "scope": "declared"}}, ev=evaluation(ds)))
    assert declared.rule.startswith("no declared slice with support >= 200")
    assert "origin = 'JFK'" in declared.reason and "carrier" not in declared.reason
    searched = only(gate({"slices": {**rule, "scope": "searched"}}, ev=evaluation(ds)))
    assert searched.rule.startswith("no searched slice with support >= 200")
    assert "carrier = 'UA'" in searched.reason and "JFK" not in searched.reason
    both = only(gate(SLICE_RULE, ev=evaluation(ds)))
    assert both.passed is False and "2 of 2 slice(s)" in both.reason
    empty = only(
        gate({"slices": {**rule, "scope": "searched"}}, ev=evaluation(dataset(slices=(bad,))))
    )
    assert empty.passed is None and "worst_slices > 0" in empty.reason
    with pytest.raises(InvalidArgumentError, match="'scope' of a slices rule must be one of.*"
                       "Did you mean 'searched'"):  # fmt: skip
        load_policy({"name": "p", "rules": [{"slices": {**rule, "scope": "serched"}}]})
    with pytest.raises(InvalidArgumentError, match="'use' of a slices rule must be one of"):
        load_policy({"name": "p", "rules": [{"slices": {**rule, "use": "low"}}]})


def test_versus_overall_reads_the_interval_taken_on_the_same_resamples() -> None:
    gap = MetricDelta("roc_auc", 0.78, 0.8312, 0.78 - 0.8312, -0.09, -0.01)
    harder = SliceResult("age < 25", "value", 300, (mv("roc_auc", 0.78, 0.72, 0.84),), gaps=(gap,))
    rule = {"slices": {"metric": "auc", "max_drop": 0.02, "versus": "overall"}}
    check = only(gate(rule, ev=evaluation(dataset(slices=(harder,)), baseline=None)))
    assert check.passed is True, check.reason  # drop 0.0512, but its bound is 0.01
    assert check.observed == "worst drop 0.05120 on age < 25 (bound 0.01000)"
    tight = {"slices": {**rule["slices"], "max_drop": 0.005}}
    check = only(gate(tight, ev=evaluation(dataset(slices=(harder,)), baseline=None)))
    assert check.passed is False and "age < 25 (drop 0.05120, bound 0.01000" in check.reason


def test_slices_lower_is_better_flip_the_sign() -> None:
    rule = {"slices": {"metric": "log_loss", "max_drop": 0.02}}
    ds = dataset(
        slices=(
            piece("better", 300, 0.35, 0.40, metric="log_loss"),  # loss went down: no drop
            piece("worse", 300, 0.45, 0.40, metric="log_loss"),  # loss up 0.05: a drop
        )
    )
    check = only(gate(rule, ev=evaluation(ds)))
    assert check.passed is False
    assert "worse (drop 0.05000" in check.reason
    assert "better" not in check.reason


def test_slices_not_computable_are_skipped_and_counted() -> None:
    ds = dataset(slices=(piece("a", 300, 0.83, 0.835), piece("one-class", 300, None, 0.8)))
    check = only(gate(SLICE_RULE, ev=evaluation(ds)))
    assert check.passed is True
    assert "1 slice(s) skipped (auc not computable)" in check.reason

    ds = dataset(slices=(piece("one-class", 300, None, 0.8),))
    check = only(gate(SLICE_RULE, ev=evaluation(ds)))
    assert check.passed is None
    assert "no slice's auc drop is computable" in check.reason

    check = only(gate(SLICE_RULE, ev=evaluation(dataset())))
    assert check.passed is None
    assert "no slices were evaluated" in check.reason


# --- fairness -----------------------------------------------------------------------------


def fairness_ev(value: float | None, metric: str = "demographic_parity_difference") -> Evaluation:
    reason = "" if value is not None else "group 'F' has no rows"
    return evaluation(dataset(fairness=(FairnessResult("SEX", metric, value, reason=reason),)))


def test_fairness_pass_fail_and_not_computable() -> None:
    rule = {"fairness": {"column": "SEX", "metric": "demographic_parity_difference", "max": 0.1}}
    check = only(gate(rule, ev=fairness_ev(0.04)))
    assert check.passed is True
    assert check.rule == "demographic_parity_difference of SEX <= 0.1"
    assert check.kind == "fairness"
    assert only(gate(rule, ev=fairness_ev(0.15))).passed is False
    check = only(gate(rule, ev=fairness_ev(None)))
    assert check.passed is None
    assert "group 'F' has no rows" in check.reason
    check = only(gate(rule, ev=evaluation()))
    assert check.passed is None
    assert "was not computed" in check.reason


def test_fairness_ratio_uses_min() -> None:
    rule = {"fairness": {"column": "SEX", "metric": "equalized_odds_ratio", "min": 0.8}}
    assert only(gate(rule, ev=fairness_ev(0.9, "equalized_odds_ratio"))).passed is True
    assert only(gate(rule, ev=fairness_ev(0.7, "equalized_odds_ratio"))).passed is False


# --- cost ---------------------------------------------------------------------------------

COSTS = CostResult(
    latency_ms={"p50_1": 2.0, "p99_1": 12.5, "p50_1000": 180.0, "p99_1000": 260.0},
    peak_memory_mb=310.0,
    artifact_bytes=120_000_000,
)


def test_cost_one_check_per_budget() -> None:
    rule = {"cost": {"p99_1_ms": 50, "p50_1000_ms": 200, "peak_memory_mb": 500, "artifact_mb": 100}}
    decision = gate(rule, ev=evaluation(costs=COSTS))
    assert [(c.rule, c.passed, c.observed) for c in decision.checks] == [
        ("p99_1_ms <= 50", True, "12.50"),
        ("p50_1000_ms <= 200", True, "180.0"),
        ("peak_memory_mb <= 500", True, "310.0"),
        ("artifact_mb <= 100", False, "120.0"),
    ]
    assert decision.passed is False


def test_cost_not_measured_is_not_computable() -> None:
    check = only(gate({"cost": {"p99_1_ms": 50}}, ev=evaluation()))
    assert check.passed is None
    assert "did not measure costs" in check.reason
    costs = CostResult(latency_ms={"p50_1": 2.0}, peak_memory_mb=1.0, artifact_bytes=1)
    check = only(gate({"cost": {"p99_1_ms": 50}}, ev=evaluation(costs=costs)))
    assert check.passed is None
    assert "'p99_1' was not measured (measured: p50_1)" in check.reason


# --- policy parsing -----------------------------------------------------------------------


def policy_with(bad: Any) -> dict[str, Any]:
    return {"name": "p", "rules": [{"metric": "auc", "min": 0.8}, {"cost": {"p99_1_ms": 5}}, bad]}


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (
            {"metric": "auc", "min": 0.8, "datset": "x"},
            r"rules\[2\].*unknown key 'datset'.*Did you mean 'dataset'",
        ),
        ({"metric": "acu", "min": 0.8}, r"rules\[2\].*Got 'acu'.*Did you mean 'auc'"),
        (
            {"metric": "auc", "min": 0.8, "max": 0.9},
            r"rules\[2\].*exactly one of 'min' and 'max'\. Got both",
        ),
        ({"metric": "auc"}, r"rules\[2\].*exactly one of 'min' and 'max'\. Got neither"),
        (
            {"metric": "auc", "no_worse_than_baseline_by": -0.01},
            r"rules\[2\].*'no_worse_than_baseline_by'.*>= 0\. Got -0\.01",
        ),
        (
            {"metric": "auc", "min": "0.8"},
            r"rules\[2\].*'min'.*must be a number\. Got '0\.8' \(str\).*without quotes",
        ),
        ({"metric": "auc", "min": True}, r"rules\[2\].*must be a number"),
        ({"metric": "auc", "min": 0.8, "use": "lo"}, r"rules\[2\].*'use'.*Did you mean 'low'"),
        (
            {"metric": "auc", "min": 0.8, "no_worse_than_baseline_by": 0.1},
            r"rules\[2\] \(baseline\): unknown key 'min'",
        ),
        ({"slices": {"metric": "auc", "max_drop": -1}}, r"rules\[2\].*'max_drop'.*>= 0"),
        (
            {"slices": {"metric": "auc", "max_drop": 0.1, "min_suport": 5}},
            r"rules\[2\] \(slices\): unknown key 'min_suport'",
        ),
        (
            {"slices": {"metric": "auc"}},
            r"rules\[2\] \(slices\): missing required key\(s\) max_drop",
        ),
        (
            {"slices": {"metric": "auc", "max_drop": 0.1}, "dataset": "x"},
            r"rules\[2\].*Move them inside",
        ),
        (
            {"fairness": {"column": "SEX", "metric": "demographic_parity_ratio", "max": 0.1}},
            r"rules\[2\].*a ratio\) needs 'min'",
        ),
        (
            {"fairness": {"column": "SEX", "metric": "parity", "max": 0.1}},
            r"rules\[2\].*fairness rule must be one of",
        ),
        (
            {"cost": {"p99_ms": 5}},
            r"rules\[2\] \(cost\): unknown key 'p99_ms'.*Did you mean 'p99_1_ms'",
        ),
        ({"threshold": 0.8}, r"rules\[2\] is not a rule"),
        ("auc >= 0.8", r"rules\[2\] must be a mapping"),
    ],
)
def test_parse_errors_name_the_rule_and_the_fix(bad: Any, match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        load_policy(policy_with(bad))


def test_policy_level_errors() -> None:
    with pytest.raises(InvalidArgumentError, match=r"has no rules"):
        load_policy({"name": "p", "rules": []})
    with pytest.raises(InvalidArgumentError, match=r"unknown key 'rule'.*Did you mean 'rules'"):
        load_policy({"name": "p", "rule": []})
    with pytest.raises(InvalidArgumentError, match=r"'rules' of gate policy 'p' must be a list"):
        load_policy({"name": "p", "rules": {"metric": "auc"}})
    with pytest.raises(InvalidArgumentError, match=r"rules\[0\] must be a ThresholdRule"):
        GatePolicy(name="p", rules=("auc",))  # type: ignore[arg-type]


def test_python_objects_are_validated_by_the_same_rules() -> None:
    with pytest.raises(InvalidArgumentError, match="exactly one of 'min' and 'max'"):
        ThresholdRule(metric="auc")
    policy = GatePolicy(
        name="py",
        rules=(
            ThresholdRule(metric="auc", min=0.8),
            BaselineRule(metric="auc", margin=0.005),
            SliceRule(metric="auc", max_drop=0.02, min_support=200),
            FairnessRule(column="SEX", metric="demographic_parity_difference", max=0.1),
            CostRule(budgets={"p99_1_ms": 50}),
        ),
    )
    assert load_policy(policy) is policy
    decision = check_gate(policy, evaluation(), at=5, actor="me")
    assert [c.kind for c in decision.checks] == [
        "threshold",
        "baseline",
        "slice",
        "fairness",
        "cost",
    ]


def test_load_from_a_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "gate.yaml"
    path.write_text("name: mine\nrules:\n  - metric: auc\n    min: 0.8\n")
    for source in (path, str(path)):
        policy = load_policy(source)
        assert policy.name == "mine"
        assert policy.rules == (ThresholdRule(metric="auc", min=0.8),)
    assert check_gate(path, evaluation(), at=1, actor="ci").passed is True


def test_yaml_errors_name_the_line_and_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nrules:\n  - metric: auc\n   min: 0.8\n")
    with pytest.raises(InvalidArgumentError, match=r"is not valid YAML at line 4, column"):
        load_policy(path)
    with pytest.raises(InvalidArgumentError, match=r"'.*missing\.yml' does not exist"):
        load_policy(str(tmp_path / "missing.yml"))
    with pytest.raises(InvalidArgumentError, match=r"neither an existing file"):
        load_policy("not-a-policy")
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(InvalidArgumentError, match=r"must be a mapping with 'name' and 'rules'"):
        load_policy(empty)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("name: w\nrules:\n  - metric: auc\n  - metric: auc\n    max: x\n")
    with pytest.raises(InvalidArgumentError, match=r"wrong\.yaml.*rules\[0\].*Got neither"):
        load_policy(wrong)


def test_the_docs_example_policy_loads_and_runs() -> None:
    policy = load_policy(DOCS_POLICY)
    assert policy.name == "credit-default-release"
    kinds = {type(rule).__name__ for rule in policy.rules}
    assert kinds == {"ThresholdRule", "BaselineRule", "SliceRule", "FairnessRule", "CostRule"}
    assert policy.rules[0].describe() == "auc >= 0.8 on credit-holdout"
    decision = check_gate(DOCS_POLICY, evaluation(costs=COSTS), at=1, actor="ci")
    assert decision.policy == "credit-default-release"
    assert decision.passed is False  # e.g. no fairness results in this evaluation


# --- the decision -------------------------------------------------------------------------


def test_decision_round_trips_through_json() -> None:
    ds = dataset(
        deltas=(delta("roc_auc", 0.8312, 0.8290, -0.001, 0.006),),
        slices=(piece("origin = 'JFK'", 500, 0.74, 0.82),),
        fairness=(FairnessResult("SEX", "demographic_parity_difference", 0.05),),
    )
    decision = check_gate(DOCS_POLICY, evaluation(ds, costs=COSTS), at=123, actor="ci")
    assert {c.passed for c in decision.checks} == {True, False, None}
    text = json.dumps(decision.to_dict(), allow_nan=False)
    assert GateDecision.from_dict(json.loads(text)) == decision
    assert decision.model == "credit-default@7"
    assert decision.evaluation_id == "a" * 32
    assert (decision.at, decision.actor) == (123, "ci")


def test_every_check_must_pass() -> None:
    decision = gate({"metric": "auc", "min": 0.8}, {"metric": "log_loss", "max": 0.5},
                    ev=evaluation())  # fmt: skip
    assert decision.passed is True
    assert decision.failures == ()
