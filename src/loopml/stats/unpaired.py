"""The bootstrap of two models on two different sets of rows: :func:`bootstrap_unpaired`.

A champion and a canary each answer their own share of the traffic, so no row is scored by
both and their difference cannot be paired (:func:`~loopml.stats.bootstrap.bootstrap_metrics`
with ``baseline=`` pairs them). Each side is resampled on its own, with the same Poisson
weights and metric kernels as :mod:`loopml.stats.bootstrap`, optionally by group.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from loopml.stats._metric_inputs import FloatArray
from loopml.stats.bootstrap import (
    BootstrapResult,
    MetricInterval,
    _check_confidence,
    _check_int,
    _estimate,
    _join,
    _specs,
    _Track,
    _weights,
    default_chunk,
)
from loopml.stats.metrics import check_task


def bootstrap_unpaired(
    names: Sequence[str],
    a: tuple[Any, Any, Any],
    b: tuple[Any, Any, Any],
    *,
    k: int | None,
    task: str,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    groups: tuple[Any, Any] | None = None,
) -> BootstrapResult:
    """Metrics of two models on two different sets of rows, and the difference ``a - b``.

    For a champion and a canary that each answered their own share of the traffic: no row
    was scored by both, so the difference cannot be paired. Each side is resampled on its own
    (Poisson weights; ``b``'s drawn from seed ``seed + 1``, independent of ``a``'s), and
    resample ``r``'s difference is ``a``'s value minus ``b``'s in their resample ``r``.

    Args:
        names: Metric names.
        a: ``(y, pred, score)`` of the candidate's rows.
        b: ``(y, pred, score)`` of the baseline's rows.
        k, task, resamples, confidence, seed: As :func:`bootstrap_metrics`.
        groups: One group label per row of each side, or None (see
            :func:`bootstrap_metrics`).

    Returns:
        A :class:`BootstrapResult` whose metrics carry ``estimate`` (a), ``baseline`` (b) and
        ``difference`` (a - b).
    """
    task = check_task(task)
    resamples = _check_int("resamples", resamples, 0)
    confidence = _check_confidence(confidence)
    seed = _check_int("seed", seed, 0)
    specs = _specs(names, task)
    sides = [_Track.start_all(specs, *side, k) for side in (a, b)]
    n_a, n_b = np.shape(a[0])[0], np.shape(b[0])[0]
    size = default_chunk(max(n_a, n_b))
    g_a, g_b = (None, None) if groups is None else groups
    diffs: list[list[FloatArray]] = [[] for _ in specs]
    pairs = zip(
        _weights(n_a, resamples, seed, size, g_a),
        _weights(n_b, resamples, seed + 1, size, g_b),
        strict=True,
    )
    for w_a, w_b in pairs:
        for i in range(len(specs)):
            diffs[i].append(sides[0][i].add(w_a) - sides[1][i].add(w_b))
    results = []
    for i, spec in enumerate(specs):
        c, base = sides[0][i], sides[1][i]
        est = _estimate(c.point, _join(c.values), confidence, c.reason)
        b_est = _estimate(base.point, _join(base.values), confidence, base.reason)
        point = None if c.point is None or base.point is None else c.point - base.point
        d_est = _estimate(point, _join(diffs[i]), confidence, c.reason or base.reason)
        results.append(MetricInterval(spec.name, spec.higher_is_better, est, b_est, d_est))
    return BootstrapResult(tuple(results), resamples, confidence, seed, "poisson-unpaired")
