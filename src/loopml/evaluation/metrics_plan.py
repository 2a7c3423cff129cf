"""Which metrics an evaluation computes, and the glue to the bootstrap kernels of
:mod:`loopml.stats`: task detection, metric names, argument checks, estimates with intervals,
and the one-pass scoring of many candidate slices for the worst-slice search."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from loopml.core.entities import MetricDelta, MetricValue, ModelVersion, TaskKind
from loopml.core.errors import InvalidArgumentError, did_you_mean
from loopml.evaluation.gate_rules import METRIC_ALIASES as ALIASES
from loopml.evaluation.gate_rules import canonical_metric as canonical
from loopml.evaluation.scoring import Scored

#: The metric listed first (slice charts and the worst-slice search rank by it).
PRIMARY = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "rmse"}
#: Candidate slices scored per pass of the worst-slice search (bounds memory).
SEARCH_CHUNK = 32


@dataclass(frozen=True)
class Plan:
    """What to compute on every set of rows of one evaluation."""

    task: str
    names: tuple[str, ...]
    k: int | None = None
    custom: Mapping[str, Callable[[Any, Any, Any], float]] = field(default_factory=dict)
    resamples: int = 1000
    confidence: float = 0.95
    seed: int = 0


def resolve_task(task: str | None, version: ModelVersion) -> str:
    """The task given, or the one the version's signature says."""
    from loopml.stats.metrics import check_task

    if task is not None:
        return check_task(task)
    detected = version.signature.output.task
    if detected is TaskKind.OTHER:
        raise InvalidArgumentError(
            f"Cannot tell the task of {version.ref} from its signature (its predictions are "
            f"{version.signature.output.dtype}); pass task='binary', 'multiclass' or "
            "'regression'."
        )
    return detected.value


def resolve_metrics(names: Sequence[str] | None, task: str) -> tuple[str, ...]:
    """The metrics to compute, primary first; unknown or wrong-task names are errors."""
    from loopml.stats.metrics import METRICS, default_metrics

    if names is None:
        chosen = list(default_metrics(task))
    else:
        chosen = []
        for raw in names:
            name = canonical(raw)
            spec = METRICS.get(name)
            if spec is None:
                raise InvalidArgumentError(
                    f"Unknown metric {raw!r}. Known metrics: {', '.join(METRICS)}."
                    + did_you_mean(raw, [*METRICS, *ALIASES])
                )
            if task not in spec.tasks:
                raise InvalidArgumentError(
                    f"The metric {raw!r} does not apply to a {task} model; it is for "
                    f"{', '.join(sorted(spec.tasks))}."
                )
            if name not in chosen:
                chosen.append(name)
    primary = PRIMARY[task]
    if primary in chosen:
        chosen.remove(primary)
        chosen.insert(0, primary)
    return tuple(chosen)


def check_custom(custom: Mapping[str, Any], names: Sequence[str]) -> None:
    """Custom metrics are callables under names that do not shadow built-in ones."""
    for name, fn in custom.items():
        if not callable(fn):
            raise InvalidArgumentError(
                f"The custom metric {name!r} must be a function fn(y_true, y_pred, y_score) -> "
                f"float. Got {type(fn).__name__} instead."
            )
        if name in names:
            raise InvalidArgumentError(
                f"The custom metric {name!r} has the name of a built-in metric; rename it."
            )


def check_counts(*, resamples: int, confidence: float, top: int) -> None:
    """Validate the bootstrap and search parameters."""
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 0:
        raise InvalidArgumentError(
            f"The 'resamples' parameter of evaluate must be an int >= 0 (0: no intervals). "
            f"Got {resamples!r} instead."
        )
    if not isinstance(confidence, float | int) or not 0 < confidence < 1:
        raise InvalidArgumentError(
            f"The 'confidence' parameter of evaluate must be a float in (0, 1), e.g. 0.95. "
            f"Got {confidence!r} instead."
        )
    if isinstance(top, bool) or not isinstance(top, int) or top < 0:
        raise InvalidArgumentError(
            f"The 'worst_slices' parameter of evaluate must be an int >= 0. Got {top!r} instead."
        )


def slice_values(
    plan: Plan, *, metric: str, y: np.ndarray, scored: Scored, pieces: Sequence[Any]
) -> np.ndarray:
    """The metric on each candidate slice, computed for all candidates at once with 0/1 row
    weights (in chunks, to bound memory); NaN where undefined."""
    from loopml.stats.metrics import compute

    values = np.full(len(pieces), np.nan)
    for start in range(0, len(pieces), SEARCH_CHUNK):
        chunk = pieces[start : start + SEARCH_CHUNK]
        weights = np.stack([p.mask for p in chunk]).astype(np.float64)
        values[start : start + len(chunk)] = np.asarray(
            compute(metric, y, scored.pred, scored.score, k=plan.k, w=weights), dtype=float
        )
    return values


def _value(estimate: Any, name: str) -> MetricValue:
    return MetricValue(name, estimate.value, estimate.low, estimate.high, estimate.reason)


def estimate(
    plan: Plan, y: np.ndarray, scored: Scored, base: Scored | None
) -> tuple[list[MetricValue], list[MetricDelta]]:
    """Every metric of the plan on these rows with its interval, and (with a baseline) the
    paired difference; undefined metrics carry their reason."""
    from loopml.stats.bootstrap import bootstrap_custom, bootstrap_metrics

    result = bootstrap_metrics(
        plan.names,
        y,
        scored.pred,
        scored.score,
        k=plan.k,
        task=plan.task,
        resamples=plan.resamples,
        confidence=plan.confidence,
        seed=plan.seed,
        baseline=None if base is None else (base.pred, base.score),
    )
    values = [_value(m.estimate, m.name) for m in result.metrics]
    deltas: list[MetricDelta] = []
    if base is not None:
        for m in result.metrics:
            diff, before = m.difference, m.baseline
            reason = (diff.reason if diff is not None else "") or (
                before.reason if before is not None else ""
            )
            deltas.append(
                MetricDelta(
                    m.name,
                    m.estimate.value,
                    None if before is None else before.value,
                    None if diff is None else diff.value,
                    None if diff is None else diff.low,
                    None if diff is None else diff.high,
                    reason if diff is None or diff.value is None else "",
                )
            )
    for name, fn in plan.custom.items():
        score = _custom_score(plan, scored)
        mine = bootstrap_custom(
            fn,
            y,
            scored.pred,
            score,
            resamples=plan.resamples,
            confidence=plan.confidence,
            seed=plan.seed,
        )
        values.append(_value(mine, name))
        if base is not None:
            theirs = bootstrap_custom(
                fn, y, base.pred, _custom_score(plan, base), resamples=0, seed=plan.seed
            )
            gap = None if mine.value is None or theirs.value is None else mine.value - theirs.value
            deltas.append(
                MetricDelta(
                    name,
                    mine.value,
                    theirs.value,
                    gap,
                    reason="" if gap is not None else (mine.reason or theirs.reason),
                )
            )
    return values, deltas


def _custom_score(plan: Plan, scored: Scored) -> Any:
    """What a custom metric gets as ``y_score``: the positive class's probability for a
    binary model (as scikit-learn's metrics expect), the matrix for multiclass, else None."""
    if scored.score is None:
        return None
    return scored.score[:, 1] if plan.task == "binary" else scored.score
