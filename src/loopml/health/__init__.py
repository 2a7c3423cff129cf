"""Layer 3: monitoring (the service behind the SDK's ``loopml.monitoring`` and ``loopml.monitor``).

The package is named ``health`` because a subpackage ``loopml.monitoring`` would shadow the
SDK module of that name.

- :mod:`.service`: :class:`MonitorService`, one call that checks current data (and a model's
  behaviour on it) against a reference, window by window.
- :mod:`.settings`: thresholds, per-column test overrides and window specs, with their defaults.
- :mod:`.windows`: cutting rows into UTC calendar windows or row-count windows.
- :mod:`.reference` and :mod:`.sources`: the reference profile, computed once per dataset
  version and stored; where each side's rows come from.
- :mod:`.drift`: univariate drift per window (test by type and size, Holm, noise floors).
- :mod:`.domain`: multivariate drift by a domain classifier.
- :mod:`.model_side` and :mod:`.performance`: scores, realized and estimated (CBPE)
  performance, concept drift.
- :mod:`.report`: the self-contained HTML report.
- :mod:`.labels` and :mod:`.label_check`: :class:`LabelService`, delayed labels checked
  against the model, stored by row id and matched against the prediction log.
- :mod:`.live_comparison` (with :mod:`.live_traffic` and :mod:`.live_verdict`):
  :func:`compare_live`, champion vs challenger on the same live traffic and the verdict
  (promote, rollback, wait) the automation agent acts on.
"""

from loopml.health.labels import LabelService
from loopml.health.live_comparison import compare_live
from loopml.health.service import MonitorService
from loopml.health.settings import DEFAULT_THRESHOLDS, SMALL_WINDOW, parse_window

__all__ = [
    "DEFAULT_THRESHOLDS",
    "SMALL_WINDOW",
    "LabelService",
    "MonitorService",
    "compare_live",
    "parse_window",
]
