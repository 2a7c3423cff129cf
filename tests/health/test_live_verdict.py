"""The verdict rules on traffic built in memory (``compare_sides``): a regressor's rmse (lower
is better) judged in the right direction, the minimum duration, a rate bound not yet shown,
the floor of requests before an interval counts, and the limits checked."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from loopml.core.entities import LiveComparison
from loopml.core.errors import InvalidArgumentError
from loopml.health.live_comparison import compare_sides
from loopml.health.live_traffic import Side, Traffic
from loopml.health.live_verdict import LivePolicy, check_policy, multiplier

HOUR_MS = 3_600_000


def _regression_side(
    route: str, version: int, noise: float, rng: np.random.Generator, *, requests: int = 400
) -> Side:
    """A regressor's labeled rows, 5 per request, over 48 hours of event time."""
    y = rng.normal(size=requests * 5)
    return Side(
        route,
        version,
        rows=y.size,
        requests=requests,
        y=y,
        pred=y + rng.normal(scale=noise, size=y.size),
        groups=np.repeat(np.arange(requests), 5),
        first_ms=0,
        last_ms=48 * HOUR_MS,
    )


def _compare(challenger: Side, champion: Side, **limits: Any) -> LiveComparison:
    traffic = Traffic(challenger, champion, paired=False, since_ms=0, until_ms=None)
    policy = check_policy(**{"min_labeled": 1_000, **limits})
    return compare_sides(
        traffic, model="price", metric="rmse", task="regression", k=None, policy=policy
    )


def test_lower_is_better_metrics_are_judged_the_right_way() -> None:
    rng = np.random.default_rng(0)
    champion = _regression_side("champion", 1, 1.0, rng)
    better = _compare(_regression_side("canary", 2, 0.5, rng), champion)
    assert better.verdict == "promote" and not better.higher_is_better
    assert better.difference.high < 0
    assert "rmse difference -0." in better.reason and "wholly below 0 (margin)" in better.reason
    worse = _compare(_regression_side("canary", 2, 2.0, rng), champion)
    assert worse.verdict == "rollback"
    assert "rmse of price@2 (canary) is above price@1 (champion)" in worse.reason
    assert "wholly above +0.0100 (rollback_drop)" in worse.reason


def test_duration_and_rate_bounds_must_be_shown() -> None:
    rng = np.random.default_rng(1)
    champion = _regression_side("champion", 1, 1.0, rng)
    challenger = _regression_side("canary", 2, 0.5, rng)
    waiting = _compare(challenger, champion, min_duration="3d")
    assert waiting.verdict == "wait"
    assert waiting.missing == ("48.0 h of 72.0 h of traffic on canary",)
    assert _compare(challenger, champion, min_duration="2d").verdict == "promote"
    challenger.errors = challenger.fallbacks = 4  # 1% of its requests: not yet shown <= 1.5%
    bounded = _compare(challenger, champion, max_error_rate=0.015)
    assert bounded.verdict == "wait"
    assert "error rate of price@2 (canary) 1.0% [" in bounded.reason
    assert "not yet shown at most 1.5%" in bounded.reason
    assert _compare(challenger, champion, max_error_rate=0.2).verdict == "promote"


def test_a_handful_of_requests_decides_nothing() -> None:
    rng = np.random.default_rng(2)
    champion = _regression_side("champion", 1, 1.0, rng, requests=20)
    worse = _regression_side("canary", 2, 5.0, rng, requests=20)
    found = _compare(worse, champion, min_labeled=50)
    assert found.verdict == "wait"
    assert "labeled rows from at least 30 requests on each route" in found.reason


def test_the_sequential_multiplier() -> None:
    fixed = multiplier(1_000, LivePolicy(sequential=False))
    assert fixed == pytest.approx(1.959964)
    at_horizon = multiplier(1_000, LivePolicy(min_labeled=1_000))
    assert 2.9 < at_horizon < 3.1  # about 1.5 times the fixed width where it is tightest
    assert multiplier(50, LivePolicy()) > at_horizon < multiplier(100_000, LivePolicy())


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"min_labeled": 0}, r"'min_labeled' parameter must be an int >= 1\. Got 0"),
        ({"margin": -0.1}, r"'margin' parameter must be a number in \[0, inf\)\. Got -0\.1"),
        ({"rollback_drop": "x"}, r"'rollback_drop' parameter must be a number"),
        ({"max_fallback_rate": 1.5}, r"'max_fallback_rate' parameter must be a number in \[0, 1\]"),
        ({"rate_margin": float("nan")}, r"'rate_margin' parameter must be a number"),
        ({"alpha": 0.5}, r"'alpha' parameter must be a float in \(0, 0\.5\)"),
        ({"min_duration": "a while"}, r"'min_duration' parameter must be a duration"),
        ({"sequential": "yes"}, r"'sequential' parameter must be True or False"),
    ],
)
def test_limits_are_checked(limits: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        check_policy(**limits)


def test_a_multiclass_score_metric_reads_every_class_probability() -> None:
    rng = np.random.default_rng(4)

    def side(route: str, version: int, sharpness: float) -> Side:
        y = rng.integers(0, 3, 3_000)
        logits = rng.normal(size=(3_000, 3)) + sharpness * np.eye(3)[y]
        score = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        return Side(
            route, version, rows=3_000, requests=600, y=y, pred=score.argmax(axis=1),
            score=score, groups=np.repeat(np.arange(600), 5), first_ms=0, last_ms=0,
        )  # fmt: skip

    traffic = Traffic(side("canary", 2, 3.0), side("champion", 1, 1.0), False, 0, None)
    found = compare_sides(
        traffic, model="kind", metric="log_loss", task="multiclass", k=3,
        policy=LivePolicy(min_labeled=1_000),
    )  # fmt: skip
    assert found.verdict == "promote" and not found.higher_is_better
    assert found.challenger.metric.value < found.champion.metric.value
