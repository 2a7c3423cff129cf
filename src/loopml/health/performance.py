"""A binary classifier's performance per window: realized on the labeled rows, estimated without
labels (CBPE), and concept drift told apart from covariate shift.

- Realized: ``roc_auc`` and ``accuracy`` on the rows that have a label, with Poisson-bootstrap
  intervals (the evaluation's kernels), and ``label_coverage``, the share of rows labeled.
- Estimated: :mod:`loopml.stats.cbpe` on every row, calibrated on labeled rows the model did not
  train on. A calibration on the training rows is refused (a model is overconfident there, so
  the estimate would be biased upward).
- Concept drift: the realized value is below the reference interval (the realized metric on
  the calibration rows) while the estimate, which assumes P(y | x) did not change, is not. If
  both fell, the inputs moved to where the model is weaker (covariate shift), not the concept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from loopml.core.entities import ConceptDrift, MetricValue
from loopml.stats.bootstrap import Estimate
from loopml.stats.cbpe import Calibration, estimate, fit_calibration

#: The metrics of a binary classifier a monitor reports (realized and estimated).
METRICS = ("roc_auc", "accuracy")
#: Bootstrap resamples of a realized interval.
RESAMPLES = 200


@dataclass(frozen=True)
class Calibrated:
    """What the label-free estimate is calibrated on.

    Attributes:
        calibration: The isotonic map, or None when there is no fit.
        source: Where it came from (``reference flights@2, 20,000 labeled rows``), or why not.
        reference: The realized metrics on the calibration rows (the concept-drift baseline).
    """

    calibration: Calibration | None
    source: str
    reference: Mapping[str, MetricValue] = field(default_factory=dict)


def _metric(name: str, est: Estimate) -> MetricValue:
    return MetricValue(name=name, value=est.value, low=est.low, high=est.high, reason=est.reason)


def realized(
    labels: np.ndarray, scores: np.ndarray, *, threshold: float = 0.5, seed: int = 0
) -> dict[str, MetricValue]:
    """``roc_auc`` and ``accuracy`` on the rows whose label (0/1) is known (label -1: none)."""
    from loopml.stats.bootstrap import bootstrap_metrics

    known = (labels >= 0) & np.isfinite(scores)
    if not known.any():
        why = "no labeled rows in this window" if not (labels >= 0).any() else "no scored rows"
        return {m: MetricValue(m, None, reason=why) for m in METRICS}
    y, s = labels[known], scores[known]
    pred = (s >= threshold).astype(np.int64)
    result = bootstrap_metrics(
        METRICS,
        y,
        pred,
        np.column_stack([1 - s, s]),
        k=2,
        task="binary",
        resamples=RESAMPLES,
        seed=seed,
    )
    return {m.name: _metric(m.name, m.estimate) for m in result.metrics}


def calibrate(labels: np.ndarray, scores: np.ndarray, source: str) -> Calibrated:
    """Fit the calibration on labeled rows (label -1: none) and measure the reference."""
    known = (labels >= 0) & np.isfinite(scores)
    y, s = labels[known], scores[known]
    if y.size == 0 or y.min() == y.max():
        return Calibrated(
            None,
            f"not calibrated: {source} has "
            + ("no labeled rows" if y.size == 0 else "labels of one class only"),
        )
    return Calibrated(
        fit_calibration(s, y),
        f"{source}, {y.size:,} labeled rows",
        realized(labels, scores),
    )


def estimated(
    calibrated: Calibrated, scores: np.ndarray, *, threshold: float = 0.5
) -> dict[str, MetricValue]:
    """CBPE of ``roc_auc`` and ``accuracy`` on a window's scores."""
    if calibrated.calibration is None:
        return {m: MetricValue(m, None, reason=calibrated.source) for m in METRICS}
    scores = scores[np.isfinite(scores)]
    if scores.size == 0:
        return {m: MetricValue(m, None, reason="no scored rows in this window") for m in METRICS}
    found = estimate(calibrated.calibration, scores, (scores >= threshold).astype(np.int64))
    return {m: _metric(m, found[m]) for m in METRICS}


def concept_drift(
    real: Mapping[str, MetricValue],
    est: Mapping[str, MetricValue],
    reference: Mapping[str, MetricValue],
) -> ConceptDrift:
    """Concept drift: realized performance below the reference while the estimate holds, each
    judged on its interval so that a window's noise does not raise it: the realized interval
    lies wholly below the reference's and wholly below the estimate's, and the estimate's
    value stays within the reference interval."""
    for name in METRICS:
        r, e, ref = real.get(name), est.get(name), reference.get(name)
        if r is None or e is None or ref is None:
            continue
        if r.value is None or e.value is None or ref.low is None or ref.value is None:
            continue
        top = r.value if r.high is None else r.high
        if top >= ref.low:
            return ConceptDrift(
                False,
                f"realized {name} {r.value:.3f} (up to {top:.3f}) reaches the reference "
                f"interval (>= {ref.low:.3f})",
            )
        if e.value < ref.low:
            return ConceptDrift(
                False,
                f"realized {name} {r.value:.3f} fell below the reference interval (>= "
                f"{ref.low:.3f}) and so did the estimate ({e.value:.3f}): the inputs moved to "
                "where the model is weaker (covariate shift), not the concept",
            )
        if e.low is not None and top >= e.low:
            return ConceptDrift(
                False,
                f"realized {name} {r.value:.3f} is below the reference interval but its "
                f"interval (up to {top:.3f}) reaches the estimate's (>= {e.low:.3f})",
            )
        return ConceptDrift(
            True,
            f"realized {name} {r.value:.3f} (at most {top:.3f}) fell below the reference "
            f"interval (>= {ref.low:.3f}) while the label-free estimate held at "
            f"{e.value:.3f}: P(y | x) changed",
        )
    reasons = [m.reason for m in (*real.values(), *est.values()) if m.reason]
    return ConceptDrift(None, reasons[0] if reasons else "no realized or estimated metric")
