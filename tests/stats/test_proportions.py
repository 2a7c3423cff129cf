"""Wilson's interval of a rate (against SciPy's) and Newcombe's interval of a difference of
rates (against the eight examples of Newcombe 1998, Table II, method 10)."""

from __future__ import annotations

import pytest
from scipy.stats import binomtest

from loopml.core.errors import InvalidArgumentError
from loopml.stats.proportions import newcombe, wilson

#: (successes a, trials a, successes b, trials b) -> the published interval, 4 decimals.
NEWCOMBE_1998 = {
    (56, 70, 48, 80): (0.0524, 0.3339),
    (9, 10, 3, 10): (0.1705, 0.8090),
    (6, 7, 2, 7): (0.0582, 0.8062),
    (5, 56, 0, 29): (-0.0381, 0.1926),
    (0, 10, 0, 20): (-0.1611, 0.2775),
    (0, 10, 0, 10): (-0.2775, 0.2775),
    (10, 10, 0, 20): (0.6791, 1.0000),
    (10, 10, 0, 10): (0.6075, 1.0000),
}


@pytest.mark.parametrize(("k", "n"), [(0, 1), (0, 200), (3, 200), (7, 20), (50, 100), (20, 20)])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.999])
def test_wilson_matches_scipy(k: int, n: int, confidence: float) -> None:
    ci = binomtest(k, n).proportion_ci(confidence, method="wilson")
    assert wilson(k, n, confidence=confidence) == pytest.approx((ci.low, ci.high), abs=1e-12)


@pytest.mark.parametrize(("counts", "published"), NEWCOMBE_1998.items())
def test_newcombe_matches_the_paper(
    counts: tuple[int, int, int, int], published: tuple[float, float]
) -> None:
    low, high = newcombe(*counts)
    assert (round(low, 4), round(high, 4)) == published


def test_a_rate_never_seen_is_not_known_to_be_zero() -> None:
    low, high = wilson(0, 200)
    assert low == 0.0 and 0.018 < high < 0.019
    low, high = newcombe(0, 200, 0, 200)
    assert low < 0 < high


def test_bad_counts_are_named() -> None:
    with pytest.raises(InvalidArgumentError, match=r"trials of a proportion must be an int >= 1"):
        wilson(0, 0)
    with pytest.raises(
        InvalidArgumentError, match=r"count of a proportion must be an int in \[0, 5\]"
    ):
        wilson(6, 5)
    with pytest.raises(InvalidArgumentError, match=r"count of the second proportion"):
        newcombe(1, 5, -1, 5)
    with pytest.raises(InvalidArgumentError, match=r"'confidence' parameter must be a float"):
        wilson(1, 5, confidence=95)
