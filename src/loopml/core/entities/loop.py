"""Closed-loop entities: the live evidence that decides whether a challenger is promoted, kept
waiting or rolled back.

A :class:`LiveComparison` holds what :func:`loopml.monitoring.compare_live` measured on the
prediction log: per route a :class:`RouteFigures` (its labeled rows, the metric with its
interval, its error, fallback and guardrail rates with Wilson intervals), the difference
challenger - champion with its interval, each rule's :class:`LiveCheck` and the verdict with
its reason. It is JSON-ready as a whole, so the automation agent stores it in the event that
records its decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from loopml.core.entities.evaluation import MetricDelta, MetricValue
from loopml.core.jsonable import Jsonable

#: The verdicts of a live comparison.
Verdict = Literal["promote", "rollback", "wait"]
#: What one check says on its own: ``pass`` (allows promotion), ``fail`` (calls for a
#: rollback) or ``pending`` (not decided yet: more evidence is needed).
CheckStatus = Literal["pass", "fail", "pending"]
#: The rates compared per route, in this order.
RATES = ("error_rate", "fallback_rate", "guardrail_rate")


@dataclass(frozen=True)
class RouteFigures(Jsonable):
    """One route's share of the traffic, measured over the comparison's span.

    Attributes:
        route: ``champion``, ``canary`` or ``shadow``.
        version: The version measured (``late@3``); None when the route logged no rows.
        rows: Rows routed to it: those it answered and those the fallback answered after it
            failed (or broke a guardrail).
        requests: Requests routed to it (routing keys, when the callers send them): the
            units the route was chosen for, which its rates count.
        labeled: Rows it answered whose label arrived (the metric's rows).
        labeled_requests: The requests those labeled rows came from (the metric's interval
            resamples them, since a request's rows share their fate).
        first_at: Event time of its first row in the span (UTC, ISO 8601).
        last_at: Event time of its last row in the span.
        metric: The compared metric on its labeled rows, with its interval.
        error_rate: Share of its requests where it failed or missed its deadline (Wilson
            interval).
        fallback_rate: Share of its requests answered by the fallback instead, for any reason.
        guardrail_rate: Share of its requests a guardrail sent to the fallback.
    """

    route: str
    version: str | None
    rows: int
    requests: int
    labeled: int
    labeled_requests: int
    first_at: str | None
    last_at: str | None
    metric: MetricValue
    error_rate: MetricValue
    fallback_rate: MetricValue
    guardrail_rate: MetricValue


@dataclass(frozen=True)
class LiveCheck(Jsonable):
    """One rule of the live comparison, checked.

    Attributes:
        name: ``evidence``, ``metric``, ``error_rate``, ``fallback_rate`` or
            ``guardrail_rate``.
        status: ``pass``, ``fail`` or ``pending`` (see :data:`CheckStatus`).
        detail: What was measured against which limit, in words.
    """

    name: str
    status: CheckStatus
    detail: str


@dataclass(frozen=True)
class LiveComparison(Jsonable):
    """Champion and challenger on the same live traffic, and what that evidence decides.

    Attributes:
        model: The registered model's name.
        metric: The compared metric (``accuracy``, ``roc_auc``, ``rmse``, ...).
        higher_is_better: The metric's direction (rmse: False).
        challenger: The challenger route's figures.
        champion: The champion route's figures, over the same span.
        difference: Challenger minus champion on the metric, with its interval.
        rate_differences: Challenger minus champion per rate of :data:`RATES` (Newcombe
            intervals).
        paired: True for a shadow (both models scored the same rows: a paired difference),
            False for a canary (each answered its own rows).
        verdict: ``promote``, ``rollback`` or ``wait``.
        reason: Why, in one sentence; for ``wait``, what is still missing.
        checks: Each rule's outcome, evidence first.
        missing: For ``wait``: what the verdict waits for (``312 of 2,000 labeled rows``).
        since: Start of the span compared (the challenger's first row; UTC, ISO 8601).
        until: End of the span (the last row read).
        duration_s: Event time from the challenger's first row to its last, in seconds.
        policy: The limits applied (``min_labeled``, ``margin``, ``rollback_drop``, ...).
        created_at: When it was computed (ms since the epoch).
        notes: Remarks (rows left out and why).
    """

    model: str
    metric: str
    higher_is_better: bool
    challenger: RouteFigures
    champion: RouteFigures
    difference: MetricDelta
    rate_differences: tuple[MetricDelta, ...]
    paired: bool
    verdict: Verdict
    reason: str
    checks: tuple[LiveCheck, ...]
    missing: tuple[str, ...] = ()
    since: str | None = None
    until: str | None = None
    duration_s: float | None = None
    policy: Mapping[str, Any] = field(default_factory=dict)
    created_at: int = 0
    notes: tuple[str, ...] = ()
