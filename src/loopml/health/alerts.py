"""Alert rules on monitor results: declared in YAML (or a dict), validated on load, checked on
every window of a :class:`~loopml.core.entities.MonitorReport`.

A rules file::

    rules:
      - name: many-features-drifted
        when: drift_share >= 0.3
        severity: warning          # info | warning | critical
        cooldown: 6h               # s, min, h, d, w; default 1h; 0 never deduplicates
        persist: 2                 # held on 2 consecutive windows (default 1)
        sinks: [stdout, {webhook: "http://hooks.example/alerts", tries: 4}]
      - name: auc-fell
        when: performance.roc_auc < 0.8
        severity: critical

Conditions (``when``): ``dataset_drift``, ``multivariate.drifted``, ``prediction_drift``,
``concept_drift``, ``feature: <column> drifted``, ``drift_share <op> x``, and
``performance.<metric> <op> x`` / ``estimated.<metric> <op> x`` / ``ops.<figure> <op> x`` with
``<op>`` one of ``<``, ``<=``, ``>``, ``>=``. A metric is compared through its confidence
interval by default (``bound: interval``): ``<`` and ``<=`` test the interval's *high* bound,
``>`` and ``>=`` its *low* bound, so a rule fires only when the whole interval is past the
threshold and sampling noise alone does not fire it; ``bound: value`` compares the point value.
Of the operational figures (rows read from the prediction log), ``error_rate`` and
``fallback_rate`` are compared through their Wilson interval on the window's rows the same way;
latencies and ``rows_per_s`` by their value. A check that is not computable on a window (no
labels, no rows) never fires.

The event log is always written when there is a store (a ``monitor.alert`` event per fired
alert, with the evidence); it is also what the cooldown reads, so deduplication holds across
processes. Delivery lives in :mod:`loopml.health.alert_sinks`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from loopml.core.entities import MonitorWindow
from loopml.core.errors import InvalidArgumentError, did_you_mean
from loopml.health.performance import METRICS

SEVERITIES = ("info", "warning", "critical")
FLAGS = ("dataset_drift", "multivariate.drifted", "prediction_drift", "concept_drift")
BOUNDS = ("interval", "value")
DEFAULT_COOLDOWN = "1h"
_KEYS = ("name", "when", "severity", "cooldown", "sinks", "bound", "persist")
_OPS = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
_COMPARE = re.compile(
    r"^(drift_share|(?:performance|estimated|ops)\.[A-Za-z_][\w]*)\s*(<=|>=|<|>)\s*(\S+)$"
)
_FEATURE = re.compile(r"^feature\s*:?\s*(.+?)\s+drifted$")
_DURATION = re.compile(r"^(\d+)\s*(s|sec|min|m|h|d|w)?$")
_MS = {"s": 1000, "sec": 1000, "min": 60_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_MS["w"] = 7 * _MS["d"]
_HELP = (
    "dataset_drift, multivariate.drifted, prediction_drift, concept_drift, "
    "'feature: <column> drifted', 'drift_share >= 0.3', 'performance.roc_auc < 0.8', "
    "'estimated.accuracy < 0.7', 'ops.error_rate > 0.01', 'ops.latency_p99_ms > 250'"
)
#: The operational figures a rule can name; the rates are compared through a Wilson interval.
OPS_FIGURES = ("latency_p50_ms", "latency_p99_ms", "error_rate", "fallback_rate", "rows_per_s")
_RATES = ("error_rate", "fallback_rate")


@dataclass(frozen=True)
class Sink:
    """Where a fired alert goes: ``stdout`` or ``webhook`` (the event log is always written).

    Attributes:
        kind: ``stdout`` or ``webhook``.
        url: The webhook's URL.
        tries: Attempts at most (webhook).
        backoff: Seconds before the second attempt, doubled after each (webhook).
        timeout: Seconds per attempt (webhook).
    """

    kind: str
    url: str = ""
    tries: int = 3
    backoff: float = 0.5
    timeout: float = 5.0

    @property
    def label(self) -> str:
        """``stdout`` or ``webhook <url>``."""
        return self.kind if not self.url else f"{self.kind} {self.url}"


@dataclass(frozen=True)
class AlertRule:
    """One validated rule (see the module's docstring for the file format).

    Attributes:
        name: Unique among the rules.
        when: The condition as written.
        severity: ``info``, ``warning`` or ``critical``.
        cooldown_ms: A rule that fired for the same subject this recently is suppressed.
        sinks: Where a fired alert goes besides the event log.
        bound: ``interval`` (default) or ``value``: how metric conditions are compared.
        persist: Fire only when the condition held on this many consecutive windows (1: any
            window). Per-feature tests are decided at a 5% level per window, so a rule on
            one feature fires on about one quiet window in twenty; ``persist: 2`` makes that
            about one in four hundred.
    """

    name: str
    when: str
    severity: str = "warning"
    cooldown_ms: int = 3_600_000
    sinks: tuple[Sink, ...] = ()
    bound: str = "interval"
    persist: int = 1

    def check(self, w: MonitorWindow) -> dict[str, Any] | None:
        """The evidence when the condition holds on ``w``, else None (also when the check is
        not computable on it)."""
        text = " ".join(self.when.split())
        if text in FLAGS:
            return _flag(text, w)
        feature = _FEATURE.match(text)
        if feature:
            verdict = w.features.get(feature.group(1))
            if verdict is None or not verdict.drifted:
                return None
            return {"feature": feature.group(1), **verdict.to_dict()}
        match = _COMPARE.match(text)
        assert match, text  # checked on load
        left, op, limit = match.group(1), match.group(2), float(match.group(3))
        if left == "drift_share":
            if w.drift_share is None or not _OPS[op](w.drift_share, limit):
                return None
            return {"drift_share": w.drift_share, "drifted_features": list(w.drifted_features)}
        side, metric = left.split(".", 1)
        if side == "ops":
            return self._check_ops(w, metric, op, limit)
        value = (w.performance if side == "performance" else w.estimated).get(metric)
        if value is None or value.value is None:
            return None
        compared, used = value.value, "value"
        if self.bound == "interval":
            edge = value.high if op.startswith("<") else value.low
            if edge is not None:
                compared, used = edge, "high" if op.startswith("<") else "low"
        if not _OPS[op](compared, limit):
            return None
        return {side: value.to_dict(), "compared": used, "threshold": limit}

    def _check_ops(
        self, w: MonitorWindow, figure: str, op: str, limit: float
    ) -> dict[str, Any] | None:
        value = w.ops.get(figure)
        if value is None:
            return None
        compared, used, interval = value, "value", None
        rows = int(w.ops.get("rows") or 0)
        if self.bound == "interval" and figure in _RATES and rows:
            from loopml.stats.proportions import wilson

            low, high = wilson(round(value * rows), rows)
            interval = [low, high]
            compared, used = (high, "high") if op.startswith("<") else (low, "low")
        if not _OPS[op](compared, limit):
            return None
        evidence = {"figure": figure, "value": value, "rows": rows, "interval": interval}
        return {"ops": evidence, "compared": used, "threshold": limit}


def _flag(text: str, w: MonitorWindow) -> dict[str, Any] | None:
    if text == "dataset_drift":
        if not w.dataset_drift:
            return None
        return {"drift_share": w.drift_share, "drifted_features": list(w.drifted_features)}
    found = {
        "multivariate.drifted": w.multivariate,
        "prediction_drift": w.prediction_drift,
        "concept_drift": w.concept_drift,
    }[text]
    if found is None:
        return None
    hit = found.detected if text == "concept_drift" else found.drifted  # type: ignore[union-attr]
    return {text: found.to_dict()} if hit else None


def parse_duration(value: object, where: str) -> int:
    """``90s``, ``30min``, ``6h``, ``1d``, ``1w`` (or seconds as a number) in milliseconds."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return int(value * 1000)
    match = _DURATION.match(str(value).strip().lower()) if isinstance(value, str) else None
    if match is None:
        raise InvalidArgumentError(
            f"{where}: {value!r} is not a duration. Write it as 90s, 30min, 6h, 1d or 1w "
            "(0 never deduplicates)."
        )
    return int(match.group(1)) * _MS[match.group(2) or "s"]


def _sink(value: object, where: str) -> Sink:
    if value in ("stdout", "events"):
        return Sink(str(value))
    if isinstance(value, Mapping) and isinstance(value.get("webhook"), str):
        extra = sorted(set(value) - {"webhook", "tries", "backoff", "timeout"})
        if extra:
            raise InvalidArgumentError(
                f"{where}: unknown webhook setting {extra[0]!r}; the settings are webhook "
                "(the URL), tries, backoff (seconds) and timeout (seconds)."
            )
        url = value["webhook"]
        try:
            host = httpx.URL(url).host if url.startswith(("http://", "https://")) else ""
        except httpx.InvalidURL:
            host = ""
        if not host:
            raise InvalidArgumentError(
                f"{where}: webhook {url!r} must be an http(s):// URL with a host."
            )
        tries, backoff, timeout = (
            value.get("tries", 3),
            value.get("backoff", 0.5),
            value.get("timeout", 5.0),
        )
        if not isinstance(tries, int) or isinstance(tries, bool) or not 1 <= tries <= 10:
            raise InvalidArgumentError(f"{where}.tries: {tries!r} must be an int from 1 to 10.")
        for key, number in (("backoff", backoff), ("timeout", timeout)):
            if not isinstance(number, int | float) or isinstance(number, bool) or number < 0:
                raise InvalidArgumentError(f"{where}.{key}: {number!r} must be seconds >= 0.")
        return Sink("webhook", url, tries, float(backoff), float(timeout))
    raise InvalidArgumentError(
        f"{where}: {value!r} is not a sink. Use stdout, events, or "
        "{webhook: 'http://host/path'} (optionally with tries, backoff, timeout)."
    )


def _condition(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgumentError(f"{where}: a rule needs a condition; e.g. {_HELP}.")
    text = " ".join(value.split())
    if text in FLAGS or _FEATURE.match(text):
        return text
    match = _COMPARE.match(text)
    if match:
        try:
            float(match.group(3))
        except ValueError:
            raise InvalidArgumentError(
                f"{where}: {match.group(3)!r} in {value!r} is not a number."
            ) from None
        side, _, metric = match.group(1).partition(".")
        if side == "ops":
            if metric not in OPS_FIGURES:
                raise InvalidArgumentError(
                    f"{where}: {metric!r} is not an operational figure; they are "
                    f"{list(OPS_FIGURES)}." + did_you_mean(metric, OPS_FIGURES)
                )
            return text
        if metric and metric not in METRICS:
            raise InvalidArgumentError(
                f"{where}: {metric!r} is not a monitored metric; the metrics are "
                f"{list(METRICS)}." + did_you_mean(metric, METRICS)
            )
        return text
    raise InvalidArgumentError(
        f"{where}: {value!r} is not a condition. The conditions are {_HELP}."
        + did_you_mean(text, FLAGS)
    )


def _rule(item: object, where: str) -> AlertRule:
    if not isinstance(item, Mapping):
        raise InvalidArgumentError(
            f"{where}: a rule is a mapping with name, when, severity, cooldown and sinks; "
            f"got {item!r}."
        )
    for key in item:
        if key not in _KEYS:
            raise InvalidArgumentError(
                f"{where}: unknown field {key!r}; the fields are {list(_KEYS)}."
                + did_you_mean(str(key), _KEYS)
            )
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidArgumentError(f"{where}.name: every rule needs a name (a non-empty text).")
    where = f"{where} ({name})"
    severity = item.get("severity", "warning")
    if severity not in SEVERITIES:
        raise InvalidArgumentError(
            f"{where}.severity: {severity!r} is not a severity; use one of {list(SEVERITIES)}."
        )
    bound = item.get("bound", "interval")
    if bound not in BOUNDS:
        raise InvalidArgumentError(f"{where}.bound: {bound!r}; use one of {list(BOUNDS)}.")
    sinks = item.get("sinks", ["stdout"])
    if isinstance(sinks, str | Mapping):
        sinks = [sinks]
    if not isinstance(sinks, Sequence):
        raise InvalidArgumentError(f"{where}.sinks: a list of sinks, e.g. [stdout].")
    parsed = tuple(_sink(s, f"{where}.sinks[{i}]") for i, s in enumerate(sinks))
    persist = item.get("persist", 1)
    if not isinstance(persist, int) or isinstance(persist, bool) or persist < 1:
        raise InvalidArgumentError(
            f"{where}.persist: {persist!r} must be a whole number of windows >= 1."
        )
    return AlertRule(
        name=name.strip(),
        when=_condition(item.get("when"), f"{where}.when"),
        severity=str(severity),
        cooldown_ms=parse_duration(item.get("cooldown", DEFAULT_COOLDOWN), f"{where}.cooldown"),
        sinks=tuple(s for s in parsed if s.kind != "events"),  # the event log is always written
        bound=str(bound),
        persist=persist,
    )


def load_rules(source: Any) -> tuple[AlertRule, ...]:
    """Validate alert rules from a YAML file path, a mapping ``{"rules": [...]}``, a list of
    rule mappings, or rules already loaded.

    Raises:
        InvalidArgumentError: A missing or unreadable file, bad YAML, or a rule with a bad
            field (the message names the rule, the field and the fix).
    """
    if isinstance(source, AlertRule):
        return (source,)
    if isinstance(source, str | Path):
        import yaml

        path = Path(source)
        if not path.is_file():
            raise InvalidArgumentError(f"There is no alert rules file {str(path)!r}.")
        try:
            source = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise InvalidArgumentError(f"{path} is not valid YAML: {exc}") from None
    if isinstance(source, Mapping):
        if set(source) != {"rules"}:
            raise InvalidArgumentError(
                "Alert rules are a mapping with one key, 'rules', holding a list of rules; "
                f"got keys {sorted(map(str, source))}."
            )
        source = source["rules"]
    if not isinstance(source, Sequence) or isinstance(source, str) or not source:
        raise InvalidArgumentError("rules: give a non-empty list of alert rules.")
    rules = tuple(
        r if isinstance(r, AlertRule) else _rule(r, f"rules[{i}]") for i, r in enumerate(source)
    )
    seen: set[str] = set()
    for r in rules:
        if r.name in seen:
            raise InvalidArgumentError(f"rules: two rules are named {r.name!r}; rename one.")
        seen.add(r.name)
    return rules


def check_features(rules: Sequence[AlertRule], features: Sequence[str]) -> None:
    """Every ``feature: <column> drifted`` condition must name a tested feature (else it
    could never fire).

    Raises:
        InvalidArgumentError: A rule names a column that is not tested.
    """
    for rule in rules:
        match = _FEATURE.match(rule.when)
        if match and match.group(1) not in features:
            raise InvalidArgumentError(
                f"Alert rule {rule.name!r}: {match.group(1)!r} is not a tested feature, so "
                f"'{rule.when}' could never fire; the tested features are "
                f"{list(features)[:30]} (pass features= to test it)."
                + did_you_mean(match.group(1), features)
            )
