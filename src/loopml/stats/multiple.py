"""Corrections for testing many hypotheses at once (features of a window, slices of a search).

A window with 25 features tested at p < 0.05 each flags at least one of them in about
``1 - 0.95**25 = 72%`` of windows where nothing changed. Holm's step-down procedure keeps the
probability of any false flag in the family at or below ``alpha`` (like Bonferroni) while
rejecting at least as much as Bonferroni does.

Example:
    >>> holm([0.001, 0.04, 0.03], alpha=0.05).tolist()
    [True, False, False]
    >>> bonferroni([0.001, 0.04, 0.03], alpha=0.05).tolist()
    [True, False, False]
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from loopml.core.errors import InvalidArgumentError

__all__ = ["bonferroni", "corrected_level", "holm", "holm_adjusted"]


def _checked(p_values: npt.ArrayLike, alpha: float) -> npt.NDArray[np.float64]:
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 1:
        raise InvalidArgumentError(
            f"'alpha' must be a number in (0, 1), the family-wise error rate. Got {alpha!r}."
        )
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1 or np.any(~np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise InvalidArgumentError(
            "p-values must be a 1-D sequence of numbers in [0, 1]; drop the tests that could "
            "not be computed before correcting."
        )
    return p


def holm_adjusted(p_values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Holm-adjusted p-values: reject hypothesis i at level alpha when ``adjusted[i] < alpha``.

    Raises:
        InvalidArgumentError: A p-value outside [0, 1] or not finite.
    """
    p = _checked(p_values, 0.05)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    scaled = p[order] * (m - np.arange(m))
    adjusted = np.minimum(np.maximum.accumulate(scaled), 1.0)
    out = np.empty(m)
    out[order] = adjusted
    return out


def holm(p_values: npt.ArrayLike, *, alpha: float = 0.05) -> npt.NDArray[np.bool_]:
    """Which hypotheses Holm's step-down procedure rejects at family-wise level ``alpha``.

    Raises:
        InvalidArgumentError: ``alpha`` not in (0, 1), or a p-value outside [0, 1].
    """
    _checked(p_values, alpha)
    return holm_adjusted(p_values) < alpha


def bonferroni(p_values: npt.ArrayLike, *, alpha: float = 0.05) -> npt.NDArray[np.bool_]:
    """Which hypotheses Bonferroni rejects at family-wise level ``alpha`` (p < alpha / m).

    Raises:
        InvalidArgumentError: ``alpha`` not in (0, 1), or a p-value outside [0, 1].
    """
    p = _checked(p_values, alpha)
    return p < alpha / max(1, p.size) if p.size else p.astype(bool)


def corrected_level(alpha: float, tests: int) -> float:
    """The per-test level Bonferroni uses for ``tests`` tests (``alpha / tests``)."""
    return alpha / max(1, tests) if math.isfinite(alpha) else alpha
