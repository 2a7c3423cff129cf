"""Layer 1, stats: numeric kernels on NumPy/SciPy arrays (no pandas, no store, no I/O).

:mod:`loopml.stats.drift` holds the distribution-shift tests, one file per test, found by name
through a registry. :mod:`loopml.stats.metrics` holds the evaluation metrics by name and
:mod:`loopml.stats.bootstrap` their Poisson-bootstrap intervals and differences (paired, or
unpaired for two sets of rows); :mod:`loopml.stats.proportions` the Wilson and Newcombe
intervals of rates.
"""

from loopml.core.errors import MetricUndefined
from loopml.stats.bootstrap import (
    BootstrapResult,
    Estimate,
    MetricInterval,
    bootstrap_custom,
    bootstrap_metrics,
    bootstrap_slice_gaps,
    poisson_weights,
)
from loopml.stats.drift import DriftResult, DriftTest, drift_test_names, get_drift_test
from loopml.stats.metrics import (
    MetricSpec,
    compute,
    confusion_matrix,
    default_metrics,
    get_metric,
)
from loopml.stats.proportions import newcombe, wilson
from loopml.stats.unpaired import bootstrap_unpaired

__all__ = [
    "BootstrapResult",
    "DriftResult",
    "DriftTest",
    "Estimate",
    "MetricInterval",
    "MetricSpec",
    "MetricUndefined",
    "bootstrap_custom",
    "bootstrap_metrics",
    "bootstrap_slice_gaps",
    "bootstrap_unpaired",
    "compute",
    "confusion_matrix",
    "default_metrics",
    "drift_test_names",
    "get_drift_test",
    "get_metric",
    "newcombe",
    "poisson_weights",
    "wilson",
]
