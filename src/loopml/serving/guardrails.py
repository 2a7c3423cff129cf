"""Guardrails: declarative rules on a request's inputs and a model's outputs, each with an
action: ``reject`` (the request gets a 422 naming the rule), ``clip`` (the value is brought
into range and the request goes on) or ``fallback`` (the fallback model answers).

A policy is a mapping (or a YAML file) like::

    inputs:
      - {column: age, min: 18, max: 100, action: clip}
      - {column: country, allowed: [FR, DE, IT], action: reject}
      - {column: income, required: true, action: reject}
      - {ood: 0.3, action: fallback}   # share of columns outside the training data's range
    outputs:
      - {clip: [0.01, 0.99]}           # probabilities (or regression values) kept in range
      - {allowed: [0, 1], action: fallback}
      - {threshold: 0.7}               # binary: positive when p >= 0.7 instead of 0.5

The out-of-distribution score of a row is the share of its input columns whose value the
training dataset never showed: a number outside the training minimum and maximum, or a
category outside the known ones (columns whose categories were cut to the top ones are not
judged). It needs the version's training dataset (its profile is the reference).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loopml.core.entities import DatasetProfile
from loopml.core.errors import GuardrailRejectedError, InvalidArgumentError
from loopml.serving.batcher import BatchOutput

ACTIONS = ("reject", "clip", "fallback")


@dataclass(frozen=True)
class InputRule:
    """One rule on the inputs."""

    kind: str  # required | range | allowed | ood
    action: str
    column: str | None = None
    low: float | None = None
    high: float | None = None
    values: tuple[Any, ...] = ()
    limit: float = 0.0

    def describe(self) -> str:
        """The rule in words."""
        if self.kind == "required":
            return f"{self.column} is required"
        if self.kind == "range":
            return f"{self.column} in [{self.low}, {self.high}]"
        if self.kind == "allowed":
            return f"{self.column} in {list(self.values)}"
        return f"out-of-distribution score <= {self.limit}"


@dataclass(frozen=True)
class OutputRule:
    """One rule on the outputs."""

    kind: str  # clip | allowed | threshold
    action: str = "clip"
    low: float | None = None
    high: float | None = None
    values: tuple[Any, ...] = ()
    threshold: float = 0.5


@dataclass(frozen=True)
class Verdict:
    """What the input rules decided for one request."""

    frame: pd.DataFrame
    fallback: str | None = None
    clipped: tuple[str, ...] = field(default_factory=tuple)


def _action(rule: Mapping[str, Any], where: str, default: str) -> str:
    action = rule.get("action", default)
    if action not in ACTIONS:
        raise InvalidArgumentError(
            f"{where}: 'action' must be one of {', '.join(ACTIONS)}. Got {action!r} instead."
        )
    return str(action)


def _number(value: Any, where: str, key: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgumentError(f"{where}: {key!r} must be a number. Got {value!r} instead.")
    return float(value)


def _input_rule(rule: Any, where: str) -> InputRule:
    if not isinstance(rule, Mapping):
        raise InvalidArgumentError(f"{where} must be a mapping like {{column: age, min: 18}}.")
    if "ood" in rule:
        limit = _number(rule["ood"], where, "ood")
        if limit is None or not 0 <= limit <= 1:
            raise InvalidArgumentError(f"{where}: 'ood' must be a share in [0, 1].")
        return InputRule("ood", _action(rule, where, "fallback"), limit=limit)
    column = rule.get("column")
    if not isinstance(column, str):
        raise InvalidArgumentError(f"{where}: 'column' must name an input column.")
    if rule.get("required"):
        return InputRule("required", _action(rule, where, "reject"), column)
    if "allowed" in rule:
        values = rule["allowed"]
        if not isinstance(values, list) or not values:
            raise InvalidArgumentError(f"{where}: 'allowed' must be a non-empty list of values.")
        action = _action(rule, where, "reject")
        if action == "clip":
            raise InvalidArgumentError(
                f"{where}: an 'allowed' rule cannot clip; reject or fall back."
            )
        return InputRule("allowed", action, column, values=tuple(values))
    low = _number(rule.get("min"), where, "min")
    high = _number(rule.get("max"), where, "max")
    if low is None and high is None:
        raise InvalidArgumentError(
            f"{where}: give min and/or max, 'allowed', 'required: true', or 'ood'."
        )
    if low is not None and high is not None and low > high:
        raise InvalidArgumentError(f"{where}: min {low} is above max {high}.")
    return InputRule("range", _action(rule, where, "reject"), column, low=low, high=high)


def _output_rule(rule: Any, where: str) -> OutputRule:
    if not isinstance(rule, Mapping):
        raise InvalidArgumentError(f"{where} must be a mapping like {{clip: [0, 1]}}.")
    if "clip" in rule:
        bounds = rule["clip"]
        if not isinstance(bounds, list) or len(bounds) != 2:
            raise InvalidArgumentError(f"{where}: 'clip' must be [low, high].")
        return OutputRule(
            "clip", low=_number(bounds[0], where, "clip"), high=_number(bounds[1], where, "clip")
        )
    if "allowed" in rule:
        values = rule["allowed"]
        if not isinstance(values, list) or not values:
            raise InvalidArgumentError(f"{where}: 'allowed' must be a non-empty list of labels.")
        return OutputRule("allowed", _action(rule, where, "fallback"), values=tuple(values))
    if "threshold" in rule:
        value = _number(rule["threshold"], where, "threshold")
        if value is None or not 0 < value < 1:
            raise InvalidArgumentError(f"{where}: 'threshold' must be a probability in (0, 1).")
        return OutputRule("threshold", threshold=value)
    raise InvalidArgumentError(f"{where}: use 'clip', 'allowed' or 'threshold'.")


class Guardrails:
    """Parsed guardrail rules, applied to requests of one model.

    Args:
        policy: The rules (``inputs`` and ``outputs`` lists), or a path to a YAML file.
        profile: The training dataset's profile (needed by an ``ood`` rule).
        classes: The model's class labels (for output rules on classifiers).
    """

    def __init__(
        self,
        policy: Mapping[str, Any] | str | Path,
        *,
        profile: DatasetProfile | None = None,
        classes: Sequence[Any] = (),
    ) -> None:
        if isinstance(policy, str | Path):
            import yaml

            path = Path(policy)
            if not path.is_file():
                raise InvalidArgumentError(f"No guardrails file {path}.")
            policy = yaml.safe_load(path.read_text()) or {}
        if not isinstance(policy, Mapping) or set(policy) - {"inputs", "outputs"}:
            raise InvalidArgumentError(
                "Guardrails are a mapping with 'inputs' and/or 'outputs' lists."
            )
        self.inputs = [
            _input_rule(r, f"guardrails inputs[{i}]")
            for i, r in enumerate(policy.get("inputs") or [])
        ]
        self.outputs = [
            _output_rule(r, f"guardrails outputs[{i}]")
            for i, r in enumerate(policy.get("outputs") or [])
        ]
        self.classes = tuple(classes)
        self._reference = _reference(profile) if profile is not None else None
        if any(r.kind == "ood" for r in self.inputs) and self._reference is None:
            raise InvalidArgumentError(
                "An 'ood' guardrail compares inputs with the training data, but the model "
                "version has no training dataset (register it with training_data=...)."
            )

    def check_inputs(self, frame: pd.DataFrame) -> Verdict:
        """Apply the input rules: clip in place of a copy, raise for ``reject``, or say why
        the fallback should answer."""
        clipped: list[str] = []
        fallback: str | None = None
        for rule in self.inputs:
            bad, detail = self._violations(rule, frame)
            if not bad.any():
                continue
            if rule.action == "clip" and rule.kind == "range":
                if not clipped:
                    frame = frame.copy()
                frame[rule.column] = frame[rule.column].clip(lower=rule.low, upper=rule.high)
                clipped.append(str(rule.column))
                continue
            message = f"guardrail '{rule.describe()}' broken by {int(bad.sum())} row(s): {detail}"
            if rule.action == "reject":
                raise GuardrailRejectedError(message[0].upper() + message[1:] + ".")
            fallback = fallback or message
        return Verdict(frame, fallback, tuple(clipped))

    def _violations(self, rule: InputRule, frame: pd.DataFrame) -> tuple[np.ndarray, str]:
        if rule.kind == "ood":
            scores = self.ood_scores(frame)
            bad = scores > rule.limit
            return bad, f"scores {np.round(scores[bad][:3], 3).tolist()}"
        column = str(rule.column)
        if column not in frame.columns:
            return np.ones(len(frame), dtype=bool), f"column {column!r} is missing"
        series = frame[column]
        if rule.kind == "required":
            bad = series.isna().to_numpy()
            return bad, "missing values"
        if rule.kind == "allowed":
            bad = (~series.isin(list(rule.values))).to_numpy()
            return bad, f"values {series[bad].head(3).tolist()}"
        values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
        bad = np.zeros(len(frame), dtype=bool)
        if rule.low is not None:
            bad |= values < rule.low
        if rule.high is not None:
            bad |= values > rule.high
        return bad, f"values {values[bad][:3].tolist()}"

    def ood_scores(self, frame: pd.DataFrame) -> np.ndarray:
        """Each row's share of columns outside what the training data showed."""
        assert self._reference is not None
        ranges, categories = self._reference
        hits = np.zeros(len(frame))
        checked = 0
        for column, (low, high) in ranges.items():
            if column in frame.columns:
                values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
                hits += (values < low) | (values > high)
                checked += 1
        for column, known in categories.items():
            if column in frame.columns:
                hits += (~frame[column].isin(known) & frame[column].notna()).to_numpy()
                checked += 1
        return hits / max(checked, 1)

    def check_outputs(self, out: BatchOutput) -> tuple[BatchOutput, str | None]:
        """Apply the output rules; return the (clipped) outputs and a fallback reason."""
        predictions, proba = out.predictions, out.proba
        for rule in self.outputs:
            if rule.kind == "clip":
                if proba is not None:
                    proba = np.clip(proba, rule.low, rule.high)
                    proba = proba / proba.sum(axis=1, keepdims=True)
                elif predictions.dtype.kind in "if":
                    predictions = np.clip(predictions, rule.low, rule.high)
            elif rule.kind == "threshold" and proba is not None and len(self.classes) == 2:
                chosen = np.where(proba[:, 1] >= rule.threshold, 1, 0)
                predictions = np.asarray(self.classes, dtype=object)[chosen]
                predictions = np.asarray(predictions.tolist())
            elif rule.kind == "allowed":
                bad = ~np.isin(predictions, np.asarray(rule.values, dtype=object))
                if bad.any():
                    reason = (
                        f"guardrail 'output in {list(rule.values)}' broken by {int(bad.sum())} "
                        f"row(s): {predictions[bad][:3].tolist()}"
                    )
                    return BatchOutput(predictions, proba), reason
        return BatchOutput(predictions, proba), None


def _reference(
    profile: DatasetProfile,
) -> tuple[dict[str, tuple[float, float]], dict[str, list[str]]]:
    from loopml.core.entities.data import OTHER

    ranges: dict[str, tuple[float, float]] = {}
    categories: dict[str, list[str]] = {}
    for column in profile.columns:
        if column.numeric is not None:
            ranges[column.name] = (column.numeric.min, column.numeric.max)
        elif column.frequencies is not None and OTHER not in column.frequencies:
            categories[column.name] = list(column.frequencies)
    return ranges, categories
