"""Pearson's chi-square test of homogeneity on binned counts (SciPy).

The reference and current counts form a 2 x k contingency table; bins empty on both sides are
dropped (they carry no information and would make an expected count 0). The statistic and
p-value are those of :func:`scipy.stats.chi2_contingency` with ``correction=False`` (no Yates
correction, so two bins behave like any other number). With one informative bin left the two
samples cannot differ: statistic 0, p-value 1. Like every hypothesis test it flags tiny shifts
on very large samples; prefer PSI when the batches hold millions of rows.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from loopml.stats.drift.registry import DriftTest, register_drift_test


@register_drift_test
class ChiSquareDrift(DriftTest):
    """Chi-square test that the current counts come from the reference distribution.

    Drift when the p-value is below ``threshold`` (default 0.05).

    Example:
        >>> ChiSquareDrift().compute([50, 50], [50, 50]).p_value
        1.0
    """

    name = "chi_square"
    default_threshold = 0.05
    drift_when = "p_value_below"

    def _impl(
        self, reference: npt.NDArray[np.float64], current: npt.NDArray[np.float64]
    ) -> tuple[float, float | None]:
        from scipy.stats import chi2_contingency

        keep = (reference + current) > 0
        table = np.vstack([reference[keep], current[keep]])
        if table.shape[1] < 2:
            return 0.0, 1.0
        res = chi2_contingency(table, correction=False)
        return float(res.statistic), float(res.pvalue)
