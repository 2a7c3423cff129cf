"""Live evidence: the challenger and the champion on the same served traffic, and what it
decides (``promote``, ``rollback`` or ``wait``).

:func:`compare` is the observe step's one call. It is
:func:`loopml.health.live_comparison.compare_live` (``loopml.monitoring.compare_live``) with
the policy's limits:

========================== ==========================================================
policy field               ``compare_live`` argument
========================== ==========================================================
``release.mode``           ``challenger_route`` (``canary`` or ``shadow``; the champion
                           is always on route ``champion``)
``promote.min_labeled``    ``min_labeled``
``promote.min_duration``   ``min_duration`` (event time from the challenger's first row
                           to its last)
``promote.metric``         ``metric`` (default ``accuracy``, ``rmse`` for a regressor)
``promote.margin``         ``margin``
``rollback.metric_drop``   ``rollback_drop``
``rollback.max_*_rate``    ``max_error_rate``, ``max_fallback_rate``,
                           ``max_guardrail_rate``
``rollback.rate_margin``   ``rate_margin``
========================== ==========================================================

The versions compared are the run's (``challenger_version``, ``champion_version``), so an
older canary or a champion moved meanwhile never enters the comparison. Its guarantees are
``compare_live``'s: the metric's interval from a Poisson bootstrap that resamples whole
requests (paired for a shadow), rates with Wilson and Newcombe intervals, and every interval
a confidence sequence, valid however often the agent looks. ``promote.timeout`` is the
observe step's own (wall clock since the release, see
:func:`loopml.automation.live_steps.observe_step`).

The result is kept as a :class:`LiveEvidence`: the verdict, its reason and the figures
(:func:`evidence`), stored in the ``loop.evidence`` event and the run's state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from loopml.core.jsonable import Jsonable

if TYPE_CHECKING:
    from loopml.automation.policy import LoopPolicy
    from loopml.core.entities import LiveComparison, MetricDelta, RouteFigures
    from loopml.store.backend import Backend

#: The champion's route in every comparison the agent makes.
CHAMPION_ROUTE = "champion"
_COUNTS = {"error_rate": "errors", "fallback_rate": "fallbacks", "guardrail_rate": "guardrails"}


@dataclass(frozen=True)
class LiveEvidence(Jsonable):
    """What the live comparison decided, and on what.

    Attributes:
        verdict: ``promote``, ``rollback`` or ``wait``.
        reason: Why, in one sentence (for ``wait``: what is missing).
        evidence: The figures (see :func:`evidence`): each side's rows, requests, labeled
            rows, metric and rates with their intervals, the difference as a gain, every
            check, the limits applied and what was left out.
    """

    verdict: Literal["promote", "rollback", "wait"]
    reason: str
    evidence: Mapping[str, Any] = field(default_factory=dict)


def compare(
    backend: Backend,
    policy: LoopPolicy,
    *,
    challenger: int,
    champion: int,
) -> LiveEvidence:
    """Compare ``challenger`` with ``champion`` (version numbers of the policy's model) on the
    same traffic with ``compare_live``, under the policy's promote and rollback limits (see
    the module docstring).

    Raises:
        InvalidArgumentError: A limit ``compare_live`` refuses (the policy's checks on load
            make this rare: a metric that does not fit the model's task).
    """
    from loopml.health.live_comparison import compare_live

    promote, rollback = policy.promote, policy.rollback
    found = compare_live(
        backend,
        policy.model,
        challenger_route=policy.release.mode,
        champion_route=CHAMPION_ROUTE,
        metric=promote.metric,
        min_labeled=promote.min_labeled,
        min_duration=None if promote.min_duration_ms is None else promote.min_duration_ms / 1000,
        margin=promote.margin,
        rollback_drop=rollback.metric_drop,
        max_error_rate=rollback.max_error_rate,
        max_fallback_rate=rollback.max_fallback_rate,
        max_guardrail_rate=rollback.max_guardrail_rate,
        rate_margin=rollback.rate_margin,
        challenger_version=challenger,
        champion_version=champion,
    )
    extra = {"timeout_ms": promote.timeout_ms}
    return LiveEvidence(found.verdict, found.reason, evidence(found, limits=extra))


def evidence(found: LiveComparison, *, limits: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The figures of a comparison, as the agent records them (JSON-ready).

    Args:
        found: What ``compare_live`` returned.
        limits: Limits of the agent's own to record beside ``compare_live``'s.

    Returns:
        ``metric``, ``higher_is_better``, ``route``, ``paired``; ``challenger`` and
        ``champion`` (version, route, rows, requests, labeled rows and requests, first and
        last event time, the metric with its interval, error, fallback and guardrail
        counts); ``difference`` (challenger - champion in the metric's units) and ``gain``
        (the same, sign flipped where lower is better), each with the interval the verdict
        read; ``rates`` (per rate: the challenger's value and interval, its bound, its
        difference to the champion's); ``checks``; ``missing``; ``limits``; ``since``,
        ``until``, ``duration_s``; ``notes``; ``method``.
    """
    policy = dict(found.policy)
    diff = found.difference
    sign = 1.0 if found.higher_is_better else -1.0
    gain = None
    if diff.diff is not None and diff.low is not None and diff.high is not None:
        ends = sorted((sign * diff.low, sign * diff.high))
        gain = {"value": sign * diff.diff, "low": ends[0], "high": ends[1]}
    level = f"{1 - float(policy.get('alpha', 0.05)):.0%}"
    kind = "confidence sequence" if policy.get("sequential", True) else "interval"
    return {
        "metric": found.metric,
        "higher_is_better": found.higher_is_better,
        "route": found.challenger.route,
        "paired": found.paired,
        "challenger": _figures(found.challenger),
        "champion": _figures(found.champion),
        "difference": _delta(diff),
        "gain": gain,
        "rates": {
            rate.name: {
                "value": rate.candidate,
                "low": getattr(found.challenger, rate.name).low,
                "high": getattr(found.challenger, rate.name).high,
                "max": policy.get(f"max_{rate.name}"),
                "difference": _delta(rate),
            }
            for rate in found.rate_differences
        },
        "checks": [c.to_dict() for c in found.checks],
        "missing": list(found.missing),
        "limits": {**policy, **(limits or {})},
        "since": found.since,
        "until": found.until,
        "duration_s": found.duration_s,
        "notes": list(found.notes),
        "level": f"{level} {kind}",
        "method": (
            "loopml.health.compare_live: "
            + ("paired" if found.paired else "unpaired")
            + f" Poisson bootstrap of {found.metric} over requests, Wilson and Newcombe "
            f"intervals of the rates, {level} {kind}s"
        ),
    }


def _figures(side: RouteFigures) -> dict[str, Any]:
    counts = {}
    for rate, name in _COUNTS.items():
        value = getattr(side, rate).value
        counts[name] = None if value is None else round(value * side.requests)
    return {
        "version": side.version,
        "route": side.route,
        "rows": side.rows,
        "requests": side.requests,
        "labeled": side.labeled,
        "labeled_requests": side.labeled_requests,
        "first_at": side.first_at,
        "last_at": side.last_at,
        "metric": side.metric.value,
        "metric_low": side.metric.low,
        "metric_high": side.metric.high,
        **counts,
    }


def _delta(delta: MetricDelta) -> dict[str, Any]:
    return {
        "value": delta.diff,
        "low": delta.low,
        "high": delta.high,
        **({"reason": delta.reason} if delta.reason else {}),
    }
