"""Poisson bootstrap: reproducible weights, coverage, paired differences, undefined metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from loopml.core.errors import InvalidArgumentError
from loopml.stats.bootstrap import (
    BootstrapResult,
    bootstrap_custom,
    bootstrap_metrics,
    bootstrap_slice_gaps,
    poisson_weights,
)
from loopml.stats.metrics import compute, default_metrics


def _binary(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    correct = rng.random(n) < 0.8
    pred = np.where(correct, y, 1 - y)
    p1 = np.clip(0.5 + (pred - 0.5) * rng.random(n), 0.01, 0.99)
    return y, pred, np.stack([1 - p1, p1], 1)


def test_weights_are_poisson_and_independent_of_chunk() -> None:
    whole = np.concatenate(list(poisson_weights(1000, 50, seed=7)))
    chunked = np.concatenate(list(poisson_weights(1000, 50, seed=7, chunk=7)))
    np.testing.assert_array_equal(whole, chunked)
    assert whole.shape == (50, 1000)
    counts = np.bincount(whole.astype(int).ravel(), minlength=8)[:6]
    expected = stats.poisson.pmf(np.arange(6), 1.0) * whole.size
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected) + 5)
    assert not np.array_equal(whole, np.concatenate(list(poisson_weights(1000, 50, seed=8))))


def test_interval_covers_true_accuracy() -> None:
    covered = 0
    for i in range(200):
        y, pred, _ = _binary(500, seed=i)
        r = bootstrap_metrics(
            ["accuracy"], y, pred, None, k=2, task="binary", resamples=200, seed=i
        )
        e = r["accuracy"].estimate
        assert e.low is not None and e.high is not None
        covered += e.low <= 0.8 <= e.high
    assert 180 <= covered <= 198


def test_point_values_match_compute_and_json_round_trip() -> None:
    y, pred, score = _binary(400, seed=1)
    names = ["accuracy", "roc_auc", "pr_auc", "log_loss", "ece"]
    r = bootstrap_metrics(names, y, pred, score, k=2, task="binary", resamples=50)
    for name in names:
        est = r[name].estimate
        assert est.value == pytest.approx(compute(name, y, pred, score, k=2))
        assert est.low is not None and est.high is not None and est.low <= est.value <= est.high
        assert est.undefined == 0
    assert BootstrapResult.from_dict(json.loads(json.dumps(r.to_dict()))) == r
    again = bootstrap_metrics(names, y, pred, score, k=2, task="binary", resamples=50, chunk=3)
    for name in names:  # same resamples whatever the chunk (up to summation order)
        assert again[name].estimate.low == pytest.approx(r[name].estimate.low, rel=1e-12)
        assert again[name].estimate.high == pytest.approx(r[name].estimate.high, rel=1e-12)


def test_paired_difference() -> None:
    y, pred, score = _binary(300, seed=2)
    same = bootstrap_metrics(
        ["accuracy", "roc_auc"],
        y,
        pred,
        score,
        k=2,
        task="binary",
        resamples=100,
        baseline=(pred, score),
    )
    for name in ("accuracy", "roc_auc"):
        diff = same[name].difference
        assert diff is not None and diff.value == 0 and diff.low == 0 and diff.high == 0
    better = bootstrap_metrics(
        ["accuracy"], y, y, None, k=2, task="binary", resamples=100, baseline=(pred, None)
    )
    diff = better["accuracy"].difference
    assert diff is not None and diff.low is not None and diff.low > 0
    assert better["accuracy"].baseline is not None


def test_undefined_metrics_are_reported_not_raised() -> None:
    y = np.array([1] * 30 + [0])
    pred = y.copy()
    r = bootstrap_metrics(
        ["log_loss", "roc_auc", "accuracy"], y, pred, None, k=2, task="binary", resamples=200
    )
    assert r["log_loss"].estimate.value is None
    assert "needs class probabilities" in r["log_loss"].estimate.reason
    score = np.stack([1 - pred * 0.9, pred * 0.9], 1)
    r = bootstrap_metrics(["roc_auc"], y, pred, score, k=2, task="binary", resamples=200)
    est = r["roc_auc"].estimate
    assert est.value == 1.0 and 0 < est.undefined < 200 and "only class 1" in est.reason
    none = bootstrap_metrics(["accuracy"], y, pred, None, k=2, task="binary", resamples=0)
    assert none["accuracy"].estimate.low is None and none["accuracy"].estimate.value == 1.0


def test_parameters_are_validated() -> None:
    y = np.array([0, 1, 1])
    with pytest.raises(InvalidArgumentError, match="'resamples' parameter must be an int >= 0"):
        bootstrap_metrics(["accuracy"], y, y, None, k=2, task="binary", resamples=-1)
    with pytest.raises(
        InvalidArgumentError, match=r"'confidence' parameter must be a float in \(0, 1\)"
    ):
        bootstrap_metrics(["accuracy"], y, y, None, k=2, task="binary", confidence=95)
    with pytest.raises(InvalidArgumentError, match="does not apply to task 'binary'"):
        bootstrap_metrics(["mae"], y, y, None, k=2, task="binary")
    with pytest.raises(InvalidArgumentError, match="Did you mean 'roc_auc'"):
        bootstrap_metrics(["roc_au"], y, y, None, k=2, task="binary")


def test_regression_bootstrap() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=2000)
    pred = y + rng.normal(scale=0.5, size=2000)
    r = bootstrap_metrics(
        ["mae", "r2", "error_q90"], y, pred, None, k=None, task="regression", resamples=100
    )
    for name in ("mae", "r2", "error_q90"):
        e = r[name].estimate
        assert e.low is not None and e.high is not None and e.low < e.value < e.high


def test_bootstrap_custom() -> None:
    y, pred, score = _binary(300, seed=3)

    def acc(t: np.ndarray, p: np.ndarray, s: object) -> float:
        return float(np.mean(t == p))

    est = bootstrap_custom(acc, y, pred, score, resamples=200, seed=1)
    assert est.value == pytest.approx(np.mean(y == pred))
    assert est.low is not None and est.high is not None and est.low < est.value < est.high
    assert bootstrap_custom(acc, y, pred, resamples=200, seed=1) == est

    def broken(t: np.ndarray, p: np.ndarray, s: object) -> float:
        raise ZeroDivisionError("nothing to divide")

    bad = bootstrap_custom(broken, y, pred, resamples=5)
    assert bad.value is None and bad.undefined == 5 and "ZeroDivisionError" in bad.reason


def test_shared_work_across_metrics_equals_each_metric_alone() -> None:
    y, pred, score = _binary(500, seed=4)
    names = list(default_metrics("binary"))
    r = bootstrap_metrics(names, y, pred, score, k=2, task="binary", resamples=40, seed=5)
    w = np.concatenate(list(poisson_weights(500, 40, seed=5)))
    for name in names:
        values = compute(name, y, pred, score, k=2, w=w)
        low, high = np.quantile(values, [0.025, 0.975])
        assert r[name].estimate.low == pytest.approx(low, rel=1e-12)
        assert r[name].estimate.high == pytest.approx(high, rel=1e-12)


def test_slice_gaps_are_paired_on_the_same_resamples() -> None:
    from sklearn.metrics import accuracy_score, roc_auc_score

    y, pred, score = _binary(4000, 3)
    rng = np.random.default_rng(0)
    small = rng.random(4000) < 0.1
    whole = np.ones(4000, dtype=bool)
    gaps = bootstrap_slice_gaps(
        ["accuracy", "roc_auc"], y, pred, score, [small, whole], k=2, task="binary",
        resamples=300, seed=1,
    )  # fmt: skip
    acc, auc = gaps[0]
    expected = accuracy_score(y[small], pred[small]) - accuracy_score(y, pred)
    assert acc.value == pytest.approx(expected)
    assert auc.value == pytest.approx(
        roc_auc_score(y[small], score[small, 1]) - roc_auc_score(y, score[:, 1])
    )
    assert acc.low is not None and acc.high is not None and acc.low < acc.value < acc.high
    # the whole set against itself: the same resamples give exactly 0 in every resample
    assert gaps[1][0].value == 0 and (gaps[1][0].low, gaps[1][0].high) == (0.0, 0.0)
    # the slice is part of the whole: the paired interval is narrower than the naive sum of
    # the two separate half-widths
    alone = bootstrap_metrics(["accuracy"], y[small], pred[small], None, k=2, task="binary",
                              resamples=300, seed=1)["accuracy"].estimate  # fmt: skip
    overall = bootstrap_metrics(["accuracy"], y, pred, None, k=2, task="binary", resamples=300,
                                seed=1)["accuracy"].estimate  # fmt: skip
    naive = (alone.high - alone.low) + (overall.high - overall.low)  # type: ignore[operator]
    assert acc.high - acc.low < naive


def test_slice_gaps_of_an_undefined_metric_say_why() -> None:
    y, pred, score = _binary(500, 4)
    one_class = y == 1
    (auc,) = bootstrap_slice_gaps(["roc_auc"], y, pred, score, [one_class], k=2, task="binary",
                                  resamples=50)[0]  # fmt: skip
    assert auc.value is None and "class" in auc.reason
