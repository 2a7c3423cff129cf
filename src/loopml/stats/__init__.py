"""Layer 1, stats: numeric kernels on NumPy/SciPy arrays (no pandas, no store, no I/O).

:mod:`loopml.stats.drift` holds the distribution-shift tests, one file per test, found by name
through a registry.
"""

from loopml.stats.drift import DriftResult, DriftTest, drift_test_names, get_drift_test

__all__ = ["DriftResult", "DriftTest", "drift_test_names", "get_drift_test"]
