"""Drift tests: PSI and chi-square against hand-computed values and SciPy."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.stats

import loopml.stats
import loopml.stats.drift
from loopml.core.errors import DriftTestError, InvalidArgumentError
from loopml.stats.drift import (
    ChiSquareDrift,
    DriftResult,
    DriftTest,
    PSIDrift,
    drift_test_names,
    get_drift_test,
    register_drift_test,
)


@pytest.mark.parametrize("module", [loopml.stats, loopml.stats.drift])
def test_all_is_sorted_and_complete(module: object) -> None:
    exported = list(module.__all__)  # type: ignore[attr-defined]
    assert exported == sorted(exported)
    assert all(hasattr(module, name) for name in exported)


def test_registry_lists_builtins() -> None:
    assert drift_test_names() == ("chi_square", "jensen_shannon", "ks", "psi", "wasserstein")
    assert isinstance(get_drift_test("psi"), PSIDrift)
    assert isinstance(get_drift_test("chi_square", threshold=0.01), ChiSquareDrift)
    assert get_drift_test("chi_square", threshold=0.01).get_params() == {"threshold": 0.01}


def test_unknown_name_suggests() -> None:
    with pytest.raises(InvalidArgumentError, match=r"Unknown drift test 'pis'.*Did you mean 'psi'"):
        get_drift_test("pis")


@pytest.mark.parametrize("counts", [[10, 20, 30], [1, 0, 5, 7], [1000]])
def test_psi_of_identical_distributions_is_zero(counts: list[int]) -> None:
    result = PSIDrift().compute(counts, counts)
    assert result.statistic == pytest.approx(0.0, abs=1e-12)
    assert not result.drifted
    assert result.p_value is None
    scaled = PSIDrift().compute(counts, [c * 7 for c in counts])
    assert scaled.statistic == pytest.approx(0.0, abs=1e-12)


def test_psi_hand_computed() -> None:
    # p = (0.5, 0.5), q = (0.8, 0.2):
    # (0.8-0.5)*ln(0.8/0.5) + (0.2-0.5)*ln(0.2/0.5) = 0.3*0.470004 + 0.3*0.916291 = 0.415888
    result = PSIDrift().compute([50, 50], [80, 20])
    expected = 0.3 * math.log(1.6) + 0.3 * math.log(2.5)
    assert result.statistic == pytest.approx(expected, rel=1e-12)
    assert result.statistic == pytest.approx(0.415888, abs=1e-6)
    assert result.drifted and result.threshold == 0.2


def test_psi_empty_bin_uses_epsilon() -> None:
    result = PSIDrift().compute([100, 0], [90, 10])
    p = np.array([1.0, 1e-4])
    q = np.array([0.9, 0.1])
    assert result.statistic == pytest.approx(float(np.sum((q - p) * np.log(q / p))))
    assert math.isfinite(result.statistic)


def test_chi_square_matches_scipy_contingency() -> None:
    ref, cur = [120, 340, 90, 50], [100, 300, 140, 30]
    result = ChiSquareDrift().compute(ref, cur)
    expected = scipy.stats.chi2_contingency(np.array([ref, cur]), correction=False)
    assert result.statistic == pytest.approx(expected.statistic)
    assert result.p_value == pytest.approx(expected.pvalue)
    assert result.drifted is bool(expected.pvalue < 0.05)


def test_chi_square_equals_goodness_of_fit_on_pooled_expectation() -> None:
    # The 2 x k homogeneity statistic is the sum of two goodness-of-fit statistics against the
    # pooled proportions (what scipy.stats.chisquare computes on each row).
    ref, cur = np.array([30.0, 50.0, 20.0]), np.array([25.0, 45.0, 30.0])
    pooled = (ref + cur) / (ref + cur).sum()
    gof = scipy.stats.chisquare(ref, pooled * ref.sum()).statistic
    gof += scipy.stats.chisquare(cur, pooled * cur.sum()).statistic
    assert ChiSquareDrift().compute(ref, cur).statistic == pytest.approx(gof)


def test_chi_square_same_counts_no_drift_and_empty_bins_dropped() -> None:
    result = ChiSquareDrift().compute([50, 0, 50], [50, 0, 50])
    assert result.statistic == pytest.approx(0.0)
    assert result.p_value == pytest.approx(1.0)
    single = ChiSquareDrift().compute([10, 0], [20, 0])
    assert (single.statistic, single.p_value, single.drifted) == (0.0, 1.0, False)


@pytest.mark.parametrize(
    ("ref", "cur", "match"),
    [
        ([1, 2], [1, 2, 3], r"same bins.*2 reference bins and 3 current bins"),
        ([1, -2], [1, 2], r"'reference'.*finite counts >= 0.*Got \[1.0, -2.0\]"),
        ([1, float("nan")], [1, 2], r"'reference'.*finite counts"),
        ([0, 0], [1, 2], r"'reference'.*no observations"),
        ([], [], r"non-empty 1-D"),
        ([[1, 2]], [[1, 2]], r"non-empty 1-D.*shape \(1, 2\)"),
        (["a", "b"], [1, 2], r"sequence of numbers"),
    ],
)
def test_bad_counts_raise(ref: object, cur: object, match: str) -> None:
    for test in (PSIDrift(), ChiSquareDrift()):
        with pytest.raises(InvalidArgumentError, match=match):
            test.compute(ref, cur)  # type: ignore[arg-type]


@pytest.mark.parametrize("threshold", [-0.1, float("nan"), float("inf"), "high", True])
def test_bad_threshold_raises(threshold: object) -> None:
    with pytest.raises(InvalidArgumentError, match=r"'threshold' parameter of PSIDrift"):
        PSIDrift(threshold=threshold)  # type: ignore[arg-type]


def test_foreign_errors_are_wrapped_and_registry_rejects_duplicates() -> None:
    class Broken(DriftTest):
        name = "broken_for_test"
        default_threshold = 0.1
        drift_when = "statistic_above"

        def _impl(self, reference: object, current: object) -> tuple[float, float | None]:
            raise ZeroDivisionError("boom")

    with pytest.raises(DriftTestError, match=r"'broken_for_test' failed: boom"):
        Broken().compute([1], [1])

    class Clash(PSIDrift):
        pass

    with pytest.raises(InvalidArgumentError, match=r"'psi' is already registered"):
        register_drift_test(Clash)


def test_result_round_trips_through_json() -> None:
    for result in (PSIDrift().compute([5, 5], [9, 1]), ChiSquareDrift().compute([5, 5], [9, 1])):
        text = json.dumps(result.to_dict(), allow_nan=False)
        assert DriftResult.from_dict(json.loads(text)) == result
