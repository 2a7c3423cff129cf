"""Distribution-shift tests on binned counts: a registry by name plus one file per test.

Example:
    >>> from loopml.stats.drift import get_drift_test
    >>> result = get_drift_test("psi").compute([50, 50], [50, 50])
    >>> result.statistic, result.drifted
    (0.0, False)
"""

from loopml.stats.drift.chi_square import ChiSquareDrift
from loopml.stats.drift.psi import PSIDrift
from loopml.stats.drift.registry import (
    DriftResult,
    DriftTest,
    drift_test_names,
    get_drift_test,
    register_drift_test,
)

__all__ = [
    "ChiSquareDrift",
    "DriftResult",
    "DriftTest",
    "PSIDrift",
    "drift_test_names",
    "get_drift_test",
    "register_drift_test",
]
