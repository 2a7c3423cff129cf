"""Jensen-Shannon distance between two categorical distributions (base 2, in [0, 1]).

``JS = sqrt((KL(p || m) + KL(q || m)) / 2)`` with ``m = (p + q) / 2``, computed by
:func:`scipy.spatial.distance.jensenshannon`: symmetric, finite even where one side has a
category the other lacks (unlike PSI or KL), and bounded, so one threshold (0.1, the
established tools' default) fits columns of any cardinality. The monitor uses it for windows
over 1,000 rows, where chi-square would flag every tiny shift.

Noise: for two samples of sizes ``n`` and ``m`` of one distribution over ``k`` categories, the
divergence (in nats) is about ``(1/n + 1/m) / 8`` times a chi-square with ``k - 1`` degrees of
freedom, so :meth:`JensenShannonDrift.noise_floor` is that quantile's distance: a column with
hundreds of rare categories has a floor above 0.1 for small windows.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from loopml.stats.drift.registry import Counts, DriftTest, register_drift_test


@register_drift_test
class JensenShannonDrift(DriftTest):
    """Jensen-Shannon distance (base 2) between the reference and current shares per category.

    Drift when the distance is above ``threshold`` (default 0.1).

    Example:
        >>> round(JensenShannonDrift().compute([50, 50], [50, 50]).statistic, 12)
        0.0
    """

    name = "jensen_shannon"
    default_threshold = 0.1
    drift_when = "statistic_above"

    def noise_floor(
        self,
        reference: Counts,
        current_size: int,
        *,
        level: float = 0.99,
        reference_size: int | None = None,
    ) -> float | None:
        """The ``level`` quantile of the distance between two samples of the reference's
        category shares (sizes ``current_size`` and ``reference_size``)."""
        from scipy.stats import chi2

        ref = np.asarray(reference, dtype=np.float64)
        categories = int((ref > 0).sum())
        if categories < 2 or current_size <= 0:
            return None
        m = float(ref.sum()) if reference_size is None else reference_size
        divergence = chi2.ppf(level, categories - 1) * (1 / current_size + 1 / m) / 8
        return float(np.sqrt(divergence / np.log(2)))

    def _impl(
        self, reference: npt.NDArray[np.float64], current: npt.NDArray[np.float64]
    ) -> tuple[float, float | None]:
        from scipy.spatial.distance import jensenshannon

        return float(jensenshannon(reference, current, base=2)), None
