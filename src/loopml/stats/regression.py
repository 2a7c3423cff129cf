"""Regression metric kernels: MAE, RMSE, R², MAPE and quantiles of the absolute error.

Weighted sums are one matrix product ``W @ V`` per chunk of resamples; the error quantiles sort
``|y - pred|`` once and take a cumulative sum of the weights in that order.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from loopml.core.errors import MetricUndefined
from loopml.stats._metric_inputs import Evaluator, FloatArray, MetricInputs, ratio

_NO_WEIGHT = "every row has weight 0 in this resample"


def _weighted_means(inputs: MetricInputs, per_row: FloatArray) -> Evaluator:
    def evaluate(w: FloatArray) -> tuple[FloatArray, str]:
        return ratio(w @ per_row, w.sum(axis=1)), _NO_WEIGHT

    return evaluate


def mae(inputs: MetricInputs) -> Evaluator:
    """Weighted mean absolute error."""
    return _weighted_means(inputs, np.abs(inputs.y - inputs.pred))


def rmse(inputs: MetricInputs) -> Evaluator:
    """Root of the weighted mean squared error (scikit-learn's ``root_mean_squared_error``)."""
    mse = _weighted_means(inputs, (inputs.y - inputs.pred) ** 2)

    def evaluate(w: FloatArray) -> tuple[FloatArray, str]:
        values, reason = mse(w)
        return np.sqrt(values), reason

    return evaluate


def r2(inputs: MetricInputs) -> Evaluator:
    """Coefficient of determination ``1 - SS_res / SS_tot`` with weighted sums.

    Undefined when the (weighted) labels are constant, where scikit-learn returns 0 or 1.
    """
    centred = inputs.y - inputs.y.mean()  # R² is shift-invariant; centring avoids cancellation
    columns = np.stack([np.ones(inputs.n), centred, centred**2, (inputs.y - inputs.pred) ** 2], 1)

    def evaluate(w: FloatArray) -> tuple[FloatArray, str]:
        total, s1, s2, residual = (w @ columns).T
        spread = s2 - ratio(s1**2, total)
        defined = spread > 1e-12 * np.maximum(s2, np.finfo(np.float64).tiny)
        values = np.where(defined, 1 - residual / np.where(defined, spread, 1), np.nan)
        return (
            values,
            "r2 is undefined when every label has the same value (no variance to explain)",
        )

    return evaluate


def mape(inputs: MetricInputs) -> Evaluator:
    """Weighted mean of ``|y - pred| / |y|`` over the rows where ``y != 0``.

    Rows with ``y == 0`` are skipped (scikit-learn divides by machine epsilon instead, which
    gives astronomically large values); undefined when every label is 0.
    """
    keep = inputs.y != 0
    if not keep.any():
        raise MetricUndefined(
            "mape is undefined when every label is 0 (rows with y == 0 are skipped)"
        )
    safe = np.where(keep, inputs.y, 1.0)
    columns = np.stack(
        [keep.astype(np.float64), np.where(keep, np.abs(inputs.y - inputs.pred) / np.abs(safe), 0)],
        1,
    )

    def evaluate(w: FloatArray) -> tuple[FloatArray, str]:
        rows, total = (w @ columns).T
        return ratio(total, rows), "mape is undefined when every row with y != 0 has weight 0"

    return evaluate


def error_quantile(q: float) -> Callable[[MetricInputs], Evaluator]:
    """Kernel of the ``q``-quantile of ``|y - pred|``.

    The weighted quantile is the smallest error whose weighted CDF reaches ``q`` (NumPy's
    ``method="inverted_cdf"``, which is the only one that takes weights); with unit weights it
    equals ``np.quantile(errors, q, method="inverted_cdf")``.
    """

    def kernel(inputs: MetricInputs) -> Evaluator:
        errors = inputs.once("abs_err_sorted", lambda: np.sort(np.abs(inputs.y - inputs.pred)))
        order = inputs.once(
            "abs_err_order", lambda: np.argsort(np.abs(inputs.y - inputs.pred), kind="stable")
        )

        def cdf(w: FloatArray) -> FloatArray:
            cum = np.cumsum(np.take(w, order, axis=1), axis=1)
            out: FloatArray = cum / np.where(cum[:, -1:] > 0, cum[:, -1:], 1)
            return out

        def evaluate(w: FloatArray) -> tuple[FloatArray, str]:
            probs = inputs.memo("abs_err_cdf", w, cdf)
            index = np.minimum((probs < q).sum(axis=1), inputs.n - 1)
            values = np.where(w.sum(axis=1) > 0, errors[index], np.nan)
            return values, _NO_WEIGHT

        return evaluate

    return kernel
