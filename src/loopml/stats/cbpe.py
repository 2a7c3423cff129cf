"""Confidence-based performance estimation (CBPE) of a binary classifier, without labels.

If a classifier's probabilities are calibrated (among rows scored 0.8, 80% are positive), its
expected confusion matrix on unlabeled rows follows from the probabilities alone: a row
predicted positive is a true positive with probability ``p`` and a false positive with ``1 - p``.
So the expected accuracy is ``mean(p if predicted 1 else 1 - p)``, and the expected ROC curve
counts ``p`` of each row as a positive and ``1 - p`` as a negative at every score threshold. This
is NannyML's CBPE; like it, it assumes P(y | x) has not changed since calibration (covariate
shift is fine, concept drift is not: a monitor compares it with the realized value when labels
arrive, and that gap is how concept drift shows).

Scores are calibrated first by isotonic regression (:func:`fit_calibration`), fitted on labeled
rows the model did not train on (a model is overconfident on its training rows). The interval
of an estimate is the sampling spread of the realized metric if the calibrated probabilities
hold: :data:`DRAWS` label vectors ``y ~ Bernoulli(p)`` are drawn, the metric computed on each
(vectorized: one ranking of the scores, one matrix product per chunk of draws), and the
percentile interval taken. It does not include the calibration's own error.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> s = rng.uniform(size=4000); y = (rng.uniform(size=4000) < s).astype(int)
    >>> cal = fit_calibration(s[:2000], y[:2000])
    >>> est = estimate(cal, s[2000:], (s[2000:] >= 0.5).astype(int))
    >>> round(est["roc_auc"].value, 2), round(est["accuracy"].value, 2)
    (0.83, 0.75)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from loopml.core.errors import InvalidArgumentError
from loopml.stats.bootstrap import Estimate
from loopml.stats.ranking import _Ranks

__all__ = ["DRAWS", "ESTIMABLE", "Calibration", "estimate", "fit_calibration"]

#: Label vectors drawn for an estimate's interval.
DRAWS = 500
#: The metrics CBPE estimates.
ESTIMABLE = ("accuracy", "roc_auc")
_CHUNK = 50

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Calibration:
    """An isotonic map from a model's scores to calibrated probabilities.

    Attributes:
        scores: Increasing score knots.
        probabilities: The calibrated probability at each knot (non-decreasing).
        rows: Labeled rows it was fitted on.
        positives: Positive rows among them.
    """

    scores: FloatArray
    probabilities: FloatArray
    rows: int
    positives: int

    def __call__(self, scores: npt.ArrayLike) -> FloatArray:
        """Calibrated probabilities of ``scores`` (linear between knots, flat beyond)."""
        return np.interp(np.asarray(scores, dtype=np.float64), self.scores, self.probabilities)


def _scores(name: str, values: npt.ArrayLike) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0 or not np.isfinite(arr).all():
        raise InvalidArgumentError(
            f"'{name}' must be a non-empty 1-D array of finite scores (the positive class's "
            "probability); drop rows without one first."
        )
    return arr


def fit_calibration(scores: npt.ArrayLike, labels: npt.ArrayLike) -> Calibration:
    """Fit the isotonic calibration of ``scores`` to 0/1 ``labels`` (SciPy's PAV).

    Raises:
        InvalidArgumentError: Lengths differ, labels are not 0/1, or one class is absent
            (nothing to calibrate against).
    """
    s = _scores("scores", scores)
    y = np.asarray(labels)
    if y.shape != s.shape or not np.isin(y, (0, 1)).all():
        raise InvalidArgumentError(
            "Calibration needs one 0/1 label per score (1 = the positive class); got "
            f"{y.shape[0] if y.ndim else 0} labels for {s.size} scores."
        )
    positives = int(y.sum())
    if positives in (0, y.size):
        raise InvalidArgumentError(
            f"Calibration needs both classes among its labeled rows; all {y.size} are "
            f"{'positive' if positives else 'negative'}."
        )
    from scipy.optimize import isotonic_regression

    knots, inverse, ties = np.unique(s, return_inverse=True, return_counts=True)
    means = np.bincount(inverse, weights=y.astype(np.float64)) / ties
    fitted = isotonic_regression(means, weights=ties.astype(np.float64), increasing=True).x
    return Calibration(knots, np.clip(fitted, 0.0, 1.0), int(y.size), positives)


def estimate(
    calibration: Calibration,
    scores: npt.ArrayLike,
    predicted: npt.ArrayLike,
    *,
    confidence: float = 0.95,
    draws: int = DRAWS,
    seed: int = 0,
) -> dict[str, Estimate]:
    """Estimate ``accuracy`` and ``roc_auc`` on unlabeled rows.

    Args:
        calibration: From :func:`fit_calibration` on labeled rows the model did not train on.
        scores: The model's positive-class scores on the rows.
        predicted: The model's predicted labels (0/1) on the rows.
        confidence: Level of the simulated interval.
        draws: Label vectors simulated for the interval.
        seed: Seed of the simulation.

    Returns:
        ``{"accuracy": Estimate, "roc_auc": Estimate}``; ROC AUC is undefined (None, with the
        reason) when the calibrated probabilities are all 0 or all 1.

    Raises:
        InvalidArgumentError: Lengths differ or predictions are not 0/1.
    """
    s = _scores("scores", scores)
    pred = np.asarray(predicted)
    if pred.shape != s.shape or not np.isin(pred, (0, 1)).all():
        raise InvalidArgumentError("'predicted' must hold one 0/1 label per score.")
    p = calibration(s)
    pred_f = pred.astype(np.float64)
    accuracy = float(np.mean(np.where(pred_f == 1, p, 1 - p)))
    ranks = _Ranks.build(p, s)
    area, _ap, positives, negatives = ranks.areas(np.ones((1, s.size)))
    expected_auc = (
        float(area[0] / (positives[0] * negatives[0])) if positives[0] * negatives[0] > 0 else None
    )

    from scipy.stats import rankdata  # here: scipy.stats costs ~1 s to import

    acc_draws, auc_draws = _simulate(p, pred_f, rankdata(s), draws, seed)
    low_q, high_q = (1 - confidence) / 2, 1 - (1 - confidence) / 2
    out = {"accuracy": _estimate(accuracy, acc_draws, low_q, high_q, "")}
    reason = (
        ""
        if expected_auc is not None
        else ("roc_auc needs both classes; every calibrated probability is 0 or every one is 1")
    )
    out["roc_auc"] = _estimate(expected_auc, auc_draws, low_q, high_q, reason)
    return out


def _simulate(
    p: FloatArray, pred: FloatArray, ranks: FloatArray, draws: int, seed: int
) -> tuple[FloatArray, FloatArray]:
    """Realized accuracy and ROC AUC on ``draws`` label vectors drawn from ``p``."""
    rng = np.random.default_rng(seed)
    n = p.size
    acc, auc = np.empty(draws), np.empty(draws)
    for start in range(0, draws, _CHUNK):
        k = min(_CHUNK, draws - start)
        y = (rng.random((k, n)) < p).astype(np.float64)
        pos = y.sum(axis=1)
        agree = y @ pred + (n - pos) - (pred.sum() - y @ pred)
        acc[start : start + k] = agree / n
        neg = n - pos
        with np.errstate(divide="ignore", invalid="ignore"):
            auc[start : start + k] = (y @ ranks - pos * (pos + 1) / 2) / (pos * neg)
    return acc, auc


def _estimate(
    value: float | None, draws: FloatArray, low_q: float, high_q: float, reason: str
) -> Estimate:
    defined = draws[np.isfinite(draws)]
    if value is None or defined.size == 0:
        return Estimate(value=value, undefined=int(draws.size - defined.size), reason=reason)
    low, high = np.quantile(defined, [low_q, high_q])
    return Estimate(
        value=value,
        low=float(low),
        high=float(high),
        undefined=int(draws.size - defined.size),
        reason=reason,
    )
