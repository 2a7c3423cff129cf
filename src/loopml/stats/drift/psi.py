"""Population Stability Index (PSI) on binned counts.

``PSI = sum((q_i - p_i) * ln(q_i / p_i))`` where ``p`` and ``q`` are the reference and current
shares per bin. Empty bins get a share of ``epsilon`` (1e-4) so the logarithm stays finite.
Rule of thumb: < 0.1 stable, 0.1-0.2 moderate, > 0.2 significant shift (the default threshold).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from loopml.stats.drift.registry import DriftTest, register_drift_test

EPSILON = 1e-4


@register_drift_test
class PSIDrift(DriftTest):
    """Population Stability Index: a symmetric distance between binned distributions.

    Works for numeric (histogram bins) and categorical (category counts) columns. Drift when the
    PSI is above ``threshold`` (default 0.2).

    Example:
        >>> PSIDrift().compute([25, 25, 50], [25, 25, 50]).statistic
        0.0
    """

    name = "psi"
    default_threshold = 0.2
    drift_when = "statistic_above"

    def _impl(
        self, reference: npt.NDArray[np.float64], current: npt.NDArray[np.float64]
    ) -> tuple[float, float | None]:
        p = np.maximum(reference / reference.sum(), EPSILON)
        q = np.maximum(current / current.sum(), EPSILON)
        return float(np.sum((q - p) * np.log(q / p))), None
