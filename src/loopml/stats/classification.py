"""Classification metric kernels: confusion counts, label metrics and probability metrics.

Each kernel takes :class:`~loopml.stats._metric_inputs.MetricInputs` and returns an evaluator
of weight matrices ``(B, n) -> ((B,), reason)``. Weighted definitions equal scikit-learn's
``sample_weight`` semantics. The ranking metrics (ROC AUC, average precision) are in
:mod:`loopml.stats.ranking`.
"""

from __future__ import annotations

import numpy as np

from loopml.core.errors import MetricUndefined
from loopml.stats._metric_inputs import (
    Evaluator,
    FloatArray,
    MetricInputs,
    group_sums,
    ratio,
)

#: Clip of probabilities in log loss: scikit-learn (>= 1.5) clips at the float64 machine epsilon.
LOG_LOSS_EPS = float(np.finfo(np.float64).eps)
#: Equal-width bins of the expected calibration error.
ECE_BINS = 10

_NO_WEIGHT = "every row has weight 0 in this resample"


#: Above this many columns the confusion cells are summed through a sparse indicator instead.
_DENSE_COLUMNS = 64


def _sum_columns(inputs: MetricInputs) -> tuple[FloatArray, dict[str, slice]]:
    """The per-row columns of every sum-based metric of ``inputs``, stacked as (n, m).

    The confusion cells (one-hot of ``y * k + pred``, when k is small), and with scores the
    log-loss and Brier terms and the ECE gaps per bin. One product ``W @ columns`` per weight
    matrix then serves accuracy, balanced accuracy, precision, recall, F1, log loss, Brier and
    ECE together.
    """
    k, n = inputs.k, inputs.n
    parts: list[FloatArray] = []
    where: dict[str, slice] = {}

    def add(name: str, block: FloatArray) -> None:
        start = sum(part.shape[1] for part in parts)
        where[name] = slice(start, start + block.shape[1])
        parts.append(block)

    if k * k <= _DENSE_COLUMNS:
        add("cells", np.eye(k * k)[inputs.y * k + inputs.pred])
    if inputs.score is not None:
        score = inputs.score
        p = np.clip(score[np.arange(n), inputs.y], LOG_LOSS_EPS, 1 - LOG_LOSS_EPS)
        add("log_loss", -np.log(p)[:, None])
        per_row = ((score - np.eye(k)[inputs.y]) ** 2).sum(axis=1)
        add("brier", (per_row / 2 if k == 2 else per_row)[:, None])  # binary: both columns
        if k == 2:
            confidence = score[:, 1]
            outcome = (inputs.y == 1).astype(np.float64)
        else:
            confidence = score.max(axis=1)
            outcome = (score.argmax(axis=1) == inputs.y).astype(np.float64)
        bins = np.minimum((confidence * ECE_BINS).astype(np.int64), ECE_BINS - 1).clip(0)
        add("ece", np.eye(ECE_BINS)[bins] * (outcome - confidence)[:, None])
    columns = np.concatenate(parts, axis=1) if parts else np.zeros((n, 0))
    return np.ascontiguousarray(columns), where


def weighted_sums(inputs: MetricInputs, w: FloatArray) -> dict[str, FloatArray]:
    """``W @ columns`` split by name (see :func:`_sum_columns`), plus ``total`` (B,), memoised."""

    def build(weights: FloatArray) -> dict[str, FloatArray]:
        columns, where = inputs.once("sum_columns", lambda: _sum_columns(inputs))
        sums = weights @ columns
        out = {name: sums[:, part] for name, part in where.items()}
        if "cells" not in out:
            cells = inputs.once("cells", lambda: inputs.y * inputs.k + inputs.pred)
            out["cells"] = group_sums(weights, cells, inputs.k**2)
        out["total"] = out["cells"].sum(axis=1)
        return out

    return inputs.memo("sums", w, build)


def confusion_counts(inputs: MetricInputs, w: FloatArray) -> FloatArray:
    """Weighted confusion counts ``C[b, true, predicted]``, shape (B, k, k), memoised per ``w``."""
    counts: FloatArray = weighted_sums(inputs, w)["cells"].reshape(-1, inputs.k, inputs.k)
    return counts


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


def _mean_of(inputs: MetricInputs, name: str) -> Evaluator:
    """Weighted mean of the per-row columns ``name``; several columns (ECE's bins) add up
    their absolute sums, a single non-negative column (log loss, Brier) is its plain sum."""

    def evaluate(w: FloatArray) -> tuple[FloatArray, str]:
        sums = weighted_sums(inputs, w)
        return ratio(np.abs(sums[name]).sum(axis=1), sums["total"]), _NO_WEIGHT

    return evaluate


def log_loss(inputs: MetricInputs) -> Evaluator:
    """Weighted mean of ``-log p[y]``, probabilities clipped to ``[eps, 1 - eps]``."""
    require_score(inputs, "log_loss")
    return _mean_of(inputs, "log_loss")


def brier(inputs: MetricInputs) -> Evaluator:
    """Binary: mean ``(p1 - y)^2``; multiclass: mean over rows of the sum over classes."""
    require_score(inputs, "brier")
    return _mean_of(inputs, "brier")


def ece(inputs: MetricInputs) -> Evaluator:
    """Expected calibration error over 10 equal-width bins of [0, 1] (1.0 in the last bin).

    Binary: binned on ``p1`` and compared with the share of class 1 in each bin (the
    reliability diagram of the positive class). Multiclass: binned on the top-class
    probability and compared with the share of rows whose top-probability class is the label.
    ``ECE = sum_bins |sum_{i in bin} w_i (outcome_i - confidence_i)| / sum_i w_i``.
    """
    require_score(inputs, "ece")
    return _mean_of(inputs, "ece")
