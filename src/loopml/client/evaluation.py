"""``loopml.evaluate`` and ``loopml.gate``: evaluate a model version, gate its release, and
write the report.

Example:
    >>> ev = loopml.evaluate(
    ...     "credit-default@7",
    ...     datasets=["credit-holdout@2", "credit-recent@1"],
    ...     slices=["region", {"column": "income", "bins": 4}],
    ...     baseline="champion",
    ...     sensitive=["sex"],
    ... )  # doctest: +SKIP
    >>> decision = loopml.gate("credit-default@7", "gate.yaml", evaluation=ev)  # doctest: +SKIP
    >>> loopml.evaluation_report(ev, "report.html", decision=decision)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from loopml.client.fluent import _get_client
from loopml.core.entities import DatasetVersion, Evaluation, EvaluationRecord, GateDecision


def evaluate(
    model: str,
    *,
    datasets: Sequence[str | DatasetVersion],
    slices: Sequence[Any] | None = None,
    baseline: str | None = "champion",
    sensitive: Sequence[str] = (),
    metrics: Sequence[str] | None = None,
    custom_metrics: Mapping[str, Callable[[Any, Any, Any], float]] | None = None,
    task: str | None = None,
    target: str | None = None,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    worst_slices: int = 5,
    min_support: int = 100,
    costs: bool = True,
    explain: bool = True,
) -> Evaluation:
    """Evaluate a model version on several dataset versions and store the result.

    For each dataset: every metric of the task (or ``metrics``) with a bootstrap interval
    (``resamples`` Poisson resamples, percentile interval at ``confidence``); against the
    baseline (default: the model's ``champion``, skipped with a note when there is none) the
    paired difference with its interval; each declared slice with its support; the worst
    slices found by a search over the input columns (support >= ``min_support``, ranked by the
    gap of the primary metric); fairness over the ``sensitive`` columns; plot data. Then the
    model's costs (latency p50/p99 on 1 and 1,000 rows, peak memory, package size).

    Args:
        model: ``name@version`` or ``name@alias``.
        datasets: Dataset versions with the target column (``credit-holdout@2``).
        slices: Slice specs: a column name, a pair of columns, ``{"column": c, "bins": [...]
            or n}``, or ``{"name": ..., "where": "<pandas expression>"}``.
        baseline: An alias of the same model (``champion``), a ``name@version``, or None.
        sensitive: Columns to measure fairness over (binary classifiers).
        metrics: Metric names (default: all of the task's); ``auc`` means ``roc_auc``.
        custom_metrics: Extra metrics ``{name: fn(y_true, y_pred, y_score) -> float}``
            (labels, predicted labels, probabilities of the positive class or the matrix).
        task: ``binary``, ``multiclass`` or ``regression`` (default: from the signature).
        target: The label column (default: the dataset's declared target).
        resamples: Bootstrap resamples (0: no intervals).
        confidence: Interval level.
        seed: Seed of the resamples (the same seed gives the same intervals).
        worst_slices: How many worst slices to report (0: no search).
        min_support: Smallest slice the search reports.
        costs: Measure latency and memory.
        explain: When the version has no recorded feature importance yet, record one on
            the first dataset (permutation importance on 500 rows, 3 shuffles; SHAP too for
            tree and linear models where it applies): see :func:`loopml.models.explain`.

    Returns:
        The stored :class:`~loopml.core.entities.Evaluation`; metrics that are undefined on
        the data carry ``value=None`` and the reason.
    """
    return _get_client().evaluations.evaluate(
        model,
        datasets=datasets,
        slices=slices,
        baseline=baseline,
        sensitive=sensitive,
        metrics=metrics,
        custom_metrics=custom_metrics,
        task=task,
        target=target,
        resamples=resamples,
        confidence=confidence,
        seed=seed,
        worst_slices=worst_slices,
        min_support=min_support,
        costs=costs,
        explain=explain,
    )


def gate(
    model: str,
    policy: Any,
    *,
    evaluation: Evaluation | str | None = None,
    **evaluate_args: Any,
) -> GateDecision:
    """Check a release-gate policy (a YAML path, a dict, or a GatePolicy) on an evaluation of
    ``model`` (the one given, or a new one run with ``evaluate_args``), and record the
    decision as a ``gate.passed`` / ``gate.failed`` event on the version.

    Returns:
        The decision: ``decision.passed``, and each check with its observed value, threshold
        and reason. It does not raise on failure: raise
        :class:`~loopml.core.errors.GateFailedError` yourself, or use ``loopml gate`` (which
        exits non-zero).
    """
    return _get_client().evaluations.gate(model, policy, evaluation=evaluation, **evaluate_args)


def evaluation_report(
    evaluation: Evaluation | str, path: str | Path, *, decision: GateDecision | None = None
) -> Path:
    """Write an evaluation's self-contained HTML report (and the same data as JSON beside it)."""
    return _get_client().evaluations.report(evaluation, path, decision=decision)


def get_evaluation(evaluation_id: str) -> Evaluation:
    """Return a stored evaluation."""
    return _get_client().evaluations.get(evaluation_id)


def list_evaluations(model: str) -> list[EvaluationRecord]:
    """Return the evaluations of a model (``name``) or a version (``name@3``), newest first."""
    return _get_client().evaluations.list(model)
