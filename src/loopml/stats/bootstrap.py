"""Bootstrap confidence intervals of metrics, with paired differences against a baseline model.

The resampling is the Poisson bootstrap: each row gets an independent Poisson(1) weight per
resample instead of a multinomial draw of n indices. For large n the two are equivalent (a
multinomial(n, 1/n) count tends to Poisson(1)); the Poisson form needs no index arrays, lets
every metric run on a weight matrix (B, n) in a few vectorized passes, and streams in chunks
small enough to stay in the CPU caches. The metrics of one model share one checked input, so
work common to several of them (one matrix product for the confusion counts, log loss, Brier
and ECE; one pass in score order for both AUCs) is done once per chunk.
Resample ``r``'s weights depend only on ``(seed, r)``, so results do not depend on the chunk
size. Intervals are percentile intervals over the resamples where the metric is defined; the
paired difference (candidate - baseline) is computed on the same weights in every resample;
:func:`loopml.stats.unpaired.bootstrap_unpaired` resamples two models' own rows independently
(a champion and a canary that answered different requests).

Example:
    >>> import numpy as np
    >>> y = np.array([0, 1] * 50)
    >>> result = bootstrap_metrics(["accuracy"], y, y, None, k=2, task="binary", resamples=200)
    >>> result["accuracy"].estimate.value
    1.0
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from loopml.core.errors import InvalidArgumentError, MetricUndefined
from loopml.core.jsonable import Jsonable
from loopml.stats._metric_inputs import (
    Evaluator,
    FloatArray,
    MetricInputs,
    check_inputs,
)
from loopml.stats.metrics import MetricSpec, check_task, get_metric

#: Budget of one chunk of weights, in bytes (float64, B * n * 8). The kernels make a few
#: temporaries of the same size, so a small chunk keeps the working set in the CPU caches.
CHUNK_BYTES = 8 * 1024 * 1024

_BITS = 16  # Poisson(1) by inverse CDF: 16-bit uniforms through a table, exact refinement
# scipy.stats.poisson.cdf is special.pdtr; scipy.stats itself costs ~1 s to import, which
# every CLI command and server start that reaches this module would pay.
_CDF = special.pdtr(np.arange(40), 1.0)
_EDGES = np.arange(2**_BITS + 1) / 2**_BITS
_LOW = np.searchsorted(_CDF, _EDGES[:-1], side="right")
_HIGH = np.searchsorted(_CDF, _EDGES[1:], side="left")
# Count per bucket; -1 marks the buckets that straddle a CDF step (refined with a finer uniform).
_TABLE = np.where(_LOW == _HIGH, _LOW, -1).astype(np.float32)


@dataclass(frozen=True)
class Estimate(Jsonable):
    """A metric value with its bootstrap interval.

    Attributes:
        value: The value on all rows (None when undefined there).
        low: Lower end of the percentile interval (None without resamples or defined ones).
        high: Upper end.
        undefined: How many resamples had no value (ignored by the interval).
        reason: Why the metric was undefined (on all rows, or in some resamples), else "".
    """

    value: float | None
    low: float | None = None
    high: float | None = None
    undefined: int = 0
    reason: str = ""


@dataclass(frozen=True)
class MetricInterval(Jsonable):
    """One metric of a bootstrap: the candidate, and with a baseline the paired difference.

    Attributes:
        name: Metric name.
        higher_is_better: Direction of improvement (for reading ``difference``).
        estimate: The candidate model's value and interval.
        baseline: The baseline model's value and interval, or None.
        difference: candidate - baseline on the same resamples, or None.
    """

    name: str
    higher_is_better: bool
    estimate: Estimate
    baseline: Estimate | None = None
    difference: Estimate | None = None


@dataclass(frozen=True)
class BootstrapResult(Jsonable):
    """The outcome of :func:`bootstrap_metrics`.

    Attributes:
        metrics: One :class:`MetricInterval` per requested metric, in request order.
        resamples: Number of resamples.
        confidence: Interval confidence level.
        seed: Seed of the weights.
        method: ``"poisson-percentile"``.
    """

    metrics: tuple[MetricInterval, ...]
    resamples: int
    confidence: float
    seed: int
    method: str = "poisson-percentile"

    def __getitem__(self, name: str) -> MetricInterval:
        for metric in self.metrics:
            if metric.name == name:
                return metric
        raise KeyError(name)


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InvalidArgumentError(
            f"The {name!r} parameter must be an int >= {minimum}. Got {value!r} instead."
        )
    return int(value)


def _check_confidence(confidence: object) -> float:
    number = isinstance(confidence, float | int) and not isinstance(confidence, bool)
    value = float(confidence) if number else math.nan  # type: ignore[arg-type]
    if not 0 < value < 1:
        raise InvalidArgumentError(
            "The 'confidence' parameter must be a float in (0, 1), e.g. 0.95. "
            f"Got {confidence!r} instead."
        )
    return value


def default_chunk(n: int) -> int:
    """Resamples per chunk so that a (chunk, n) float64 matrix stays within 8 MB."""
    return max(1, CHUNK_BYTES // (8 * max(n, 1)))


def poisson_weights(
    n: int, resamples: int, *, seed: int = 0, chunk: int | None = None
) -> Iterator[FloatArray]:
    """Yield Poisson(1) bootstrap weights as float64 matrices (b, n), b <= ``chunk``.

    Row ``r`` (counting over all chunks) is drawn from ``numpy.random.default_rng([seed, r])``
    by inverse CDF: a 16-bit uniform picks the count through a table, and the few uniforms
    that fall in a bucket straddling a CDF step (about 2 in 10,000) are refined with a 53-bit
    uniform, so the counts are exactly Poisson(1) and faster to draw than
    ``Generator.poisson``.

    Args:
        n: Rows per resample.
        resamples: Total number of resamples.
        seed: Non-negative int seed.
        chunk: Resamples per yielded matrix (default: within 8 MB).

    Yields:
        Weight matrices; their rows concatenated are the ``resamples`` resamples.
    """
    n = _check_int("n", n, 1)
    resamples = _check_int("resamples", resamples, 0)
    seed = _check_int("seed", seed, 0)
    size = default_chunk(n) if chunk is None else _check_int("chunk", chunk, 1)
    counts = np.empty((size, n), dtype=np.float32)  # exact: small integers
    for start in range(0, resamples, size):
        rows = min(size, resamples - start)
        for i in range(rows):
            rng = np.random.default_rng([seed, start + i])
            bucket = rng.integers(0, 2**_BITS, size=n, dtype=np.uint16)
            np.take(_TABLE, bucket, out=counts[i])
            fix = np.flatnonzero(counts[i] < 0)
            if fix.size:
                u = (bucket[fix] + rng.random(fix.size)) / 2**_BITS
                counts[i, fix] = np.searchsorted(_CDF, u, side="right")
        yield counts[:rows].astype(np.float64)


def _groups(groups: Any, n: int) -> tuple[Any, int] | None:
    """Row -> group codes 0..g-1 (from any labels), and g; None when rows are resampled."""
    if groups is None:
        return None
    values = np.asarray(groups)
    if values.shape != (n,):
        raise InvalidArgumentError(
            f"The 'groups' parameter must give one group per row ({n} rows). Got shape "
            f"{values.shape} instead."
        )
    uniques, codes = np.unique(values, return_inverse=True)
    return codes, int(uniques.size)


def _weights(
    n: int, resamples: int, seed: int, chunk: int | None, groups: Any
) -> Iterator[FloatArray]:
    """Poisson weights per row, or drawn per group and given to each row of the group (the
    cluster bootstrap: rows that share a fate, e.g. one request's rows, are resampled
    together)."""
    found = _groups(groups, n)
    if found is None:
        yield from poisson_weights(n, resamples, seed=seed, chunk=chunk)
        return
    codes, size = found
    for w in poisson_weights(size, resamples, seed=seed, chunk=chunk or default_chunk(n)):
        yield w[:, codes]


def _interval(values: FloatArray, confidence: float) -> tuple[float | None, float | None, int]:
    defined = values[~np.isnan(values)]
    undefined = int(values.size - defined.size)
    if defined.size == 0:
        return None, None, undefined
    alpha = (1 - confidence) / 2
    low, high = np.quantile(defined, [alpha, 1 - alpha])
    return float(low), float(high), undefined


def _estimate(
    point: float | None, values: FloatArray | None, confidence: float, reason: str
) -> Estimate:
    if values is None or values.size == 0:
        return Estimate(point, reason=reason)
    low, high, undefined = _interval(values, confidence)
    return Estimate(point, low, high, undefined, reason if (undefined or point is None) else "")


@dataclass
class _Track:
    """Running state of one metric for one model during the bootstrap."""

    evaluator: Evaluator | None
    point: float | None
    reason: str
    values: list[FloatArray]

    @classmethod
    def start(cls, spec: MetricSpec, inputs: MetricInputs, ones: FloatArray) -> _Track:
        try:
            evaluator = spec.kernel(inputs)
        except MetricUndefined as exc:
            return cls(None, None, exc.reason, [])
        values, reason = evaluator(ones)
        point = None if np.isnan(values[0]) else float(values[0])
        return cls(evaluator, point, reason if point is None else "", [])

    @classmethod
    def start_all(
        cls, specs: Sequence[MetricSpec], y: Any, pred: Any, score: Any, k: int | None
    ) -> list[_Track]:
        """Tracks of one model's metrics over one shared :class:`MetricInputs`, so that the
        work common to several metrics (confusion counts, the ranking pass) is done once per
        weight matrix."""
        if not specs:
            return []
        regression = specs[0].regression  # bootstrap_metrics checked: all of one task
        inputs = check_inputs("bootstrap_metrics", y, pred, score, k, regression=regression)
        ones = np.ones((1, inputs.n))
        return [cls.start(spec, inputs, ones) for spec in specs]

    def add(self, w: FloatArray) -> FloatArray:
        if self.evaluator is None:
            out = np.full(w.shape[0], np.nan)
        else:
            out, reason = self.evaluator(w)
            if np.isnan(out).any() and not self.reason:
                self.reason = reason
        self.values.append(out)
        return out


def _specs(names: Sequence[str], task: str) -> list[MetricSpec]:
    specs = [get_metric(name) for name in names]
    for spec in specs:
        if task not in spec.tasks:
            raise InvalidArgumentError(
                f"Metric {spec.name!r} does not apply to task {task!r}; it is for "
                f"{', '.join(sorted(spec.tasks))}. Drop it or choose another metric."
            )
    return specs


def bootstrap_metrics(
    names: Sequence[str],
    y: Any,
    pred: Any,
    score: Any,
    *,
    k: int | None,
    task: str,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    chunk: int | None = None,
    baseline: tuple[Any, Any] | None = None,
    groups: Any = None,
) -> BootstrapResult:
    """Point values and Poisson-bootstrap percentile intervals of metrics.

    Args:
        names: Metric names (keys of :data:`~loopml.stats.metrics.METRICS`).
        y: True labels (n,).
        pred: The candidate's predictions (n,).
        score: The candidate's class probabilities (n, k), or None.
        k: Number of classes (2 for binary; ignored for regression).
        task: ``binary``, ``multiclass`` or ``regression``.
        resamples: Number of resamples (0: point values only).
        confidence: Interval level in (0, 1).
        seed: Seed of the weights (same seed, same intervals).
        chunk: Resamples per weight matrix (default: within 8 MB).
        baseline: ``(pred, score)`` of a baseline model on the same rows, for paired
            differences (candidate - baseline on the same resamples).
        groups: One group label per row (n,), or None: the rows of a group are resampled
            together (a cluster bootstrap), for rows that are not independent.

    Returns:
        A :class:`BootstrapResult`; a metric undefined on all rows has value None and a reason.

    Raises:
        InvalidArgumentError: Unknown metric, a metric not for ``task``, or a bad parameter.
    """
    task = check_task(task)
    resamples = _check_int("resamples", resamples, 0)
    confidence = _check_confidence(confidence)
    seed = _check_int("seed", seed, 0)
    if task == "binary" and k != 2:
        raise InvalidArgumentError(f"The 'k' parameter must be 2 for task 'binary'. Got {k!r}.")
    specs = _specs(names, task)
    cand = _Track.start_all(specs, y, pred, score, k)
    base = _Track.start_all(specs, y, *baseline, k) if baseline else None
    diffs: list[list[FloatArray]] = [[] for _ in specs]
    for w in _weights(np.shape(y)[0], resamples, seed, chunk, groups):
        for i, track in enumerate(cand):
            values = track.add(w)
            if base is not None:
                diffs[i].append(values - base[i].add(w))
    results = []
    for i, spec in enumerate(specs):
        c = cand[i]
        est = _estimate(c.point, _join(c.values), confidence, c.reason)
        b_est = d_est = None
        if base is not None:
            b = base[i]
            b_est = _estimate(b.point, _join(b.values), confidence, b.reason)
            point = None if c.point is None or b.point is None else c.point - b.point
            d_est = _estimate(point, _join(diffs[i]), confidence, c.reason or b.reason)
        results.append(MetricInterval(spec.name, spec.higher_is_better, est, b_est, d_est))
    return BootstrapResult(tuple(results), resamples, confidence, seed)


def bootstrap_slice_gaps(
    names: Sequence[str],
    y: Any,
    pred: Any,
    score: Any,
    masks: Sequence[Any],
    *,
    k: int | None,
    task: str,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    chunk: int | None = None,
) -> list[tuple[Estimate, ...]]:
    """Per row mask, ``metric(slice) - metric(all rows)`` for each metric, with its interval.

    The slice and the whole set are measured on the same resamples: resample ``r`` weighs
    every row with the weights :func:`bootstrap_metrics` uses for it (same ``seed``), and the
    slice's value is the metric over its rows with their weights in that resample. So the
    interval accounts for the slice's rows being part of the whole (the two values move
    together), which two separate intervals would not.

    Args:
        names: Metric names.
        y: True labels (n,).
        pred: Predictions (n,).
        score: Class probabilities (n, k), or None.
        masks: Boolean row masks (n,), one per slice.
        k, task, resamples, confidence, seed, chunk: As :func:`bootstrap_metrics`.

    Returns:
        One tuple per mask, one :class:`Estimate` per name (value None with the reason when
        the metric is undefined on the slice or on all rows).
    """
    task = check_task(task)
    resamples = _check_int("resamples", resamples, 0)
    confidence = _check_confidence(confidence)
    seed = _check_int("seed", seed, 0)
    specs = [get_metric(name) for name in names]
    y_arr, pred_arr = np.asarray(y), np.asarray(pred)
    score_arr = None if score is None else np.asarray(score)
    whole = _Track.start_all(specs, y_arr, pred_arr, score_arr, k)
    parts: list[tuple[Any, list[_Track]]] = []
    for mask in masks:
        rows = np.flatnonzero(np.asarray(mask, dtype=bool))
        sub_score = None if score_arr is None else score_arr[rows]
        parts.append((rows, _Track.start_all(specs, y_arr[rows], pred_arr[rows], sub_score, k)))
    diffs: list[list[list[FloatArray]]] = [[[] for _ in specs] for _ in parts]
    for w in poisson_weights(y_arr.shape[0], resamples, seed=seed, chunk=chunk):
        overall = [track.add(w) for track in whole]
        for j, (rows, tracks) in enumerate(parts):
            sub_w = w[:, rows]
            for i, track in enumerate(tracks):
                diffs[j][i].append(track.add(sub_w) - overall[i])
    out: list[tuple[Estimate, ...]] = []
    for j, (_rows, tracks) in enumerate(parts):
        row: list[Estimate] = []
        for i, track in enumerate(tracks):
            base = whole[i]
            point = None if track.point is None or base.point is None else track.point - base.point
            row.append(
                _estimate(point, _join(diffs[j][i]), confidence, track.reason or base.reason)
            )
        out.append(tuple(row))
    return out


def _join(parts: list[FloatArray]) -> FloatArray | None:
    return np.concatenate(parts) if parts else None


def bootstrap_custom(
    fn: Callable[[Any, Any, Any], float],
    y: Any,
    pred: Any,
    score: Any = None,
    *,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Estimate:
    """Percentile bootstrap of a user metric ``fn(y_true, y_pred, y_score) -> float``.

    A Python function cannot run on weights, so this resamples row indices (with replacement,
    ``numpy.random.default_rng(seed)``) and calls ``fn`` once per resample; prefer the
    registry metrics for large data. An exception or a non-finite result from ``fn`` makes
    that resample undefined (counted; the first message becomes the reason).

    Args:
        fn: The metric, scikit-learn style; ``y_score`` is None when ``score`` is.
        y: True labels (n,).
        pred: Predictions (n,).
        score: Scores (n, ...) or None.
        resamples: Number of resamples (0: point value only).
        confidence: Interval level in (0, 1).
        seed: Non-negative int seed.

    Returns:
        An :class:`Estimate`.
    """
    resamples = _check_int("resamples", resamples, 0)
    confidence = _check_confidence(confidence)
    seed = _check_int("seed", seed, 0)
    y_arr, pred_arr = np.asarray(y), np.asarray(pred)
    score_arr = None if score is None else np.asarray(score)
    n = y_arr.shape[0]
    if (
        y_arr.ndim != 1
        or pred_arr.shape[:1] != (n,)
        or (score_arr is not None and score_arr.shape[:1] != (n,))
    ):
        raise InvalidArgumentError(
            "The 'y', 'pred' and 'score' parameters of bootstrap_custom must have the same "
            f"number of rows. Got {y_arr.shape}, {pred_arr.shape} and "
            f"{None if score_arr is None else score_arr.shape} instead."
        )
    reasons: list[str] = []

    def call(index: Any) -> float:
        try:
            value = float(
                fn(y_arr[index], pred_arr[index], None if score_arr is None else score_arr[index])
            )
        except Exception as exc:
            reasons.append(f"{getattr(fn, '__name__', 'fn')} failed: {type(exc).__name__}: {exc}")
            return math.nan
        if not math.isfinite(value):
            reasons.append(f"{getattr(fn, '__name__', 'fn')} returned {value}")
            return math.nan
        return value

    point = call(slice(None))
    rng = np.random.default_rng(seed)
    values = np.array([call(rng.integers(0, n, size=n, dtype=np.int64)) for _ in range(resamples)])
    reason = reasons[0] if reasons else ""
    return _estimate(None if math.isnan(point) else point, values, confidence, reason)
