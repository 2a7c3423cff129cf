"""Release-gate rules: the metric tables and one frozen dataclass per rule kind.

Each rule validates itself in ``__post_init__``, so a rule built in Python, read from a mapping
or from YAML (:func:`loopml.evaluation.policy.load_policy`) is checked by the same code. The
semantics of each rule are documented in :mod:`loopml.evaluation.gate`, which checks them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, TypeAlias

from loopml.core.errors import InvalidArgumentError, did_you_mean
from loopml.stats.metrics import METRICS

__all__ = [
    "COST_BUDGETS",
    "FAIRNESS_METRICS",
    "KNOWN_METRICS",
    "METRIC_ALIASES",
    "RULE_TYPES",
    "BaselineRule",
    "CostRule",
    "FairnessRule",
    "GateRule",
    "SliceRule",
    "ThresholdRule",
    "canonical_metric",
    "format_limit",
    "higher_is_better",
    "metric_names",
    "require_text",
]

#: Every metric a policy may name: the registry of :mod:`loopml.stats.metrics`.
KNOWN_METRICS: tuple[str, ...] = tuple(METRICS)
#: Other spellings accepted in a policy (and in ``evaluate(metrics=...)``), and what they mean.
METRIC_ALIASES: Mapping[str, str] = MappingProxyType(
    {"auc": "roc_auc", "average_precision": "pr_auc", "logloss": "log_loss"}
)
#: Fairness measures, and whether each is bounded from above (differences) or below (ratios).
FAIRNESS_METRICS: Mapping[str, Literal["max", "min"]] = MappingProxyType(
    {
        "demographic_parity_difference": "max",
        "demographic_parity_ratio": "min",
        "equalized_odds_difference": "max",
        "equalized_odds_ratio": "min",
    }
)
#: Cost budgets: key -> what it bounds (all are maxima).
COST_BUDGETS: Mapping[str, str] = MappingProxyType(
    {
        "p50_1_ms": "median latency of 1-row predictions (ms)",
        "p99_1_ms": "99th-percentile latency of 1-row predictions (ms)",
        "p50_1000_ms": "median latency of 1,000-row predictions (ms)",
        "p99_1000_ms": "99th-percentile latency of 1,000-row predictions (ms)",
        "peak_memory_mb": "peak memory while predicting 1,000 rows (MB)",
        "artifact_mb": "size of the model package (MB = 1,000,000 bytes)",
    }
)
_USES = ("value", "low", "high")
_VERSUS = ("baseline", "overall")
_SLICE_USES = ("bound", "value")
_SCOPES = ("all", "declared", "searched")


def canonical_metric(metric: str) -> str:
    """Return the registry name of a metric (``auc`` -> ``roc_auc``)."""
    return METRIC_ALIASES.get(metric, metric)


def metric_names(metric: str) -> tuple[str, ...]:
    """Return every spelling of a metric, the given one first (to look it up in results)."""
    canonical = canonical_metric(metric)
    names = [metric, canonical, *(a for a, c in METRIC_ALIASES.items() if c == canonical)]
    return tuple(dict.fromkeys(names))


def higher_is_better(metric: str) -> bool:
    """Return whether a larger value of ``metric`` is better (False for losses and errors).

    Args:
        metric: A metric name or alias; unknown names count as higher-is-better.

    Returns:
        True for ``roc_auc``, ``accuracy``, ...; False for ``log_loss``, ``rmse``, ...
    """
    spec = METRICS.get(canonical_metric(metric))
    return True if spec is None else spec.higher_is_better


def format_limit(value: float) -> str:
    """Format a number written in a policy: 4 significant digits, no trailing zeros."""
    if value == 0:
        return "0"
    text = f"{value:.4g}"
    return f"{float(text):.0f}" if "e+" in text else text


def _number(owner: str, key: str, value: object, *, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        hint = (
            f" Write it without quotes: {key}: {value}."
            if isinstance(value, str)
            else f" Write a number, e.g. {key}: 0.8."
        )
        raise InvalidArgumentError(
            f"The {key!r} of {owner} must be a number. Got {value!r} "
            f"({type(value).__name__}) instead.{hint}"
        )
    if not math.isfinite(value):
        raise InvalidArgumentError(
            f"The {key!r} of {owner} must be a finite number. Got {value!r} instead."
        )
    if minimum is not None and value < minimum:
        raise InvalidArgumentError(
            f"The {key!r} of {owner} must be >= {format_limit(minimum)}. Got {value!r} "
            f"instead. Limits on a change or a cost are sizes: write {key}: {abs(value)}."
        )
    return float(value)


def require_text(owner: str, key: str, value: object) -> str:
    """Return ``value`` if it is a non-empty string; raise InvalidArgumentError otherwise."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgumentError(
            f"The {key!r} of {owner} must be a non-empty string. Got {value!r} instead."
        )
    return value


def _metric(owner: str, value: object) -> str:
    metric = require_text(owner, "metric", value)
    known = (*KNOWN_METRICS, *METRIC_ALIASES)
    if metric not in known:
        raise InvalidArgumentError(
            f"The 'metric' of {owner} must be a known metric. Got {metric!r} instead. "
            f"Use one of: {', '.join(known)}.{did_you_mean(metric, known)}"
        )
    return metric


def _on(dataset: str | None) -> str:
    return "" if dataset is None else f" on {dataset}"


@dataclass(frozen=True)
class ThresholdRule:
    """``metric >= min`` or ``metric <= max``, on one dataset or each evaluated one.

    Attributes:
        metric: The metric (``auc``, ``log_loss``, ...).
        min: Lower limit (exactly one of ``min`` and ``max``).
        max: Upper limit.
        dataset: The dataset (ref or name); None checks every evaluated dataset.
        use: Which number to compare: ``value`` (the point estimate), ``low`` or ``high``
            (a bound of the confidence interval; ``low`` with ``min`` is the cautious choice).
    """

    metric: str
    min: float | None = None
    max: float | None = None
    dataset: str | None = None
    use: Literal["value", "low", "high"] = "value"

    def __post_init__(self) -> None:
        owner = "a threshold rule"
        _metric(owner, self.metric)
        if (self.min is None) == (self.max is None):
            got = "both" if self.min is not None else "neither"
            raise InvalidArgumentError(
                f"A threshold rule on {self.metric!r} needs exactly one of 'min' and 'max'. "
                f"Got {got}. Write one rule per limit, e.g. {{metric: {self.metric}, min: 0.8}}."
            )
        for key in ("min", "max"):
            if getattr(self, key) is not None:
                object.__setattr__(self, key, _number(owner, key, getattr(self, key)))
        if self.dataset is not None:
            require_text(owner, "dataset", self.dataset)
        if self.use not in _USES:
            raise InvalidArgumentError(
                f"The 'use' of a threshold rule must be one of {', '.join(_USES)}. Got "
                f"{self.use!r} instead.{did_you_mean(str(self.use), _USES)}"
            )

    def describe(self) -> str:
        """Return the rule in words: ``auc >= 0.8 on credit-holdout``."""
        what = self.metric if self.use == "value" else f"{self.metric} {self.use} bound"
        limit = f">= {format_limit(self.min)}" if self.min is not None else ""
        if self.max is not None:
            limit = f"<= {format_limit(self.max)}"
        return f"{what} {limit}{_on(self.dataset)}"


@dataclass(frozen=True)
class BaselineRule:
    """Non-inferiority: the candidate may be worse than the baseline by at most ``margin``.

    Attributes:
        metric: The metric.
        margin: The largest allowed degradation (>= 0), read from the paired interval.
        dataset: The dataset; None checks every evaluated dataset.
    """

    metric: str
    margin: float
    dataset: str | None = None

    def __post_init__(self) -> None:
        owner = "a baseline rule"
        _metric(owner, self.metric)
        margin = _number(owner, "no_worse_than_baseline_by", self.margin, minimum=0.0)
        object.__setattr__(self, "margin", margin)
        if self.dataset is not None:
            require_text(owner, "dataset", self.dataset)

    def describe(self) -> str:
        """Return ``auc no worse than baseline by more than 0.005``."""
        return (
            f"{self.metric} no worse than baseline by more than "
            f"{format_limit(self.margin)}{_on(self.dataset)}"
        )


@dataclass(frozen=True)
class SliceRule:
    """No slice (declared or found) with enough rows may lose more than ``max_drop``, beyond
    noise.

    Attributes:
        metric: The metric.
        max_drop: The largest allowed drop (>= 0), in the metric's units, sign-adjusted so that
            a positive drop is always a degradation.
        min_support: Slices with fewer rows are not checked (0 checks all).
        dataset: The dataset; None checks every evaluated dataset.
        versus: ``baseline`` (default): a slice's drop is the baseline's metric on the same
            slice minus the candidate's (the paired interval of the slice); without a baseline
            in the evaluation the check is not computable. ``overall``: the drop is the
            candidate's overall metric minus its metric on the slice, with the interval of
            that difference taken on the same resamples (subpopulations are often harder, so
            use a looser limit).
        use: ``bound`` (default): a slice fails only when the cautious bound of its drop's
            interval is beyond ``max_drop``, so a drop within noise passes; the bounds of
            slices found by the search are widened for the number of candidates the search
            examined (Bonferroni). ``value``: compare the point drop (an explicit opt-in: a
            search over hundreds of slices always finds a large point drop by chance).
        scope: Which slices: ``declared``, ``searched`` (found by the worst-slice search) or
            ``all`` (default; a slice both declared and found counts as declared).
    """

    metric: str
    max_drop: float
    min_support: int = 0
    dataset: str | None = None
    versus: Literal["baseline", "overall"] = "baseline"
    use: Literal["bound", "value"] = "bound"
    scope: Literal["declared", "searched", "all"] = "all"

    def __post_init__(self) -> None:
        owner = "a slices rule"
        _metric(owner, self.metric)
        object.__setattr__(self, "max_drop", _number(owner, "max_drop", self.max_drop, minimum=0.0))
        support = _number(owner, "min_support", self.min_support, minimum=0.0)
        if support != int(support):
            raise InvalidArgumentError(
                f"The 'min_support' of {owner} must be a whole number of rows. Got "
                f"{self.min_support!r} instead."
            )
        object.__setattr__(self, "min_support", int(support))
        if self.dataset is not None:
            require_text(owner, "dataset", self.dataset)
        for key, allowed in (("versus", _VERSUS), ("use", _SLICE_USES), ("scope", _SCOPES)):
            value = getattr(self, key)
            if value not in allowed:
                raise InvalidArgumentError(
                    f"The {key!r} of {owner} must be one of {', '.join(allowed)}. Got "
                    f"{value!r} instead.{did_you_mean(str(value), allowed)}"
                )

    def describe(self) -> str:
        """Return ``no slice with support >= 200 drops auc by more than 0.02``."""
        against = "" if self.versus == "baseline" else " vs its overall value"
        which = {"all": "slice", "declared": "declared slice", "searched": "searched slice"}
        how = " (point drop)" if self.use == "value" else ""
        return (
            f"no {which[self.scope]} with support >= {self.min_support} drops {self.metric} by "
            f"more than {format_limit(self.max_drop)}{against}{how}{_on(self.dataset)}"
        )


@dataclass(frozen=True)
class FairnessRule:
    """A fairness measure over the groups of one sensitive column stays within a limit.

    Attributes:
        column: The sensitive column.
        metric: One of :data:`FAIRNESS_METRICS`.
        min: Lower limit (ratios).
        max: Upper limit (differences).
        dataset: The dataset; None checks every evaluated dataset.
    """

    column: str
    metric: str
    min: float | None = None
    max: float | None = None
    dataset: str | None = None

    def __post_init__(self) -> None:
        owner = "a fairness rule"
        require_text(owner, "column", self.column)
        metric = require_text(owner, "metric", self.metric)
        if metric not in FAIRNESS_METRICS:
            raise InvalidArgumentError(
                f"The 'metric' of a fairness rule must be one of "
                f"{', '.join(FAIRNESS_METRICS)}. Got {metric!r} instead."
                f"{did_you_mean(metric, FAIRNESS_METRICS)}"
            )
        bound = FAIRNESS_METRICS[metric]
        other = "min" if bound == "max" else "max"
        if getattr(self, bound) is None or getattr(self, other) is not None:
            kind = "difference" if bound == "max" else "ratio"
            raise InvalidArgumentError(
                f"A fairness rule on {metric!r} (a {kind}) needs {bound!r} and no {other!r}. "
                f"Got min={self.min!r}, max={self.max!r}. Write e.g. "
                f"{{column: {self.column}, metric: {metric}, {bound}: "
                f"{0.1 if bound == 'max' else 0.8}}}."
            )
        object.__setattr__(self, bound, _number(owner, bound, getattr(self, bound)))
        if self.dataset is not None:
            require_text(owner, "dataset", self.dataset)

    def describe(self) -> str:
        """Return ``demographic_parity_difference of SEX <= 0.1``."""
        limit = f"<= {format_limit(self.max)}" if self.max is not None else ""
        if self.min is not None:
            limit = f">= {format_limit(self.min)}"
        return f"{self.metric} of {self.column} {limit}{_on(self.dataset)}"


@dataclass(frozen=True)
class CostRule:
    """Budgets on what the model costs to run; each is a maximum (see :data:`COST_BUDGETS`).

    Attributes:
        budgets: Key -> the largest allowed value, e.g. ``{"p99_1_ms": 50}``.
    """

    budgets: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        owner = "a cost rule"
        if not isinstance(self.budgets, Mapping) or not self.budgets:
            raise InvalidArgumentError(
                f"The budgets of a cost rule must be a non-empty mapping. Got "
                f"{self.budgets!r} instead. Write e.g. {{cost: {{p99_1_ms: 50}}}}."
            )
        budgets: dict[str, float] = {}
        for key, limit in self.budgets.items():
            if key not in COST_BUDGETS:
                raise InvalidArgumentError(
                    f"Unknown budget {key!r} in a cost rule. Use one of: "
                    f"{', '.join(COST_BUDGETS)}.{did_you_mean(str(key), COST_BUDGETS)}"
                )
            budgets[key] = _number(owner, key, limit, minimum=0.0)
        object.__setattr__(self, "budgets", MappingProxyType(budgets))

    def describe(self) -> str:
        """Return ``p99_1_ms <= 50, artifact_mb <= 100``."""
        return ", ".join(self.describe_budget(key) for key in self.budgets)

    def describe_budget(self, key: str) -> str:
        """Return one budget in words: ``p99_1_ms <= 50``."""
        return f"{key} <= {format_limit(self.budgets[key])}"


GateRule: TypeAlias = ThresholdRule | BaselineRule | SliceRule | FairnessRule | CostRule
#: The rule classes, for isinstance checks.
RULE_TYPES = (ThresholdRule, BaselineRule, SliceRule, FairnessRule, CostRule)
