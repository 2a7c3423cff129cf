"""Analytic intervals of proportions: Wilson's score interval of one rate, Newcombe's hybrid
score interval of the difference of two independent rates.

Both stay inside [0, 1] (resp. [-1, 1]), and both behave at the edges, where the normal
approximation and the percentile bootstrap do not: 0 failures out of 200 gives a Wilson
interval [0, 0.019], not the point 0, so a rate that has not been seen yet is not taken as
known to be 0. Newcombe's interval (method 10 of Newcombe 1998, "Interval estimation for the
difference between independent proportions", Statistics in Medicine 17: 873-890) combines
the two Wilson intervals; the tests check it against the eight examples of that paper's
Table II.

Example:
    >>> low, high = wilson(0, 200)
    >>> (low, round(high, 4))
    (0.0, 0.0188)
    >>> [round(x, 4) for x in newcombe(56, 70, 48, 80)]
    [0.0524, 0.3339]
"""

from __future__ import annotations

import math
import numbers

from scipy import special

from loopml.core.errors import InvalidArgumentError


def _z(confidence: float) -> float:
    number = isinstance(confidence, float | int) and not isinstance(confidence, bool)
    if not number or not 0 < confidence < 1:
        raise InvalidArgumentError(
            "The 'confidence' parameter must be a float in (0, 1), e.g. 0.95. "
            f"Got {confidence!r} instead."
        )
    return float(special.ndtri(0.5 + confidence / 2))  # scipy.stats.norm.ppf, without its import


def _counts(successes: object, trials: object, what: str) -> tuple[int, int]:
    def whole(value: object) -> bool:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)

    if not whole(trials) or trials < 1:  # type: ignore[operator]
        raise InvalidArgumentError(
            f"The number of trials of {what} must be an int >= 1. Got {trials!r} instead."
        )
    if not whole(successes) or not 0 <= successes <= trials:  # type: ignore[operator]
        raise InvalidArgumentError(
            f"The count of {what} must be an int in [0, {trials}] (the trials). Got "
            f"{successes!r} instead."
        )
    return int(successes), int(trials)  # type: ignore[call-overload]


def wilson(successes: int, trials: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval of a proportion ``successes / trials``.

    Args:
        successes: How many of the trials counted (an int in [0, trials]).
        trials: How many trials (an int >= 1).
        confidence: Interval level in (0, 1).

    Returns:
        ``(low, high)``, within [0, 1].

    Raises:
        InvalidArgumentError: A count out of range, or a bad confidence.
    """
    k, n = _counts(successes, trials, "a proportion")
    z = _z(confidence)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    # exact at the edges (the formula leaves a rounding residue of 1e-17 there)
    low = 0.0 if k == 0 else max(0.0, centre - half)
    high = 1.0 if k == n else min(1.0, centre + half)
    return low, high


def newcombe(
    successes_a: int,
    trials_a: int,
    successes_b: int,
    trials_b: int,
    *,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Newcombe's hybrid score interval of ``p_a - p_b`` for two independent proportions.

    Args:
        successes_a: Count of the first sample.
        trials_a: Size of the first sample (>= 1).
        successes_b: Count of the second sample.
        trials_b: Size of the second sample (>= 1).
        confidence: Interval level in (0, 1).

    Returns:
        ``(low, high)``, within [-1, 1].

    Raises:
        InvalidArgumentError: A count out of range, or a bad confidence.
    """
    ka, na = _counts(successes_a, trials_a, "the first proportion")
    kb, nb = _counts(successes_b, trials_b, "the second proportion")
    la, ua = wilson(ka, na, confidence=confidence)
    lb, ub = wilson(kb, nb, confidence=confidence)
    pa, pb = ka / na, kb / nb
    d = pa - pb
    low = d - math.sqrt((pa - la) ** 2 + (ub - pb) ** 2)
    high = d + math.sqrt((ua - pa) ** 2 + (pb - lb) ** 2)
    return max(-1.0, low), min(1.0, high)
