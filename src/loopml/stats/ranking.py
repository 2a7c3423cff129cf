"""Ranking metric kernels: ROC AUC and average precision (PR AUC), vectorized over resamples.

The scores are sorted once (descending); equal scores form one threshold group. For a weight
matrix ``W`` (B, n) the weighted true- and false-positive counts at every threshold come from
a cumulative sum along axis 1 of the positive rows' and the negative rows' weights (in score
order), read at each group's last row, so the whole chunk is a handful of array passes and
no Python loop over resamples. The formulas are scikit-learn's: ``roc_auc_score`` is the
trapezoidal area under the weighted ROC curve (ties count one half), ``average_precision_score``
is ``sum_g (R_g - R_{g-1}) P_g`` over thresholds. Multiclass: one-vs-rest, macro average.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from loopml.stats._metric_inputs import Evaluator, FloatArray, IntArray, MetricInputs, ratio
from loopml.stats.classification import require_score


@dataclass(frozen=True)
class _Ranks:
    """Weight-independent preparation of one binary ranking problem."""

    pos_order: IntArray  # rows with label 1, by descending score
    neg_order: IntArray  # rows with label 0, by descending score
    pos_end: IntArray  # per threshold group: how many positive rows score >= the group's score
    neg_end: IntArray

    @classmethod
    def build(cls, positive: np.ndarray, score: FloatArray) -> _Ranks:
        order = np.argsort(-score, kind="stable")
        sorted_score = score[order]
        group = np.concatenate([[0], np.cumsum(sorted_score[1:] != sorted_score[:-1])])
        groups = int(group[-1]) + 1
        is_pos = positive[order]
        ends = np.arange(groups)
        return cls(
            pos_order=order[is_pos],
            neg_order=order[~is_pos],
            pos_end=np.searchsorted(group[is_pos], ends, side="right"),
            neg_end=np.searchsorted(group[~is_pos], ends, side="right"),
        )

    def curve(self, w: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Cumulative weighted (TP, FP) at every threshold group, each (B, groups + 1)."""
        return _cumulative(w, self.pos_order, self.pos_end), _cumulative(
            w, self.neg_order, self.neg_end
        )


def _cumulative(w: FloatArray, order: IntArray, ends: IntArray) -> FloatArray:
    cum = np.zeros((w.shape[0], order.shape[0] + 1))
    np.cumsum(np.take(w, order, axis=1), axis=1, out=cum[:, 1:])
    out: FloatArray = np.concatenate([np.zeros((w.shape[0], 1)), cum[:, ends]], axis=1)
    return out


def _ranks(inputs: MetricInputs, metric: str) -> list[_Ranks]:
    score = require_score(inputs, metric)
    columns = [1] if inputs.k == 2 else list(range(inputs.k))
    return inputs.once("ranks", lambda: [_Ranks.build(inputs.y == c, score[:, c]) for c in columns])


def _curves(
    inputs: MetricInputs, ranks: list[_Ranks], w: FloatArray
) -> list[tuple[FloatArray, FloatArray]]:
    return inputs.memo("curves", w, lambda weights: [r.curve(weights) for r in ranks])


def _roc_area(tp: FloatArray, fp: FloatArray) -> FloatArray:
    area = (np.diff(fp, axis=1) * (tp[:, 1:] + tp[:, :-1])).sum(axis=1) / 2
    return ratio(area, tp[:, -1] * fp[:, -1])


def _average_precision(tp: FloatArray, fp: FloatArray) -> FloatArray:
    precision = ratio(tp[:, 1:], tp[:, 1:] + fp[:, 1:])
    gain = np.diff(tp, axis=1)
    ap = np.where(gain > 0, gain * np.nan_to_num(precision), 0.0).sum(axis=1)
    return ratio(ap, tp[:, -1])


def _reason(inputs: MetricInputs, metric: str, tp: FloatArray, fp: FloatArray, cls: int) -> str:
    missing = "class 0" if tp[0, -1] > 0 else "class 1"
    if inputs.k == 2:
        if metric == "pr_auc":
            return "pr_auc needs at least one row of class 1 (with positive weight); there is none"
        only = "class 1" if tp[0, -1] > 0 else "class 0"
        return f"roc_auc needs both classes; the labels hold only {only} (no {missing} row)"
    state = "never occurs" if not tp[0, -1] > 0 else "is the only class"
    return f"{metric} (one-vs-rest) needs every class present and absent; class {cls} {state}"


def _ranking(inputs: MetricInputs, metric: str) -> Evaluator:
    ranks = _ranks(inputs, metric)
    area = _roc_area if metric == "roc_auc" else _average_precision

    def evaluate(w: FloatArray) -> tuple[FloatArray, str]:
        curves = _curves(inputs, ranks, w)
        per_class = np.stack([area(tp, fp) for tp, fp in curves])
        values = per_class.mean(axis=0)  # NaN when any class is undefined
        reason = ""
        if np.isnan(values).any():
            for cls, (tp, fp) in enumerate(curves):
                if np.isnan(per_class[cls]).any():
                    first = int(np.flatnonzero(np.isnan(per_class[cls]))[0])
                    row = slice(first, first + 1)
                    label = 1 if inputs.k == 2 else cls
                    reason = _reason(inputs, metric, tp[row], fp[row], label)
                    break
        return values, reason

    return evaluate


def roc_auc(inputs: MetricInputs) -> Evaluator:
    """Area under the ROC curve (binary on column 1; multiclass one-vs-rest, macro)."""
    return _ranking(inputs, "roc_auc")


def pr_auc(inputs: MetricInputs) -> Evaluator:
    """Average precision (binary on column 1; multiclass one-vs-rest, macro)."""
    return _ranking(inputs, "pr_auc")
