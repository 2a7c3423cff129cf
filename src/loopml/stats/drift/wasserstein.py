"""Normalized Wasserstein (earth mover's) distance between two samples of a numeric column.

``W1 = integral over u in (0, 1) of |F_ref^-1(u) - F_cur^-1(u)|``, the average distance values
must move to turn one distribution into the other, divided by the reference's standard
deviation so that one threshold fits every column (0.1: a tenth of a standard deviation, the
established tools' default). Both quantile functions are read on a grid of 1,001 equally
spaced probabilities (``np.quantile``: a partition, not a full sort, of a large window), so the
cost is linear in the window; the difference from SciPy's exact distance is a fraction of the
grid step (tested).

Noise: a small window of a long-tailed column can be more than 0.1 away from its own
distribution by chance (a lognormal column at 1,000 rows: 1-2% of windows).
:meth:`WassersteinDrift.noise_floor` bootstraps the distance between two samples of the
reference's distribution of the window's and the reference's sizes, so the monitor can raise the
threshold to the noise where the noise is larger. Current values beyond the reference's range
count at its edge, so that one extreme value in a long-tailed column cannot decide the verdict
(data-quality checks report out-of-range values on their own).

A constant reference (standard deviation 0) cannot normalize: the distance is then divided by
the reference value's magnitude (or 1 for 0), and the result carries a note saying so.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from loopml.core.errors import InvalidArgumentError
from loopml.stats.drift.registry import Counts, DriftResult, DriftTest, register_drift_test

#: Probabilities at which both quantile functions are read.
GRID = np.linspace(0.0, 1.0, 1001)


@register_drift_test
class WassersteinDrift(DriftTest):
    """Wasserstein-1 distance in units of the reference's standard deviation.

    Drift when the normalized distance is above ``threshold`` (default 0.1).

    Example:
        >>> WassersteinDrift().compute([0.0, 1.0, 2.0, 3.0], [0.0, 1.0, 2.0, 3.0]).statistic
        0.0
    """

    name = "wasserstein"
    default_threshold = 0.1
    drift_when = "statistic_above"
    inputs = "samples"

    def compute(self, reference: Counts, current: Counts) -> DriftResult:
        """As :meth:`DriftTest.compute`; a constant reference is normalized by its magnitude."""
        result = super().compute(reference, current)
        ref = np.asarray(reference, dtype=np.float64)
        if float(ref.std()) == 0.0:
            scale = abs(float(ref[0])) or 1.0
            return self.decide(
                result.statistic,
                None,
                note=(
                    "the reference is constant (standard deviation 0): the distance is divided "
                    f"by {scale:g} instead"
                ),
            )
        return result

    def _impl(
        self, reference: npt.NDArray[np.float64], current: npt.NDArray[np.float64]
    ) -> tuple[float, float | None]:
        # Values beyond the reference's range count at its edge: one extreme value cannot
        # decide the verdict alone (the data-quality checks report out-of-range values).
        std = float(reference.std())
        if std > 0:
            current = np.clip(current, reference.min(), reference.max())
        distance = quantile_distance(reference, current)
        scale = std if std > 0 else (abs(float(reference[0])) or 1.0)
        return distance / scale, None

    def noise_floor(
        self,
        reference: Counts,
        current_size: int,
        *,
        level: float = 0.99,
        reference_size: int | None = None,
    ) -> float | None:
        """The ``level`` quantile of the normalized distance between a sample of
        ``current_size`` rows and a sample of ``reference_size`` rows (default: as many as
        ``reference`` holds), both drawn from ``reference`` as the population (a bootstrap).

        Only the order statistics the quantile grid reads are drawn (uniform order statistics
        from Gamma increments), so the cost does not grow with the sample sizes.
        """
        ref = np.sort(np.asarray(reference, dtype=np.float64))
        std = float(ref.std())
        if ref.size == 0 or current_size <= 0 or std == 0.0:
            return None
        rng = np.random.default_rng(0)
        current = _bootstrap_quantiles(ref, current_size, rng)
        other = _bootstrap_quantiles(ref, reference_size or ref.size, rng)
        gap = np.abs(current - other)
        distance = np.sum((gap[:, 1:] + gap[:, :-1]) / 2, axis=1) / (GRID.size - 1)
        return float(np.quantile(distance, level) / std)


#: Bootstrap draws behind a noise floor.
BOOTSTRAP_DRAWS = 1000
#: Draws turned into quantiles at a time: the order statistics of all the draws are held
#: once (their running sums, 16 MB for the 1,001-point grid), not in six full-size copies
#: (about 100 MB at the peak), and the numbers are the same.
_DRAWS_AT_A_TIME = 100


def _bootstrap_quantiles(
    population: npt.NDArray[np.float64], size: int, rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    """:data:`BOOTSTRAP_DRAWS` rows of the :data:`GRID` quantiles of a resample of ``size``
    values from the sorted ``population``, drawing only the order statistics they read."""
    position = GRID * (size - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, size - 1)
    fraction = position - low
    ranks = np.unique(np.concatenate([low, high]))  # 0-based ranks among `size` values
    shapes = np.diff(np.concatenate([[0], ranks + 1])).astype(np.float64)
    # the running sums of Gamma increments, summed in place
    partial = rng.gamma(shapes, size=(BOOTSTRAP_DRAWS, ranks.size))
    np.cumsum(partial, axis=1, out=partial)
    total = partial[:, -1] + rng.gamma(float(size - ranks[-1]), size=BOOTSTRAP_DRAWS)
    at_low, at_high = np.searchsorted(ranks, low), np.searchsorted(ranks, high)
    out = np.empty((BOOTSTRAP_DRAWS, GRID.size))
    for first in range(0, BOOTSTRAP_DRAWS, _DRAWS_AT_A_TIME):
        rows = slice(first, first + _DRAWS_AT_A_TIME)
        uniform = partial[rows] / total[rows, None]  # uniform order statistics at `ranks`
        values = population[
            np.minimum((uniform * population.size).astype(np.int64), population.size - 1)
        ]
        out[rows] = values[:, at_low] * (1 - fraction) + values[:, at_high] * fraction
    return out


def quantile_distance(reference: npt.ArrayLike, current: npt.ArrayLike) -> float:
    """W1 between two samples from their quantile functions on :data:`GRID` (trapezoid rule).

    Raises:
        InvalidArgumentError: A side is empty.
    """
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    if ref.size == 0 or cur.size == 0:
        raise InvalidArgumentError("quantile_distance needs values on both sides.")
    gap = np.abs(np.quantile(ref, GRID) - np.quantile(cur, GRID))
    return float(np.sum((gap[1:] + gap[:-1]) / 2) / (GRID.size - 1))
