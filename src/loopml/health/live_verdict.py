"""The rules that turn live evidence into ``promote``, ``rollback`` or ``wait``.

- **evidence**: at least ``min_labeled`` labeled challenger rows and, when set,
  ``min_duration`` of traffic (event time from its first row to its last).
- **metric**: the difference challenger - champion, as a gain (sign flipped for metrics
  where lower is better). ``fail`` when the whole interval is below ``-rollback_drop``,
  ``pass`` when its lower end is above ``-margin``, else ``pending``. While either side's
  labeled rows come from fewer than :data:`MIN_INTERVAL_REQUESTS` requests it is ``pending``
  (a bootstrap over a handful of requests gives an interval that is far too narrow).
- **rates** (error, fallback, guardrail): ``fail`` when the challenger's Wilson interval lies
  wholly above its bound (``max_error_rate``, ...), or when the Newcombe interval of its rate
  minus the champion's lies wholly above ``rate_margin``; ``pending`` when a bound is set and
  the interval still reaches above it; else ``pass``.

Any ``fail`` rolls back; ``promote`` needs every check to pass; anything else waits, and the
verdict says what for.

**Looking often.** The agent asks again and again as labels arrive. A fixed 95% interval
checked at every look would, over 30 looks, wrongly roll back an equal challenger several
times in a hundred. With ``sequential=True`` (the default) every interval is widened to an
asymptotic confidence sequence (Waudby-Smith, Arnold, Wu and Ramdas, "Time-uniform central
limit theory and asymptotic confidence sequences", 2024): it covers the truth at every look
at once with probability ``1 - alpha``, tightest near ``min_labeled`` rows, at the cost of
being about 1.5 times wider there. Rates use Wilson and Newcombe at the level matching that
width; the metric uses its bootstrap standard error (half the 95% interval's width over
1.96) times the same multiplier.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from scipy import special

from loopml.core.entities import LiveCheck, MetricDelta, RouteFigures
from loopml.core.entities.loop import RATES, Verdict
from loopml.core.errors import InvalidArgumentError

#: Requests with labeled rows, per side, below which the metric's interval is not acted on.
MIN_INTERVAL_REQUESTS = 30
#: Default labeled challenger rows before a promotion.
DEFAULT_MIN_LABELED = 1000
#: Default drop of the metric (whole interval below it) that rolls back.
DEFAULT_ROLLBACK_DROP = 0.01
#: Default excess of a challenger's rate over the champion's (whole interval) that rolls back.
DEFAULT_RATE_MARGIN = 0.01


@dataclass(frozen=True)
class LivePolicy:
    """The limits of a live comparison (checked by :func:`check_policy`).

    Attributes:
        min_labeled: Labeled challenger rows needed before a promotion.
        min_duration_s: Seconds of traffic (event time) needed before a promotion, or None.
        margin: How far below the champion the challenger may be and still be promoted
            (0: it must be shown better).
        rollback_drop: How far below the champion the whole interval must be to roll back.
        max_error_rate: Bound of the challenger's error rate, or None.
        max_fallback_rate: Bound of its fallback rate, or None.
        max_guardrail_rate: Bound of its guardrail rate, or None.
        rate_margin: How far above the champion's a rate's whole interval must be to roll
            back.
        alpha: 1 - the confidence level of every interval.
        sequential: Intervals valid however often the comparison is repeated.
    """

    min_labeled: int = DEFAULT_MIN_LABELED
    min_duration_s: float | None = None
    margin: float = 0.0
    rollback_drop: float = DEFAULT_ROLLBACK_DROP
    max_error_rate: float | None = None
    max_fallback_rate: float | None = None
    max_guardrail_rate: float | None = None
    rate_margin: float = DEFAULT_RATE_MARGIN
    alpha: float = 0.05
    sequential: bool = True

    def to_dict(self) -> dict[str, Any]:
        """The limits, JSON-ready."""
        return asdict(self)

    def bound(self, rate: str) -> float | None:
        """The bound of ``rate`` (``error_rate``, ...), or None."""
        found: float | None = getattr(self, f"max_{rate}")
        return found


def check_policy(**limits: Any) -> LivePolicy:
    """The limits as a :class:`LivePolicy`, each checked.

    Raises:
        InvalidArgumentError: A limit of the wrong type or out of range (named, with the rule).
    """
    from loopml.health.alerts import parse_duration

    duration = limits.pop("min_duration", None)
    seconds = None
    if duration is not None:
        if hasattr(duration, "total_seconds"):
            duration = duration.total_seconds()
        try:
            seconds = parse_duration(duration, "min_duration") / 1000
        except InvalidArgumentError:
            raise InvalidArgumentError(
                f"The 'min_duration' parameter must be a duration such as 90s, 30min, 6h, 1d "
                f"or 1w (or seconds as a number >= 0). Got {duration!r} instead."
            ) from None
    policy = LivePolicy(min_duration_s=seconds, **limits)
    count = policy.min_labeled
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise InvalidArgumentError(
            f"The 'min_labeled' parameter must be an int >= 1. Got {count!r} instead."
        )
    _number("margin", policy.margin, 0, math.inf)
    _number("rollback_drop", policy.rollback_drop, 0, math.inf)
    _number("rate_margin", policy.rate_margin, 0, 1)
    for rate in RATES:
        value = policy.bound(rate)
        if value is not None:
            _number(f"max_{rate}", value, 0, 1)
    alpha = policy.alpha
    if isinstance(alpha, bool) or not isinstance(alpha, float | int) or not 0 < alpha < 0.5:
        raise InvalidArgumentError(
            f"The 'alpha' parameter must be a float in (0, 0.5), e.g. 0.05 for 95% intervals. "
            f"Got {alpha!r} instead."
        )
    if not isinstance(policy.sequential, bool):
        raise InvalidArgumentError(
            f"The 'sequential' parameter must be True or False. Got {policy.sequential!r}."
        )
    return policy


def _number(name: str, value: object, low: float, high: float) -> None:
    ok = isinstance(value, float | int) and not isinstance(value, bool)
    if not ok or not low <= float(value) <= high or math.isnan(float(value)):  # type: ignore[arg-type]
        where = f"[{low:g}, {high:g}]" if math.isfinite(high) else f"[{low:g}, inf)"
        raise InvalidArgumentError(
            f"The {name!r} parameter must be a number in {where}. Got {value!r} instead."
        )


def multiplier(units: int, policy: LivePolicy, *, horizon: float | None = None) -> float:
    """How many standard errors each side of an interval spans, after ``units`` independent
    units (requests): the normal quantile for a fixed interval, the confidence sequence's
    (see the module docstring) for a sequential one, tightest at ``horizon`` units (default
    ``min_labeled``; pass it in requests when ``min_labeled`` rows come as fewer requests)."""
    z = float(special.ndtri(1 - policy.alpha / 2))  # norm.ppf without scipy.stats' import
    if not policy.sequential:
        return z
    log_alpha = -2 * math.log(policy.alpha)
    target = max(horizon if horizon is not None else policy.min_labeled, 1.0)
    rho2 = (log_alpha + math.log(log_alpha + 1)) / target
    x = max(units, 1) * rho2
    return max(z, math.sqrt(2 * (x + 1) / x * math.log(math.sqrt(x + 1) / policy.alpha)))


def level(units: int, policy: LivePolicy, *, horizon: float | None = None) -> float:
    """The confidence level whose normal quantile is :func:`multiplier` (for the analytic
    intervals of rates), short of 1 (a few units call for an interval of nearly [0, 1])."""
    return min(float(1 - 2 * special.ndtr(-multiplier(units, policy, horizon=horizon))), 1 - 1e-12)


def decide(
    challenger: RouteFigures,
    champion: RouteFigures,
    difference: MetricDelta,
    rate_differences: Mapping[str, MetricDelta],
    *,
    higher_is_better: bool,
    policy: LivePolicy,
    duration_s: float | None,
) -> tuple[Verdict, str, tuple[LiveCheck, ...], tuple[str, ...]]:
    """The verdict, its reason, every check and (for ``wait``) what is missing."""
    who = f"{challenger.version or 'no version'} ({challenger.route})"
    checks = [
        _evidence(challenger, policy, duration_s),
        _metric(challenger, champion, difference, higher_is_better, policy),
    ]
    checks += [_rate(rate, challenger, champion, rate_differences[rate], policy) for rate in RATES]
    failed = [c.detail for c in checks if c.status == "fail"]
    missing = tuple(c.detail for c in checks if c.status == "pending")
    if failed:
        return "rollback", f"Roll back {who}: " + "; ".join(failed), tuple(checks), ()
    if not missing:
        metric = checks[1].detail
        return "promote", f"Promote {who}: {metric}", tuple(checks), ()
    on = f" on {who}" if challenger.version else f" on {challenger.route}"
    return "wait", f"Wait{on}: " + "; ".join(missing), tuple(checks), missing


def _evidence(ch: RouteFigures, policy: LivePolicy, duration_s: float | None) -> LiveCheck:
    parts, short = [], []
    if ch.labeled < policy.min_labeled:
        short.append(f"{ch.labeled:,} of {policy.min_labeled:,} labeled rows on {ch.route}")
    else:
        parts.append(f"{ch.labeled:,} labeled rows on {ch.route} (at least {policy.min_labeled:,})")
    if policy.min_duration_s is not None:
        have, need = duration_s or 0.0, policy.min_duration_s
        if have < need:
            short.append(f"{_hours(have)} of {_hours(need)} of traffic on {ch.route}")
        else:
            parts.append(f"{_hours(have)} of traffic (at least {_hours(need)})")
    if short:
        return LiveCheck("evidence", "pending", "; ".join(short))
    return LiveCheck("evidence", "pass", "; ".join(parts))


def _hours(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _metric(
    ch: RouteFigures,
    champ: RouteFigures,
    diff: MetricDelta,
    higher_is_better: bool,
    policy: LivePolicy,
) -> LiveCheck:
    name = diff.name
    if diff.diff is None or diff.low is None or diff.high is None:
        why = diff.reason or "not computable"
        return LiveCheck("metric", "pending", f"{name} difference: {why}")
    if min(ch.labeled_requests, champ.labeled_requests) < MIN_INTERVAL_REQUESTS:
        return LiveCheck(
            "metric",
            "pending",
            f"{name}: labeled rows from at least {MIN_INTERVAL_REQUESTS} requests on each "
            f"route before its interval counts ({ch.route} {ch.labeled_requests:,}, "
            f"{champ.route} {champ.labeled_requests:,})",
        )
    shown = f"{name} difference {diff.diff:+.4f} [{diff.low:+.4f}, {diff.high:+.4f}]"
    worse, better = ("below", "above") if higher_is_better else ("above", "below")
    gain_low, gain_high = (diff.low, diff.high) if higher_is_better else (-diff.high, -diff.low)
    sign = -1 if higher_is_better else 1
    if gain_high < -policy.rollback_drop:
        return LiveCheck(
            "metric",
            "fail",
            f"{name} of {ch.version} ({ch.route}) is {worse} {champ.version} ({champ.route}): "
            f"{shown}, wholly {worse} {_signed(sign * policy.rollback_drop)} (rollback_drop)",
        )
    limit = f"{_signed(sign * policy.margin)} (margin)"
    if gain_low > -policy.margin:
        return LiveCheck(
            "metric",
            "pass",
            f"{shown} ({ch.route} - {champ.route}, {ch.labeled:,} and {champ.labeled:,} "
            f"labeled rows), wholly {better} {limit}",
        )
    return LiveCheck("metric", "pending", f"{shown}: not yet wholly {better} {limit}")


def _rate(
    rate: str,
    ch: RouteFigures,
    champ: RouteFigures,
    diff: MetricDelta,
    policy: LivePolicy,
) -> LiveCheck:
    mine: Any = getattr(ch, rate)
    theirs: Any = getattr(champ, rate)
    words = rate.replace("_", " ")
    bound = policy.bound(rate)
    if mine.value is None:
        if bound is None:
            return LiveCheck(rate, "pass", f"{words} not measured: {mine.reason}")
        return LiveCheck(rate, "pending", f"{words} not measured ({mine.reason})")
    interval = f"[{_pct(mine.low)}, {_pct(mine.high)}]"
    shown = f"{words} of {ch.version} ({ch.route}) {_pct(mine.value)} {interval}"
    if bound is not None and mine.low > bound:
        return LiveCheck(rate, "fail", f"{shown}, wholly above {_pct(bound)} (max_{rate})")
    if diff.low is not None and diff.low > policy.rate_margin:
        return LiveCheck(
            rate,
            "fail",
            f"{shown} vs {_pct(theirs.value)} on {champ.version} ({champ.route}): difference "
            f"[{_pct(diff.low, True)}, {_pct(diff.high, True)}] wholly above "
            f"{_pct(policy.rate_margin, True)} (rate_margin)",
        )
    if bound is not None and mine.high > bound:
        return LiveCheck(rate, "pending", f"{shown}: not yet shown at most {_pct(bound)}")
    champion = "" if theirs.value is None else f"; {champ.route} {_pct(theirs.value)}"
    return LiveCheck(rate, "pass", f"{shown}{champion}")


def _signed(value: float) -> str:
    return "0" if value == 0 else f"{value:+.4f}"


def _pct(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.1%}" if signed else f"{value:.1%}"
