"""Classification metric kernels: confusion counts, label metrics and probability metrics.

Each kernel takes :class:`~loopml.stats._metric_inputs.MetricInputs` and returns an evaluator
of weight matrices ``(B, n) -> ((B,), reason)``. Weighted definitions equal scikit-learn's
``sample_weight`` semantics. The ranking metrics (ROC AUC, average precision) are in
:mod:`loopml.stats.ranking`.
"""

from __future__ import annotations

import numpy as np

from loopml.stats._metric_inputs import (
    Evaluator,
    FloatArray,
    MetricInputs,
    MetricUndefined,
    group_sums,
    ratio,
)

#: Clip of probabilities in log loss: scikit-learn (>= 1.5) clips at the float64 machine epsilon.
LOG_LOSS_EPS = float(np.finfo(np.float64).eps)
#: Equal-width bins of the expected calibration error.
ECE_BINS = 10

_NO_WEIGHT = "every row has weight 0 in this resample"


def confusion_counts(inputs: MetricInputs, w: FloatArray) -> FloatArray:
    """Weighted confusion counts ``C[b, true, predicted]``, shape (B, k, k), memoised per ``w``."""
    k = inputs.k

    def build(weights: FloatArray) -> FloatArray:
        cells = inputs.once("cells", lambda: inputs.y * k + inputs.pred)
        flat = group_sums(weights, cells, k * k)
        counts: FloatArray = flat.reshape(-1, k, k)
        return counts

    return inputs.memo("confusion", w, build)


def accuracy(inputs: MetricInputs) -> Evaluator:
    """Weighted share of rows whose predicted class is the true class."""

    def evaluate(w: FloatArray) -> tuple[FloatArray, str]:
        c = confusion_counts(inputs, w)
        return ratio(np.trace(c, axis1=1, axis2=2), c.sum(axis=(1, 2))), _NO_WEIGHT

    return evaluate


def balanced_accuracy(inputs: MetricInputs) -> Evaluator:
    """Mean recall over the classes present (positive weight) in the labels, as scikit-learn."""

    def evaluate(w: FloatArray) -> tuple[FloatArray, str]:
        c = confusion_counts(inputs, w)
        support = c.sum(axis=2)
        present = support > 0
        recalls = np.where(
            present, np.diagonal(c, axis1=1, axis2=2) / np.where(present, support, 1), 0
        )
        return ratio(recalls.sum(axis=1), present.sum(axis=1).astype(np.float64)), _NO_WEIGHT

    return evaluate


def _per_class(inputs: MetricInputs, which: str) -> Evaluator:
    """Precision, recall or F1: class 1 when binary, macro over present classes otherwise.

    Binary: undefined when the denominator is 0 (no positive predictions for precision, no
    positive labels for recall, neither for F1). Multiclass macro: averaged over the classes
    that occur (positive weight) in the labels or the predictions, a 0/0 class counting as 0,
    which is scikit-learn's ``average="macro", zero_division=0``.
    """
    reasons = {
        "precision": "precision is undefined when no row is predicted positive (class 1)",
        "recall": "recall is undefined when no row has the positive label (class 1)",
        "f1": "f1 is undefined when no row is positive in the labels or the predictions",
    }

    def evaluate(w: FloatArray) -> tuple[FloatArray, str]:
        c = confusion_counts(inputs, w)
        tp = np.diagonal(c, axis1=1, axis2=2)
        actual = c.sum(axis=2)
        predicted = c.sum(axis=1)
        den = {"precision": predicted, "recall": actual, "f1": actual + predicted}[which]
        num = 2 * tp if which == "f1" else tp
        if inputs.k == 2:
            return ratio(num[:, 1], den[:, 1]), reasons[which]
        present = (actual + predicted) > 0
        per_class = np.where(den > 0, num / np.where(den > 0, den, 1), 0.0)
        return ratio(per_class.sum(axis=1), present.sum(axis=1).astype(np.float64)), _NO_WEIGHT

    return evaluate


def precision(inputs: MetricInputs) -> Evaluator:
    """Precision of class 1 (binary) or macro precision (multiclass)."""
    return _per_class(inputs, "precision")


def recall(inputs: MetricInputs) -> Evaluator:
    """Recall of class 1 (binary) or macro recall (multiclass)."""
    return _per_class(inputs, "recall")


def f1(inputs: MetricInputs) -> Evaluator:
    """F1 of class 1 (binary) or macro F1 (multiclass)."""
    return _per_class(inputs, "f1")


def require_score(inputs: MetricInputs, metric: str) -> FloatArray:
    """Return the scores or raise :class:`MetricUndefined` when the model has none."""
    if inputs.score is None:
        raise MetricUndefined(
            f"{metric} needs class probabilities ('score'); the model gives none "
            "(it has no predict_proba)"
        )
    return inputs.score


def _mean_of(inputs: MetricInputs, per_row: FloatArray) -> Evaluator:
    def evaluate(w: FloatArray) -> tuple[FloatArray, str]:
        return ratio(w @ per_row, w.sum(axis=1)), _NO_WEIGHT

    return evaluate


def log_loss(inputs: MetricInputs) -> Evaluator:
    """Weighted mean of ``-log p[y]``, probabilities clipped to ``[eps, 1 - eps]``."""
    score = require_score(inputs, "log_loss")
    p = np.clip(score[np.arange(inputs.n), inputs.y], LOG_LOSS_EPS, 1 - LOG_LOSS_EPS)
    return _mean_of(inputs, -np.log(p))


def brier(inputs: MetricInputs) -> Evaluator:
    """Binary: mean ``(p1 - y)^2``; multiclass: mean over rows of the sum over classes."""
    score = require_score(inputs, "brier")
    onehot = np.eye(inputs.k)[inputs.y]
    per_row = ((score - onehot) ** 2).sum(axis=1)
    if inputs.k == 2:
        per_row = per_row / 2  # both columns carry the same squared error
    return _mean_of(inputs, per_row)


def ece(inputs: MetricInputs) -> Evaluator:
    """Expected calibration error over 10 equal-width bins of [0, 1] (1.0 in the last bin).

    Binary: binned on ``p1`` and compared with the share of class 1 in each bin (the
    reliability diagram of the positive class). Multiclass: binned on the top-class
    probability and compared with the share of rows whose top-probability class is the label.
    ``ECE = sum_bins |sum_{i in bin} w_i (outcome_i - confidence_i)| / sum_i w_i``.
    """
    score = require_score(inputs, "ece")
    if inputs.k == 2:
        confidence = score[:, 1]
        outcome = (inputs.y == 1).astype(np.float64)
    else:
        confidence = score.max(axis=1)
        outcome = (score.argmax(axis=1) == inputs.y).astype(np.float64)
    bins = np.minimum((confidence * ECE_BINS).astype(np.int64), ECE_BINS - 1).clip(0)
    gap = outcome - confidence

    def evaluate(w: FloatArray) -> tuple[FloatArray, str]:
        per_bin = group_sums(w, bins, ECE_BINS, gap)
        return ratio(np.abs(per_bin).sum(axis=1), w.sum(axis=1)), _NO_WEIGHT

    return evaluate
