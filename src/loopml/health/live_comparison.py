"""Champion vs challenger on the same live traffic: :func:`compare_live`, the evidence the
automation agent promotes or rolls back on (``loopml.monitoring.compare_live``, ``loopml
monitor compare``).

The traffic is read by :mod:`loopml.health.live_traffic` (both routes from the challenger's
first row on, labels joined by row id, fallbacks counted against the route they were meant
for), measured here with the evaluation's kernels (:mod:`loopml.stats`: a Poisson bootstrap of
the metric, paired for a shadow and unpaired for a canary; Wilson and Newcombe intervals of
the rates), and judged by :mod:`loopml.health.live_verdict`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopml.core.clock import now_ms
from loopml.core.entities import LiveComparison, MetricDelta, MetricValue, RouteFigures, TaskKind
from loopml.core.entities.loop import RATES
from loopml.core.errors import InvalidArgumentError, did_you_mean
from loopml.health.live_traffic import Side, Target, Traffic, iso_ms, read_traffic
from loopml.health.live_verdict import LivePolicy, check_policy, decide, level, multiplier

if TYPE_CHECKING:
    from loopml.core.entities import ModelVersion
    from loopml.store.backend import Backend

#: The routes a challenger can take, and those a champion can.
CHALLENGER_ROUTES = ("canary", "shadow")
CHAMPION_ROUTES = ("champion", "canary")
#: Bootstrap resamples of the metric's intervals.
RESAMPLES = 1000
_RATE_COUNTS = {
    "error_rate": "errors",
    "fallback_rate": "fallbacks",
    "guardrail_rate": "guardrails",
}


def compare_live(
    backend: Backend,
    model: str,
    *,
    challenger_route: str = "canary",
    champion_route: str = "champion",
    metric: str | None = None,
    since: Any = None,
    until: Any = None,
    min_labeled: int = LivePolicy.min_labeled,
    min_duration: Any = None,
    margin: float = 0.0,
    rollback_drop: float = LivePolicy.rollback_drop,
    max_error_rate: float | None = None,
    max_fallback_rate: float | None = None,
    max_guardrail_rate: float | None = None,
    rate_margin: float = LivePolicy.rate_margin,
    alpha: float = 0.05,
    sequential: bool = True,
    challenger_version: int | None = None,
    champion_version: int | None = None,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> LiveComparison:
    """Compare the challenger's live traffic with the champion's; see
    :func:`loopml.monitoring.compare_live` for the arguments."""
    from loopml.health.windows import utc_ms
    from loopml.registry import ModelRegistry
    from loopml.registry.refs import parse_model_ref

    ref = parse_model_ref(model)
    if ref.version is not None or ref.alias is not None:
        raise InvalidArgumentError(
            f"compare_live takes the model's name ({ref.name!r}), not {model!r}: it compares "
            "the versions its routes serve. To choose them, pass challenger_version= and "
            "champion_version=."
        )
    _route("challenger_route", challenger_route, CHALLENGER_ROUTES)
    _route("champion_route", champion_route, CHAMPION_ROUTES)
    if challenger_route == champion_route:
        raise InvalidArgumentError(
            f"challenger_route and champion_route are both {challenger_route!r}: compare two "
            "routes (e.g. challenger_route='canary', champion_route='champion')."
        )
    policy = check_policy(
        min_labeled=min_labeled,
        min_duration=min_duration,
        margin=margin,
        rollback_drop=rollback_drop,
        max_error_rate=max_error_rate,
        max_fallback_rate=max_fallback_rate,
        max_guardrail_rate=max_guardrail_rate,
        rate_margin=rate_margin,
        alpha=alpha,
        sequential=sequential,
    )
    bounded = [f"max_{r}" for r in RATES if policy.bound(r) is not None]
    if challenger_route == "shadow" and bounded:
        raise InvalidArgumentError(
            f"{bounded[0]}= cannot apply to a shadow: its failures are not logged (its answers "
            "are never served). Bound the rates of a canary, or drop the bound."
        )
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 100:
        raise InvalidArgumentError(
            f"The 'resamples' parameter must be an int >= 100 (bootstrap resamples of the "
            f"metric's interval). Got {resamples!r} instead."
        )
    registry = ModelRegistry(backend)
    versions = {v.version: v for v in registry.versions(ref.name)}
    for label, chosen in (("challenger", challenger_version), ("champion", champion_version)):
        if chosen is not None and chosen not in versions:
            raise InvalidArgumentError(
                f"{label}_version={chosen!r} is not a version of {ref.name!r}; its versions are "
                f"{sorted(versions)}."
            )
    since_ms, until_ms = utc_ms(since, "since"), utc_ms(until, "until")
    if since_ms is not None and until_ms is not None and since_ms >= until_ms:
        raise InvalidArgumentError(
            f"since= ({iso_ms(since_ms)}) must be before until= ({iso_ms(until_ms)})."
        )
    newest = versions[max(versions)]
    target, task, k = _target(versions.get(challenger_version or -1) or newest)
    name = _metric_name(metric, task, ref.name)
    traffic = read_traffic(
        backend,
        ref.name,
        challenger_route=challenger_route,
        champion_route=champion_route,
        challenger_version=challenger_version,
        champion_version=champion_version,
        target=target,
        since=since_ms,
        until=until_ms,
    )
    nothing = traffic.challenger.version is None and traffic.champion.version is None
    chosen = challenger_version is not None or champion_version is not None
    if nothing and since_ms is None and until_ms is None and not chosen:
        raise InvalidArgumentError(
            f"No predictions of {ref.name!r} on routes {champion_route!r} or "
            f"{challenger_route!r} are in the prediction log: serve it (loopml serve "
            f"{ref.name}@champion --canary {ref.name}@challenger:10) or log predictions "
            "(loopml.monitoring.log_predictions) before comparing."
        )
    if traffic.challenger.version is not None and traffic.challenger.version in versions:
        target, task, k = _target(versions[traffic.challenger.version])
    return compare_sides(
        traffic,
        model=ref.name,
        metric=name,
        task=task,
        k=k,
        policy=policy,
        resamples=resamples,
        seed=seed,
        created_at=now_ms(),
    )


def _route(parameter: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise InvalidArgumentError(
            f"Unknown {parameter} {value!r}; it must be one of {list(allowed)}."
            + did_you_mean(str(value), allowed)
        )


def _target(version: ModelVersion) -> tuple[Target, str, int | None]:
    """What the model predicts: its classes (or a regressor), the task and k."""
    output = version.signature.output
    if output.task is TaskKind.REGRESSION:
        return Target((), True), "regression", None
    if output.task in (TaskKind.BINARY, TaskKind.MULTICLASS):
        classes = tuple(output.classes)
        return Target(classes, False), output.task.value, len(classes)
    raise InvalidArgumentError(
        f"{version.ref} predicts {output.dtype} ({output.task.value}): a live comparison needs "
        "a classifier or a regressor."
    )


def _metric_name(metric: str | None, task: str, model: str) -> str:
    from loopml.stats.metrics import METRICS, get_metric

    if metric is None:
        return "rmse" if task == "regression" else "accuracy"
    if not isinstance(metric, str) or metric not in METRICS:
        raise InvalidArgumentError(
            f"Unknown metric {metric!r}; the metrics are {', '.join(METRICS)}."
            + did_you_mean(str(metric), list(METRICS))
        )
    spec = get_metric(metric)
    if task not in spec.tasks:
        raise InvalidArgumentError(
            f"The metric {metric!r} does not apply to {model!r}, a {task} model; it is for "
            f"{', '.join(sorted(spec.tasks))}."
        )
    return metric


def compare_sides(
    traffic: Traffic,
    *,
    model: str,
    metric: str,
    task: str,
    k: int | None,
    policy: LivePolicy,
    resamples: int = RESAMPLES,
    seed: int = 0,
    created_at: int = 0,
) -> LiveComparison:
    """Measure both sides of ``traffic`` and decide (no store: benchmarks call it directly)."""
    from loopml.stats.metrics import get_metric

    ch, champ = traffic.challenger, traffic.champion
    own, diff = _metric_figures(
        traffic, metric=metric, task=task, k=k, policy=policy, resamples=resamples, seed=seed
    )
    rate_figures, rate_diffs = _rate_figures(ch, champ, policy)
    figures = [
        RouteFigures(
            route=side.route,
            version=None if side.version is None else f"{model}@{side.version}",
            rows=side.rows,
            requests=side.requests,
            labeled=side.labeled,
            labeled_requests=side.labeled_groups,
            first_at=iso_ms(side.first_ms),
            last_at=iso_ms(side.last_ms),
            metric=own[i],
            **rate_figures[i],
        )
        for i, side in enumerate((ch, champ))
    ]
    duration = None
    if ch.first_ms is not None and ch.last_ms is not None:
        duration = (ch.last_ms - ch.first_ms) / 1000
    higher = get_metric(metric).higher_is_better
    verdict, reason, checks, missing = decide(
        figures[0],
        figures[1],
        diff,
        rate_diffs,
        higher_is_better=higher,
        policy=policy,
        duration_s=duration,
    )
    ends = [s.last_ms for s in (ch, champ) if s.last_ms is not None]
    return LiveComparison(
        model=model,
        metric=metric,
        higher_is_better=higher,
        challenger=figures[0],
        champion=figures[1],
        difference=diff,
        rate_differences=tuple(rate_diffs[r] for r in RATES),
        paired=traffic.paired,
        verdict=verdict,
        reason=reason,
        checks=checks,
        missing=missing,
        since=iso_ms(traffic.since_ms),
        until=iso_ms(max(ends)) if ends else iso_ms(traffic.until_ms),
        duration_s=duration,
        policy={**policy.to_dict(), "resamples": resamples, "seed": seed},
        created_at=created_at,
        notes=tuple(traffic.notes),
    )


def _metric_figures(
    traffic: Traffic,
    *,
    metric: str,
    task: str,
    k: int | None,
    policy: LivePolicy,
    resamples: int,
    seed: int,
) -> tuple[list[MetricValue], MetricDelta]:
    """Each side's metric with its bootstrap interval, and the difference challenger -
    champion with the interval the verdict reads (widened when sequential)."""
    from loopml.stats.bootstrap import bootstrap_metrics
    from loopml.stats.unpaired import bootstrap_unpaired

    ch, champ = traffic.challenger, traffic.champion
    confidence = 1 - policy.alpha
    if ch.labeled and champ.labeled:
        if traffic.paired:
            result = bootstrap_metrics(
                [metric], ch.y, ch.pred, ch.score, k=k, task=task, resamples=resamples,
                confidence=confidence, seed=seed, baseline=(champ.pred, champ.score),
                groups=ch.groups,
            )  # fmt: skip
        else:
            result = bootstrap_unpaired(
                [metric], (ch.y, ch.pred, ch.score), (champ.y, champ.pred, champ.score),
                k=k, task=task, resamples=resamples, confidence=confidence, seed=seed,
                groups=(ch.groups, champ.groups),
            )  # fmt: skip
        found = result[metric]
        assert found.baseline is not None and found.difference is not None
        own = [_value(metric, found.estimate), _value(metric, found.baseline)]
        return own, _decision_interval(
            metric, own, found.difference, ch=ch, champ=champ, policy=policy
        )
    own = []
    for side in (ch, champ):
        if not side.labeled:
            why = f"no labeled rows on {side.route} yet"
            own.append(MetricValue(metric, None, reason=why))
            continue
        single = bootstrap_metrics(
            [metric], side.y, side.pred, side.score, k=k, task=task, resamples=resamples,
            confidence=confidence, seed=seed, groups=side.groups,
        )  # fmt: skip
        own.append(_value(metric, single[metric].estimate))
    empty = [s.route for s in (ch, champ) if not s.labeled]
    reason = f"no labeled rows on {' and '.join(empty)} yet"
    return own, MetricDelta(metric, own[0].value, own[1].value, None, reason=reason)


def _value(name: str, est: Any) -> MetricValue:
    return MetricValue(name, est.value, est.low, est.high, est.reason)


def _decision_interval(
    name: str,
    own: list[MetricValue],
    diff: Any,
    *,
    ch: Side,
    champ: Side,
    policy: LivePolicy,
) -> MetricDelta:
    """The difference with the bootstrap's percentile interval (fixed), or its standard
    error times the confidence sequence's multiplier (sequential)."""
    low, high = diff.low, diff.high
    if diff.value is not None and low is not None and high is not None and policy.sequential:
        fixed = multiplier(0, LivePolicy(alpha=policy.alpha, sequential=False))
        units = min(ch.labeled_groups, champ.labeled_groups)
        horizon = policy.min_labeled * units / max(min(ch.labeled, champ.labeled), 1)
        half = (high - low) / 2 / fixed * multiplier(units, policy, horizon=horizon)
        low, high = diff.value - half, diff.value + half
    reason = diff.reason if diff.value is None else ""
    return MetricDelta(name, own[0].value, own[1].value, diff.value, low, high, reason)


def _rate_figures(
    ch: Side, champ: Side, policy: LivePolicy
) -> tuple[list[dict[str, MetricValue]], dict[str, MetricDelta]]:
    """Each side's rates with Wilson intervals, and challenger - champion with Newcombe's, at
    the level the verdict reads."""
    from loopml.stats.proportions import newcombe, wilson

    sides: list[dict[str, MetricValue]] = [{}, {}]
    diffs: dict[str, MetricDelta] = {}
    # the confidence sequence is tightest when min_labeled rows have come, in requests
    horizon = policy.min_labeled * ch.requests / max(ch.rows, 1)
    for rate, attr in _RATE_COUNTS.items():
        for i, side in enumerate((ch, champ)):
            if side.rates_reason or side.requests == 0:
                why = side.rates_reason or f"no requests on {side.route}"
                sides[i][rate] = MetricValue(rate, None, reason=why)
                continue
            count = int(getattr(side, attr))
            confidence = level(side.requests, policy, horizon=horizon)
            low, high = wilson(count, side.requests, confidence=confidence)
            sides[i][rate] = MetricValue(rate, count / side.requests, low, high)
        mine, theirs = sides[0][rate], sides[1][rate]
        if mine.value is None or theirs.value is None:
            why = mine.reason or theirs.reason
            diffs[rate] = MetricDelta(rate, mine.value, theirs.value, None, reason=why)
            continue
        counts = (int(getattr(ch, attr)), ch.requests, int(getattr(champ, attr)), champ.requests)
        units = min(ch.requests, champ.requests)
        low, high = newcombe(*counts, confidence=level(units, policy, horizon=horizon))
        diffs[rate] = MetricDelta(
            rate, mine.value, theirs.value, mine.value - theirs.value, low, high
        )
    return sides, diffs
