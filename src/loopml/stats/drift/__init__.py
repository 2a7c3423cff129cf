"""Distribution-shift tests: a registry by name plus one file per test.

On values: ``ks`` (Kolmogorov-Smirnov) and ``wasserstein`` (normalized W1). On counts per bin or
category: ``chi_square``, ``jensen_shannon`` and ``psi``.

Example:
    >>> from loopml.stats.drift import get_drift_test
    >>> result = get_drift_test("psi").compute([50, 50], [50, 50])
    >>> result.statistic, result.drifted
    (0.0, False)
"""

from loopml.stats.drift.chi_square import ChiSquareDrift
from loopml.stats.drift.jensen_shannon import JensenShannonDrift
from loopml.stats.drift.ks import KSDrift
from loopml.stats.drift.psi import PSIDrift
from loopml.stats.drift.registry import (
    DriftResult,
    DriftTest,
    drift_test_names,
    get_drift_test,
    register_drift_test,
)
from loopml.stats.drift.wasserstein import WassersteinDrift, quantile_distance

__all__ = [
    "ChiSquareDrift",
    "DriftResult",
    "DriftTest",
    "JensenShannonDrift",
    "KSDrift",
    "PSIDrift",
    "WassersteinDrift",
    "drift_test_names",
    "get_drift_test",
    "quantile_distance",
    "register_drift_test",
]
