"""Evaluation metrics by name: the :data:`METRICS` registry, :func:`compute` and the conventions.

Inputs (callers convert their data to these):

* classification: ``y`` int class indices 0..k-1, shape (n,); ``pred`` int class indices (n,);
  ``score`` class probabilities (n, k) or None (binary: k=2, column 1 is the positive class);
* regression: ``y`` and ``pred`` floats (n,), ``score`` None;
* weights ``w``: None (all ones), a float array (n,) (scikit-learn's ``sample_weight``), or a
  matrix (B, n) of bootstrap weights. 1-D weights and None give a float; 2-D weights give an
  array (B,).

A metric that has no value on the data raises :class:`MetricUndefined` in the scalar case; in
the 2-D case the undefined resamples are NaN. Adding a metric is one kernel function (see
:mod:`loopml.stats._metric_inputs`) and one :class:`MetricSpec` in :data:`METRICS`.

Example:
    >>> import numpy as np
    >>> y = np.array([0, 1, 1, 0])
    >>> score = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    >>> compute("roc_auc", y, score.argmax(axis=1), score, k=2)
    0.75
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

from loopml.core.errors import InvalidArgumentError, MetricUndefined, did_you_mean
from loopml.stats import classification, ranking, regression
from loopml.stats._metric_inputs import (
    Evaluator,
    FloatArray,
    MetricInputs,
    check_inputs,
    check_weights,
    group_sums,
)

Task = Literal["binary", "multiclass", "regression"]
TASKS: tuple[Task, ...] = ("binary", "multiclass", "regression")
_CLASSIFICATION = frozenset({"binary", "multiclass"})
_REGRESSION = frozenset({"regression"})


@dataclass(frozen=True)
class MetricSpec:
    """One registered metric.

    Attributes:
        name: Registry name.
        tasks: The tasks it applies to (subset of binary, multiclass, regression).
        needs_score: Whether it reads class probabilities (undefined without them).
        higher_is_better: Direction of improvement.
        description: One line for reports and ``loopml`` help.
        kernel: ``kernel(inputs) -> evaluator``; the evaluator maps a weight matrix (B, n) to
            ``(values (B,), reason)``, NaN where undefined.
    """

    name: str
    tasks: frozenset[str]
    needs_score: bool
    higher_is_better: bool
    description: str
    kernel: Callable[[MetricInputs], Evaluator]

    @property
    def regression(self) -> bool:
        """Whether this is a regression metric (float labels)."""
        return "regression" in self.tasks

    def prepare(self, y: Any, pred: Any, score: Any, *, k: int | None) -> Evaluator:
        """Validate the inputs and return the evaluator of weight matrices (B, n).

        Raises:
            InvalidArgumentError: The arrays or ``k`` are malformed.
            MetricUndefined: The metric cannot be computed at all (no scores, all y == 0).
        """
        return self.kernel(check_inputs(self.name, y, pred, score, k, regression=self.regression))

    def __call__(
        self, y: Any, pred: Any, score: Any, *, k: int | None = None, w: Any = None
    ) -> float | FloatArray:
        """Compute the metric; see :func:`compute`."""
        inputs = check_inputs(self.name, y, pred, score, k, regression=self.regression)
        weights, two_d = check_weights(w, inputs.n, self.name)
        values, reason = self.kernel(inputs)(weights)
        if two_d:
            return values
        if np.isnan(values[0]):
            raise MetricUndefined(reason)
        return float(values[0])


def _spec(
    name: str,
    tasks: frozenset[str],
    kernel: Callable[[MetricInputs], Evaluator],
    description: str,
    *,
    needs_score: bool = False,
    higher_is_better: bool = True,
) -> tuple[str, MetricSpec]:
    return name, MetricSpec(name, tasks, needs_score, higher_is_better, description, kernel)


_C, _R = _CLASSIFICATION, _REGRESSION
METRICS: Mapping[str, MetricSpec] = MappingProxyType(
    dict(
        [
            _spec("accuracy", _C, classification.accuracy, "share of rows predicted right"),
            _spec(
                "balanced_accuracy",
                _C,
                classification.balanced_accuracy,
                "mean recall over the classes present in the labels",
            ),
            _spec("precision", _C, classification.precision, "precision (class 1; else macro)"),
            _spec("recall", _C, classification.recall, "recall (class 1; else macro)"),
            _spec("f1", _C, classification.f1, "F1 score (class 1; else macro)"),
            _spec(
                "roc_auc",
                _C,
                ranking.roc_auc,
                "area under the ROC curve (multiclass: one-vs-rest macro)",
                needs_score=True,
            ),
            _spec(
                "pr_auc",
                _C,
                ranking.pr_auc,
                "average precision (multiclass: one-vs-rest macro)",
                needs_score=True,
            ),
            _spec(
                "log_loss",
                _C,
                classification.log_loss,
                "mean negative log-likelihood of the label",
                needs_score=True,
                higher_is_better=False,
            ),
            _spec(
                "brier",
                _C,
                classification.brier,
                "mean squared error of the probabilities",
                needs_score=True,
                higher_is_better=False,
            ),
            _spec(
                "ece",
                _C,
                classification.ece,
                "expected calibration error, 10 equal-width bins",
                needs_score=True,
                higher_is_better=False,
            ),
            _spec("mae", _R, regression.mae, "mean absolute error", higher_is_better=False),
            _spec("rmse", _R, regression.rmse, "root mean squared error", higher_is_better=False),
            _spec("r2", _R, regression.r2, "coefficient of determination"),
            _spec(
                "mape",
                _R,
                regression.mape,
                "mean absolute percentage error (rows with y == 0 skipped)",
                higher_is_better=False,
            ),
            *(
                _spec(
                    f"error_q{round(q * 100)}",
                    _R,
                    regression.error_quantile(q),
                    f"{round(q * 100)}th percentile of |y - pred|",
                    higher_is_better=False,
                )
                for q in (0.5, 0.9, 0.99)
            ),
        ]
    )
)

_DEFAULTS: dict[str, tuple[str, ...]] = {
    "binary": (
        "accuracy",
        "balanced_accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "pr_auc",
        "log_loss",
        "brier",
        "ece",
    ),
    "multiclass": (
        "accuracy",
        "balanced_accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "pr_auc",
        "log_loss",
        "brier",
        "ece",
    ),
    "regression": ("mae", "rmse", "r2", "mape", "error_q50", "error_q90", "error_q99"),
}


def check_task(task: object) -> Task:
    """Return ``task`` if it is a known task, else raise InvalidArgumentError."""
    if task not in TASKS:
        raise InvalidArgumentError(
            f"The 'task' parameter must be one of {', '.join(TASKS)}. Got {task!r} instead."
            + did_you_mean(str(task), TASKS)
        )
    known: Task = task
    return known


def get_metric(name: str) -> MetricSpec:
    """Return the registered metric ``name``.

    Raises:
        InvalidArgumentError: No metric has that name (with the closest name suggested).
    """
    try:
        return METRICS[name]
    except (KeyError, TypeError):
        raise InvalidArgumentError(
            f"Unknown metric {name!r}. Choose one of: {', '.join(METRICS)}."
            + did_you_mean(str(name), METRICS)
        ) from None


def default_metrics(task: str) -> tuple[str, ...]:
    """The metrics an evaluation computes when none are named.

    Args:
        task: ``binary``, ``multiclass`` or ``regression``.

    Returns:
        Metric names; the score-based ones are undefined (not an error) for models without
        probabilities.
    """
    return _DEFAULTS[check_task(task)]


def compute(
    name: str, y: Any, pred: Any, score: Any, *, k: int | None = None, w: Any = None
) -> float | FloatArray:
    """Compute metric ``name``.

    Args:
        name: A key of :data:`METRICS`.
        y: True labels (class indices, or floats for regression), shape (n,).
        pred: Predicted class indices (or floats), shape (n,).
        score: Class probabilities (n, k), or None.
        k: Number of classes (classification; ignored for regression).
        w: None, sample weights (n,) or bootstrap weights (B, n).

    Returns:
        A float for ``w`` None or 1-D; an array (B,) for 2-D ``w``, NaN where undefined.

    Raises:
        InvalidArgumentError: Unknown name or malformed inputs.
        MetricUndefined: The metric has no value on these data (scalar case).
    """
    return get_metric(name)(y, pred, score, k=k, w=w)


def confusion_matrix(y: Any, pred: Any, k: int, w: Any = None) -> FloatArray:
    """Weighted confusion counts: ``C[true, predicted]`` (k, k), or (B, k, k) for 2-D ``w``.

    Args:
        y: True class indices (n,).
        pred: Predicted class indices (n,).
        k: Number of classes.
        w: None, sample weights (n,) or bootstrap weights (B, n).

    Returns:
        The counts (floats, sums of weights), as scikit-learn's ``confusion_matrix`` with
        ``labels=range(k)``.
    """
    inputs = check_inputs("confusion_matrix", y, pred, None, k, regression=False)
    weights, two_d = check_weights(w, inputs.n, "confusion_matrix")
    counts = group_sums(weights, inputs.y * inputs.k + inputs.pred, inputs.k**2)
    out: FloatArray = counts.reshape(-1, inputs.k, inputs.k)
    return out if two_d else out[0]
