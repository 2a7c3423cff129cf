"""Shared plumbing of the metric kernels: checked inputs, the weight matrix and undefined values.

A kernel is prepared once per model (``kernel(inputs) -> evaluator``) and then evaluated on any
number of weight matrices ``(B, n)``; the evaluator returns ``(values, reason)`` where
``values`` has shape ``(B,)`` with NaN for the rows of ``W`` where the metric is undefined and
``reason`` says why (empty when every value is defined). Work that does not depend on the
weights (sorting scores, one-hot encodings) happens in the kernel; work shared by several
metrics on the same weights (the confusion counts, the ROC curve) is memoised in
:attr:`MetricInputs.cache` keyed by the identity of ``W``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from loopml.core.errors import InvalidArgumentError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Evaluator = Callable[[FloatArray], tuple[FloatArray, str]]

T = TypeVar("T")


@dataclass
class MetricInputs:
    """Checked inputs of one model, shared by every metric evaluated on it.

    Attributes:
        y: True labels: int class indices (classification) or floats (regression), shape (n,).
        pred: Predicted class indices or values, shape (n,).
        score: Class probabilities (n, k), or None.
        k: Number of classes (0 for regression).
        cache: Memoised intermediate results (see :meth:`memo`).
    """

    y: npt.NDArray[Any]
    pred: npt.NDArray[Any]
    score: FloatArray | None
    k: int
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        """Number of rows."""
        return int(self.y.shape[0])

    def once(self, key: str, fn: Callable[[], T]) -> T:
        """Return ``fn()``, computed once per inputs object."""
        if key not in self.cache:
            self.cache[key] = fn()
        result: T = self.cache[key]
        return result

    def memo(self, key: str, w: FloatArray, fn: Callable[[FloatArray], T]) -> T:
        """Return ``fn(w)``, computed once per weight matrix (the last one is kept)."""
        hit = self.cache.get("w:" + key)
        if hit is not None and hit[0] is w:
            cached: T = hit[1]
            return cached
        value = fn(w)
        self.cache["w:" + key] = (w, value)
        return value


def ratio(num: FloatArray, den: FloatArray) -> FloatArray:
    """``num / den`` with NaN where ``den <= 0`` (no warnings)."""
    out = np.full(np.shape(num), np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def group_sums(w: FloatArray, groups: IntArray, size: int, values: FloatArray | None = None) -> Any:
    """Weighted sums per group: ``out[b, g] = sum_i w[b, i] * values[i] * (groups[i] == g)``.

    Uses one sparse indicator matrix, so it costs one pass over ``w`` whatever the group count.
    """
    n = groups.shape[0]
    data = np.ones(n) if values is None else values
    indicator = sp.csr_matrix((data, (np.arange(n), groups)), shape=(n, size))
    return np.asarray(indicator.T.dot(w.T).T)


def check_weights(w: object, n: int, metric: str) -> tuple[FloatArray, bool]:
    """Return ``(W, two_d)``: the weights as a (B, n) float matrix and whether they were 2-D."""
    if w is None:
        return np.ones((1, n)), False
    arr = np.asarray(w, dtype=np.float64)
    if arr.ndim not in (1, 2) or arr.shape[-1] != n:
        raise InvalidArgumentError(
            f"The 'w' parameter of {metric} must be None, an array of shape ({n},) or "
            f"(B, {n}) of non-negative weights. Got shape {arr.shape} instead."
        )
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise InvalidArgumentError(
            f"The 'w' parameter of {metric} must hold finite non-negative weights. "
            f"Got a minimum of {np.nanmin(arr)!r} instead."
        )
    return (arr[None, :], False) if arr.ndim == 1 else (arr, True)


def check_inputs(
    metric: str, y: object, pred: object, score: object, k: int | None, *, regression: bool
) -> MetricInputs:
    """Validate the arrays of one model and return them as :class:`MetricInputs`.

    Raises:
        InvalidArgumentError: A shape, dtype, class index or ``k`` is wrong.
    """
    if regression:
        y_arr = _vector(metric, "y", y, None, np.float64)
        pred_arr = _vector(metric, "pred", pred, y_arr.shape[0], np.float64)
        if not (np.all(np.isfinite(y_arr)) and np.all(np.isfinite(pred_arr))):
            raise InvalidArgumentError(
                f"The 'y' and 'pred' parameters of {metric} must be finite. Got NaN or "
                "infinity instead; drop or impute those rows first."
            )
        return MetricInputs(y=y_arr, pred=pred_arr, score=None, k=0)
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 2:
        raise InvalidArgumentError(
            f"The 'k' parameter of {metric} must be an int >= 2 (the number of classes). "
            f"Got {k!r} instead."
        )
    k = int(k)
    y_arr = _labels(metric, "y", y, None, k)
    n = y_arr.shape[0]
    pred_arr = _labels(metric, "pred", pred, n, k)
    score_arr: FloatArray | None = None
    if score is not None:
        score_arr = np.asarray(score, dtype=np.float64)
        if score_arr.shape != (n, k):
            raise InvalidArgumentError(
                f"The 'score' parameter of {metric} must have shape (n, k) = ({n}, {k}) "
                f"(class probabilities, column 1 the positive class when k=2). "
                f"Got {score_arr.shape} instead."
            )
        if not np.all(np.isfinite(score_arr)):
            raise InvalidArgumentError(
                f"The 'score' parameter of {metric} must be finite. Got NaN or infinity instead."
            )
    return MetricInputs(y=y_arr, pred=pred_arr, score=score_arr, k=k)


def _vector(metric: str, name: str, value: object, n: int | None, dtype: type) -> Any:
    try:
        arr: Any = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(
            f"The {name!r} parameter of {metric} must be a 1-D numeric array. Got {exc}."
        ) from exc
    if arr.ndim != 1 or (n is not None and arr.shape[0] != n) or arr.shape[0] == 0:
        want = "(n,) with n >= 1" if n is None else f"({n},) like 'y'"
        raise InvalidArgumentError(
            f"The {name!r} parameter of {metric} must have shape {want}. Got {arr.shape} instead."
        )
    return arr


def _labels(metric: str, name: str, value: object, n: int | None, k: int) -> IntArray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "iub":
        raise InvalidArgumentError(
            f"The {name!r} parameter of {metric} must hold int class indices in [0, {k}). "
            f"Got dtype {arr.dtype} instead; map labels to indices first."
        )
    out: IntArray = _vector(metric, name, arr, n, np.int64)
    low, high = int(out.min()), int(out.max())
    if low < 0 or high >= k:
        bad = low if low < 0 else high
        raise InvalidArgumentError(
            f"The {name!r} parameter of {metric} must hold class indices in [0, {k}). "
            f"Got {bad} instead."
        )
    return out
