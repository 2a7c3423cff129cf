"""Live evidence: the challenger and the champion on the same served traffic, and what it
decides (``promote``, ``rollback`` or ``wait``).

:func:`compare` is the observe step's one call. The full comparison
(``loopml.health.live_comparison.compare_live``: bootstrap intervals of any metric, request
clustering, shadow pairing, confidence sequences valid at every look) is being built beside
this package; when it lands, the body of :func:`compare` becomes that call. Until then it
reads the prediction log itself, with plain intervals:

- the rows each side answered, from the challenger's first row on (event time): the
  challenger's on its route (``canary`` or ``shadow``), the champion's on ``champion``; a
  fallback row counts against the version whose failure it answered for (its reason names it);
- labels joined by the caller's row id, else the prediction id;
- the metric on labeled rows (``accuracy`` for classifiers, ``rmse`` or ``mae``), the
  difference challenger - champion as a gain (sign flipped where lower is better) with a 95%
  normal interval; error and fallback rates with Wilson intervals.

The rules are those of ``compare_live``: a rate whose whole interval lies above its bound,
or a gain whose whole interval lies below ``-metric_drop``, rolls back; with at least
``min_labeled`` labeled challenger rows (and ``min_duration`` of traffic), a gain whose lower
end is above ``-margin`` promotes; anything else waits, saying what for.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from loopml.core.jsonable import Jsonable

if TYPE_CHECKING:
    import pandas as pd

    from loopml.automation.policy import LoopPolicy
    from loopml.store.backend import Backend

Z95 = 1.959963984540054
#: Metrics where lower is better.
LOWER_IS_BETTER = ("rmse", "mae")


@dataclass(frozen=True)
class LiveEvidence(Jsonable):
    """What the live comparison decided, and on what.

    Attributes:
        verdict: ``promote``, ``rollback`` or ``wait``.
        reason: Why, in one sentence (for ``wait``: what is missing).
        evidence: The figures: each side's rows, labeled rows, metric and rates with their
            intervals, the difference, the limits applied.
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
    same traffic (from the challenger's first logged row on, in event time), and decide by
    the policy's promote and rollback limits. The one call to swap for ``compare_live`` when
    it lands (see the module docstring)."""
    return _from_log(backend, policy, challenger=challenger, champion=champion)


@dataclass(frozen=True)
class _Side:
    rows: int
    labeled: int
    metric: float | None
    spread: float | None  # standard error of the metric
    errors: int
    fallbacks: int
    first_at: int | None
    last_at: int | None


def _from_log(
    backend: Backend, policy: LoopPolicy, *, challenger: int, champion: int
) -> LiveEvidence:
    from loopml.registry import ModelRegistry

    version = ModelRegistry(backend).get(f"{policy.model}@{challenger}")
    regression = not version.signature.output.task.is_classification
    metric = policy.promote.metric or ("rmse" if regression else "accuracy")
    route = policy.release.mode
    frame = _traffic(backend, policy.model)
    new = _side(frame, policy.model, route, challenger, metric)
    if new.first_at is not None:  # the same traffic: from the challenger's first row on
        frame = frame[frame["at_ms"] >= new.first_at]
    sides = {
        "challenger": new,
        "champion": _side(frame, policy.model, "champion", champion, metric),
    }
    return _decide(
        policy, metric, route=route, challenger=challenger, champion=champion, sides=sides
    )


def _traffic(backend: Backend, model: str) -> pd.DataFrame:
    import orjson
    import pandas as pd

    from loopml.store.logs import read_log

    settings = backend.settings
    table = read_log(
        settings.logs_url,
        model=model,
        spool_dirs=(settings.home / "spool",),
        routes=("champion", "canary", "shadow", "fallback"),
        features=[],
    )
    columns = ["route", "version", "error", "prediction_id", "caller_id", "event_at"]
    frame: pd.DataFrame = table.select(
        [*columns, *(["out"] if "out" in table.column_names else [])]
    ).to_pandas()
    if "out" not in frame:
        frame["out"] = None
    labels = backend.labels.get_labels(model).to_pandas()
    found = dict(zip(labels["row_id"], labels["label_json"], strict=True))
    keys = frame["caller_id"].where(frame["caller_id"].isin(set(found)), frame["prediction_id"])
    frame["label"] = [orjson.loads(found[k]) if k in found else None for k in keys]
    frame["at_ms"] = pd.to_datetime(frame["event_at"], utc=True).astype("int64") // 1_000_000
    return frame


def _side(frame: pd.DataFrame, model: str, route: str, version: int, metric: str) -> _Side:
    import numpy as np

    answered = frame[(frame["route"] == route) & (frame["version"] == version)]
    reasons = frame.loc[frame["route"] == "fallback", "error"].fillna("")
    fell = reasons[reasons.str.startswith(f"{model}@{version} ")]
    errors = int(fell.str.contains(r" failed| deadline", regex=True).sum())
    labeled = answered[answered["label"].notna()]
    value: float | None = None
    spread: float | None = None
    if len(labeled):
        if metric == "accuracy":
            hits = np.array(
                [_same(o, y) for o, y in zip(labeled["out"], labeled["label"], strict=True)]
            )
            value = float(hits.mean())
            spread = math.sqrt(max(value * (1 - value), 1e-12) / len(hits))
        else:
            diff = (
                labeled["out"].astype(float).to_numpy() - labeled["label"].astype(float).to_numpy()
            )
            if metric == "mae":
                value = float(np.abs(diff).mean())
                spread = (
                    float(np.abs(diff).std(ddof=1) / math.sqrt(len(diff)))
                    if len(diff) > 1
                    else None
                )
            else:
                squared = diff**2
                value = float(math.sqrt(squared.mean()))
                if len(diff) > 1 and value > 0:  # delta method: se(sqrt(m)) = se(m) / (2 sqrt(m))
                    spread = float(squared.std(ddof=1) / math.sqrt(len(diff)) / (2 * value))
    times = answered["at_ms"]
    return _Side(
        rows=len(answered) + len(fell),
        labeled=len(labeled),
        metric=value,
        spread=spread,
        errors=errors,
        fallbacks=len(fell),
        first_at=int(times.min()) if len(times) else None,
        last_at=int(times.max()) if len(times) else None,
    )


def _same(out: Any, label: Any) -> bool:
    numbers = (int, float)
    if isinstance(out, numbers) and isinstance(label, numbers) and not isinstance(out, bool):
        return float(out) == float(label) and not isinstance(label, bool)
    return bool(out == label) if type(out) is type(label) else str(out) == str(label)


def wilson(count: int, total: int) -> tuple[float, float, float]:
    """A rate with its 95% Wilson interval: ``(value, low, high)``; NaN without rows."""
    if total == 0:
        return (math.nan, math.nan, math.nan)
    p = count / total
    denominator = 1 + Z95**2 / total
    centre = (p + Z95**2 / (2 * total)) / denominator
    half = Z95 * math.sqrt(p * (1 - p) / total + Z95**2 / (4 * total**2)) / denominator
    return (p, max(0.0, centre - half), min(1.0, centre + half))


def _decide(
    policy: LoopPolicy,
    metric: str,
    *,
    route: str,
    challenger: int,
    champion: int,
    sides: Mapping[str, _Side],
) -> LiveEvidence:
    new, old = sides["challenger"], sides["champion"]
    name = f"{policy.model}@{challenger} ({route})"
    limits = {
        "min_labeled": policy.promote.min_labeled,
        "min_duration_ms": policy.promote.min_duration_ms,
        "margin": policy.promote.margin,
        "metric_drop": policy.rollback.metric_drop,
        "max_error_rate": policy.rollback.max_error_rate,
        "max_fallback_rate": policy.rollback.max_fallback_rate,
        "max_guardrail_rate": policy.rollback.max_guardrail_rate,
    }
    rates = {
        "error_rate": (wilson(new.errors, new.rows), policy.rollback.max_error_rate),
        "fallback_rate": (wilson(new.fallbacks, new.rows), policy.rollback.max_fallback_rate),
    }
    gain = _gain(metric, new, old)
    evidence: dict[str, Any] = {
        "metric": metric,
        "route": route,
        "challenger": {"version": f"{policy.model}@{challenger}", **_figures(new)},
        "champion": {"version": f"{policy.model}@{champion}", **_figures(old)},
        "gain": None if gain is None else {"value": gain[0], "low": gain[1], "high": gain[2]},
        "rates": {
            k: {"value": v[0], "low": v[1], "high": v[2], "max": bound}
            for k, (v, bound) in rates.items()
        },
        "limits": limits,
        "method": "prediction log, 95% normal interval of the gain, Wilson intervals of rates",
        "notes": ["the guardrail rate is checked once loopml.health.compare_live is used"]
        if policy.rollback.max_guardrail_rate is not None
        else [],
    }
    for rate, ((value, low, _high), bound) in rates.items():
        if bound is not None and new.rows and low > bound:
            return LiveEvidence(
                "rollback",
                f"Roll back {name}: its {rate.replace('_', ' ')} {value:.1%} (interval from "
                f"{low:.1%}) is above the bound {bound:.1%} on {new.rows:,} rows.",
                evidence,
            )
    if gain is not None and gain[2] < -policy.rollback.metric_drop:
        return LiveEvidence(
            "rollback",
            f"Roll back {name}: {metric} {_signed(gain[0])} [{_signed(gain[1])}, "
            f"{_signed(gain[2])}] versus the champion {policy.model}@{champion} on "
            f"{new.labeled:,} and {old.labeled:,} labeled rows: worse by more than "
            f"{policy.rollback.metric_drop:g}.",
            evidence,
        )
    missing = []
    if new.labeled < policy.promote.min_labeled:
        missing.append(f"{new.labeled:,} of {policy.promote.min_labeled:,} labeled rows on {route}")
    span = (
        (new.last_at - new.first_at) if new.first_at is not None and new.last_at is not None else 0
    )
    wanted = policy.promote.min_duration_ms
    if wanted is not None and span < wanted:
        missing.append(
            f"{span / 3_600_000:.1f} h of {wanted / 3_600_000:.1f} h of traffic on {route}"
        )
    if old.labeled == 0:
        missing.append(f"no labeled rows of the champion {policy.model}@{champion} yet")
    if not missing and gain is not None and gain[1] > -policy.promote.margin:
        return LiveEvidence(
            "promote",
            f"Promote {name}: {metric} {_signed(gain[0])} [{_signed(gain[1])}, "
            f"{_signed(gain[2])}] versus the champion {policy.model}@{champion} on "
            f"{new.labeled:,} and {old.labeled:,} labeled rows.",
            evidence,
        )
    if not missing and gain is not None:
        missing.append(
            f"a {metric} gain whose interval clears -{policy.promote.margin:g} (now "
            f"{_signed(gain[0])} [{_signed(gain[1])}, {_signed(gain[2])}])"
        )
    evidence["missing"] = missing
    return LiveEvidence("wait", f"Wait on {name}: " + "; ".join(missing) + ".", evidence)


def _gain(metric: str, new: _Side, old: _Side) -> tuple[float, float, float] | None:
    if new.metric is None or old.metric is None or new.spread is None or old.spread is None:
        return None
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    value = sign * (new.metric - old.metric)
    half = Z95 * math.sqrt(new.spread**2 + old.spread**2)
    return (value, value - half, value + half)


def _figures(side: _Side) -> dict[str, Any]:
    return {
        "rows": side.rows,
        "labeled": side.labeled,
        "metric": side.metric,
        "errors": side.errors,
        "fallbacks": side.fallbacks,
        "first_at": side.first_at,
        "last_at": side.last_at,
    }


def _signed(value: float) -> str:
    return f"{value:+.4f}"
