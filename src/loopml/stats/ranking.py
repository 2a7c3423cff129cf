"""Ranking metric kernels: ROC AUC and average precision (PR AUC), vectorized over resamples.

The scores are sorted once (descending); equal scores form one threshold group. For a weight
matrix ``W`` (B, n), taken in score order, the weighted true-positive gain of every group
(``dTP``) and false-positive gain (``dFP``) give the cumulative counts ``TP`` and ``TP + FP``
with two cumulative sums along axis 1, and both areas are row-wise dot products of those
arrays; without tied scores every group is one row and no regrouping is needed. The formulas
are scikit-learn's: ``roc_auc_score`` is the trapezoidal area under the weighted ROC curve,
``sum_g dFP_g (TP_g - dTP_g / 2) / (P N)`` (ties count one half), and
``average_precision_score`` is ``sum_g dTP_g TP_g / (TP_g + FP_g) / P``. Both metrics share one
pass per weight matrix. Multiclass: one-vs-rest, macro average.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from loopml.stats._metric_inputs import Evaluator, FloatArray, IntArray, MetricInputs, ratio
from loopml.stats.classification import require_score

_TINY = float(np.finfo(np.float64).tiny)


@dataclass(frozen=True)
class _Ranks:
    """Weight-independent preparation of one binary ranking problem."""

    order: IntArray  # rows by descending score
    positive: FloatArray  # 1.0 where the row (in that order) has the label, else 0.0
    starts: IntArray | None  # first row of every group of tied scores; None without ties

    @classmethod
    def build(cls, positive: np.ndarray, score: FloatArray) -> _Ranks:
        order = np.argsort(-score, kind="stable")
        sorted_score = score[order]
        starts = np.flatnonzero(np.concatenate([[True], sorted_score[1:] != sorted_score[:-1]]))
        return cls(
            order=order,
            positive=positive[order].astype(np.float64),
            starts=None if starts.size == order.size else starts,
        )

    def areas(self, w: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """ROC area and average precision numerators, and the totals P and N, each (B,)."""
        gain = np.take(w, self.order, axis=1)  # all weight per group, then dFP
        tp_gain = gain * self.positive
        if self.starts is not None:
            gain = np.add.reduceat(gain, self.starts, axis=1)
            tp_gain = np.add.reduceat(tp_gain, self.starts, axis=1)
        seen = np.cumsum(gain, axis=1)  # TP + FP at every threshold
        np.subtract(gain, tp_gain, out=gain)
        tp = np.cumsum(tp_gain, axis=1)
        roc = np.einsum("ij,ij->i", gain, tp)
        if self.starts is not None:  # a tied positive and negative count one half
            roc -= np.einsum("ij,ij->i", gain, tp_gain) / 2
        negatives = gain.sum(axis=1)
        np.maximum(seen, _TINY, out=seen)  # 0 / 0 only where dTP is 0 too
        np.divide(tp, seen, out=seen)
        ap = np.einsum("ij,ij->i", tp_gain, seen)
        return roc, ap, tp[:, -1].copy(), negatives


def _ranks(inputs: MetricInputs, metric: str) -> list[_Ranks]:
    score = require_score(inputs, metric)
    columns = [1] if inputs.k == 2 else list(range(inputs.k))
    return inputs.once("ranks", lambda: [_Ranks.build(inputs.y == c, score[:, c]) for c in columns])


def _scores(inputs: MetricInputs, ranks: list[_Ranks], w: FloatArray) -> dict[str, FloatArray]:
    """Per class (rows) and resample (columns): ROC AUC, average precision, has-positive."""

    def build(weights: FloatArray) -> dict[str, FloatArray]:
        roc, ap, has_positive = [], [], []
        for rank in ranks:
            roc_area, precision_area, positives, negatives = rank.areas(weights)
            roc.append(ratio(roc_area, positives * negatives))
            ap.append(ratio(precision_area, positives))
            has_positive.append(positives > 0)
        return {
            "roc_auc": np.stack(roc),
            "pr_auc": np.stack(ap),
            "positive": np.stack(has_positive),
        }

    return inputs.memo("ranking", w, build)


def _reason(inputs: MetricInputs, metric: str, has_positive: bool, cls: int) -> str:
    missing = "class 0" if has_positive else "class 1"
    if inputs.k == 2:
        if metric == "pr_auc":
            return "pr_auc needs at least one row of class 1 (with positive weight); there is none"
        only = "class 1" if has_positive else "class 0"
        return f"roc_auc needs both classes; the labels hold only {only} (no {missing} row)"
    state = "never occurs" if not has_positive else "is the only class"
    return f"{metric} (one-vs-rest) needs every class present and absent; class {cls} {state}"


def _ranking(inputs: MetricInputs, metric: str) -> Evaluator:
    ranks = _ranks(inputs, metric)

    def evaluate(w: FloatArray) -> tuple[FloatArray, str]:
        scores = _scores(inputs, ranks, w)
        per_class = scores[metric]
        values: FloatArray = per_class.mean(axis=0)  # NaN when any class is undefined
        reason = ""
        if np.isnan(values).any():
            cls, first = (int(i[0]) for i in np.nonzero(np.isnan(per_class)))
            label = 1 if inputs.k == 2 else cls
            reason = _reason(inputs, metric, bool(scores["positive"][cls, first]), label)
        return values, reason

    return evaluate


def roc_auc(inputs: MetricInputs) -> Evaluator:
    """Area under the ROC curve (binary on column 1; multiclass one-vs-rest, macro)."""
    return _ranking(inputs, "roc_auc")


def pr_auc(inputs: MetricInputs) -> Evaluator:
    """Average precision (binary on column 1; multiclass one-vs-rest, macro)."""
    return _ranking(inputs, "pr_auc")
