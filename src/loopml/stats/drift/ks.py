"""Two-sample Kolmogorov-Smirnov test on values (SciPy).

The statistic is the largest distance between the two empirical CDFs; the p-value is
:func:`scipy.stats.ks_2samp`'s (exact for small samples, asymptotic otherwise). The reference
side is usually the sorted sample of the column's stored sketch (up to 20,000 values), so the
p-value accounts for that sample's size, not the full reference's. As for every hypothesis
test, tiny shifts become significant on large samples: the monitor uses it for windows of at
most 1,000 rows and a distance (Wasserstein) beyond.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from loopml.stats.drift.registry import DriftTest, register_drift_test


@register_drift_test
class KSDrift(DriftTest):
    """Kolmogorov-Smirnov test that the current values come from the reference distribution.

    Drift when the p-value is below ``threshold`` (default 0.05).

    Example:
        >>> KSDrift().compute([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0]).p_value
        1.0
    """

    name = "ks"
    default_threshold = 0.05
    drift_when = "p_value_below"
    inputs = "samples"

    def _impl(
        self, reference: npt.NDArray[np.float64], current: npt.NDArray[np.float64]
    ) -> tuple[float, float | None]:
        from scipy.stats import ks_2samp

        res = ks_2samp(reference, current, method="auto")
        return float(res.statistic), float(res.pvalue)
