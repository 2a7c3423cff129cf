"""Metric kernels against scikit-learn on real data: unweighted, 1-D weights, 2-D weights."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from loopml.core.errors import InvalidArgumentError
from loopml.stats.metrics import (
    METRICS,
    MetricUndefined,
    compute,
    confusion_matrix,
    default_metrics,
)


def _classification(loader: Any) -> dict[str, Any]:
    x, y = loader(return_X_y=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=2000)).fit(x, y)
    score = model.predict_proba(x)
    return {"y": y.astype(np.int64), "pred": score.argmax(1), "score": score, "k": score.shape[1]}


@pytest.fixture(scope="module")
def binary() -> dict[str, Any]:
    return _classification(load_breast_cancer)


@pytest.fixture(scope="module")
def multiclass() -> dict[str, Any]:
    return _classification(load_iris)


@pytest.fixture(scope="module")
def regression() -> dict[str, Any]:
    x, y = load_diabetes(return_X_y=True)
    return {"y": y, "pred": Ridge(alpha=1.0).fit(x, y).predict(x), "score": None, "k": None}


def _sk_class(name: str, d: dict[str, Any], w: Any) -> float:
    y, pred, score, k = d["y"], d["pred"], d["score"], d["k"]
    labels = list(range(k))
    avg: Any = "binary" if k == 2 else "macro"
    kw: dict[str, Any] = {"sample_weight": w}
    if name == "accuracy":
        return skm.accuracy_score(y, pred, **kw)
    if name == "balanced_accuracy":
        return skm.balanced_accuracy_score(y, pred, **kw)
    if name in ("precision", "recall", "f1"):
        fn = {"precision": skm.precision_score, "recall": skm.recall_score, "f1": skm.f1_score}
        return fn[name](y, pred, average=avg, zero_division=0, **kw)
    if name == "roc_auc":
        s = score[:, 1] if k == 2 else score
        return skm.roc_auc_score(y, s, multi_class="ovr", average="macro", **kw)
    if name == "pr_auc":
        return skm.average_precision_score(
            y, score[:, 1] if k == 2 else score, average="macro", **kw
        )
    if name == "log_loss":
        return skm.log_loss(y, score, labels=labels, **kw)
    if name == "brier":
        return (
            skm.brier_score_loss(y, score[:, 1], **kw)
            if k == 2
            else skm.brier_score_loss(y, score, labels=labels, **kw)
        )
    if name == "ece":
        return _ece_reference(y, score, np.ones(len(y)) if w is None else w)
    raise AssertionError(name)


def _ece_reference(y: Any, score: Any, w: Any) -> float:
    conf = score[:, 1] if score.shape[1] == 2 else score.max(1)
    outcome = (y == 1) if score.shape[1] == 2 else (score.argmax(1) == y)
    total = 0.0
    for b in range(10):
        lo, hi = b / 10, (b + 1) / 10
        mask = (conf >= lo) & ((conf < hi) if b < 9 else (conf <= hi))
        if mask.any():
            total += abs(np.sum(w[mask] * (outcome[mask] - conf[mask])))
    return total / np.sum(w)


def _sk_reg(name: str, d: dict[str, Any], w: Any) -> float:
    y, pred = d["y"], d["pred"]
    if name == "mae":
        return skm.mean_absolute_error(y, pred, sample_weight=w)
    if name == "rmse":
        return skm.root_mean_squared_error(y, pred, sample_weight=w)
    if name == "r2":
        return skm.r2_score(y, pred, sample_weight=w)
    if name == "mape":
        return skm.mean_absolute_percentage_error(y, pred, sample_weight=w)
    q = int(name.removeprefix("error_q")) / 100
    return float(np.quantile(np.abs(y - pred), q, method="inverted_cdf", weights=w))


CASES = [("binary", m) for m in default_metrics("binary")]
CASES += [("multiclass", m) for m in default_metrics("multiclass")]
CASES += [("regression", m) for m in default_metrics("regression")]


@pytest.mark.parametrize(("task", "name"), CASES)
def test_metric_equals_sklearn_unweighted_weighted_and_2d(
    task: str, name: str, request: Any
) -> None:
    d = request.getfixturevalue(task)
    sk = _sk_reg if task == "regression" else _sk_class
    args = (d["y"], d["pred"], d["score"])
    assert compute(name, *args, k=d["k"]) == pytest.approx(sk(name, d, None), rel=1e-9, abs=1e-12)
    rng = np.random.default_rng(1)
    w2 = rng.uniform(0.1, 3.0, size=(4, len(d["y"])))
    w2[3] = rng.poisson(1.0, len(d["y"])).astype(float)
    batch = compute(name, *args, k=d["k"], w=w2)
    assert isinstance(batch, np.ndarray) and batch.shape == (4,)
    for row in range(4):
        if row < 3 or name not in ("roc_auc", "pr_auc"):  # sklearn keeps 0-weight rows in ties
            expected = sk(name, d, w2[row])
            assert compute(name, *args, k=d["k"], w=w2[row]) == pytest.approx(
                expected, rel=1e-9, abs=1e-12
            )
        assert batch[row] == pytest.approx(
            compute(name, *args, k=d["k"], w=w2[row]), rel=1e-12, abs=1e-14
        )


def test_auc_with_ties_and_zero_weights_equals_sklearn() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    p1 = np.round(rng.random(300) * 0.5 + 0.4 * y, 1)  # many ties
    score = np.stack([1 - p1, p1], 1)
    w = rng.poisson(1.0, 300).astype(float)
    for name, sk in (("roc_auc", skm.roc_auc_score), ("pr_auc", skm.average_precision_score)):
        assert compute(name, y, p1 > 0.5, score, k=2) == pytest.approx(sk(y, p1))
        keep = w > 0
        got = compute(name, y, (p1 > 0.5).astype(int), score, k=2, w=w)
        assert got == pytest.approx(sk(y[keep], p1[keep], sample_weight=w[keep]))


def test_confusion_matrix_weighted(multiclass: dict[str, Any]) -> None:
    y, pred = multiclass["y"], multiclass["pred"]
    w = np.random.default_rng(0).random(len(y))
    expected = skm.confusion_matrix(y, pred, labels=[0, 1, 2], sample_weight=w)
    np.testing.assert_allclose(confusion_matrix(y, pred, 3, w), expected)
    both = confusion_matrix(y, pred, 3, np.stack([w, np.ones(len(y))]))
    np.testing.assert_allclose(both[1], skm.confusion_matrix(y, pred))


def test_mape_skips_zero_labels() -> None:
    y = np.array([0.0, 2.0, 4.0, 0.0])
    pred = np.array([1.0, 1.0, 5.0, 3.0])
    assert compute("mape", y, pred, None) == pytest.approx(0.375)
    with pytest.raises(MetricUndefined, match="every label is 0"):
        compute("mape", np.zeros(3), pred[:3], None)


UNDEFINED = [
    (
        "roc_auc",
        [1, 1, 1],
        [[0.2, 0.8], [0.4, 0.6], [0.9, 0.1]],
        "roc_auc needs both classes; the labels hold only class 1",
    ),
    (
        "pr_auc",
        [0, 0, 0],
        [[0.2, 0.8], [0.4, 0.6], [0.9, 0.1]],
        "pr_auc needs at least one row of class 1",
    ),
    ("precision", [0, 1, 1], None, "no row is predicted positive"),
    ("log_loss", [0, 1, 1], None, "log_loss needs class probabilities"),
    ("brier", [0, 1, 1], None, "brier needs class probabilities"),
]


@pytest.mark.parametrize(("name", "y", "score", "match"), UNDEFINED)
def test_undefined_raises_with_reason(name: str, y: list[int], score: Any, match: str) -> None:
    with pytest.raises(MetricUndefined, match=match):
        compute(name, np.array(y), np.zeros(3, dtype=int), score, k=2)


def test_undefined_in_2d_is_nan_and_recall_r2() -> None:
    y = np.array([0, 1, 0, 1])
    score = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    w = np.array([[1.0, 1, 1, 1], [1, 0, 1, 0]])  # second resample has no class 1
    got = compute("roc_auc", y, score.argmax(1), score, k=2, w=w)
    assert got[0] == 1.0 and np.isnan(got[1])
    with pytest.raises(MetricUndefined, match="recall is undefined"):
        compute("recall", np.zeros(4, dtype=int), y, None, k=2)
    with pytest.raises(MetricUndefined, match="r2 is undefined"):
        compute("r2", np.ones(4), np.arange(4.0), None)
    with pytest.raises(MetricUndefined, match="one-vs-rest"):
        compute("roc_auc", np.array([0, 1, 1]), np.array([0, 1, 1]), np.full((3, 3), 1 / 3), k=3)


def test_invalid_inputs_name_the_parameter() -> None:
    y = np.array([0, 1, 1])
    with pytest.raises(
        InvalidArgumentError,
        match=r"'score' parameter of roc_auc must have shape \(n, k\).*Got \(3,\) instead",
    ):
        compute("roc_auc", y, y, np.array([0.1, 0.2, 0.3]), k=2)
    with pytest.raises(InvalidArgumentError, match="Did you mean 'accuracy'"):
        compute("acuracy", y, y, None, k=2)
    with pytest.raises(InvalidArgumentError, match=r"class indices in \[0, 2\). Got 2"):
        compute("accuracy", np.array([0, 2, 1]), y, None, k=2)
    with pytest.raises(InvalidArgumentError, match="'k' parameter of accuracy"):
        compute("accuracy", y, y, None)
    with pytest.raises(InvalidArgumentError, match="'w' parameter of accuracy"):
        compute("accuracy", y, y, None, k=2, w=np.ones(4))
    with pytest.raises(InvalidArgumentError, match="non-negative"):
        compute("accuracy", y, y, None, k=2, w=-np.ones(3))


def test_registry_metadata() -> None:
    assert set(default_metrics("binary")) <= set(METRICS)
    assert METRICS["log_loss"].needs_score and not METRICS["log_loss"].higher_is_better
    assert METRICS["roc_auc"].tasks == {"binary", "multiclass"}
    with pytest.raises(InvalidArgumentError, match="'task' parameter"):
        default_metrics("binnary")


def test_ranking_with_ties_2d_equals_rows_and_many_classes_use_sparse_cells() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 9, 400)
    raw = np.round(rng.random((400, 9)) + 0.6 * np.eye(9)[y], 1)  # many tied scores
    score = raw / raw.sum(axis=1, keepdims=True)
    pred = score.argmax(axis=1)
    w = rng.poisson(1.0, (3, 400)).astype(float)
    for name in default_metrics("multiclass"):  # 81 confusion cells: the sparse path
        batch = compute(name, y, pred, score, k=9, w=w)
        for row in range(3):
            single = compute(name, y, pred, score, k=9, w=w[row])
            assert batch[row] == pytest.approx(single, rel=1e-12, abs=1e-14)
    expected = skm.f1_score(y, pred, average="macro", zero_division=0, sample_weight=w[0])
    assert compute("f1", y, pred, score, k=9, w=w[0]) == pytest.approx(expected, rel=1e-9)
    p1 = np.round(score[:, 1], 1)
    binary = np.stack([1 - p1, p1], 1)
    y1 = (y == 1).astype(np.int64)
    keep = w[1] > 0
    for name, sk in (("roc_auc", skm.roc_auc_score), ("pr_auc", skm.average_precision_score)):
        got = compute(name, y1, (p1 > 0.5).astype(int), binary, k=2, w=w)
        assert got[1] == pytest.approx(sk(y1[keep], p1[keep], sample_weight=w[1][keep]))
