"""Release-gate policies: :class:`GatePolicy` and :func:`load_policy`.

A policy is a name and a list of rules. It can be written as YAML, as the parsed mapping, or
as Python objects (:class:`GatePolicy` with the rules of :mod:`loopml.evaluation.gate_rules`);
all three are validated by the same code (the rules' ``__post_init__``), so a bad policy fails
when it is loaded, never halfway through a gate. The semantics of each rule are documented in
:mod:`loopml.evaluation.gate`, which checks them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import yaml

from loopml.core.errors import InvalidArgumentError, did_you_mean
from loopml.evaluation.gate_rules import (
    COST_BUDGETS,
    RULE_TYPES,
    BaselineRule,
    CostRule,
    FairnessRule,
    GateRule,
    SliceRule,
    ThresholdRule,
    require_text,
)

__all__ = ["GatePolicy", "PolicySource", "load_policy"]


@dataclass(frozen=True)
class GatePolicy:
    """A named list of rules; the gate passes only when every check of every rule passes.

    Attributes:
        name: The policy's name (recorded in each :class:`GateDecision`).
        rules: The rules, checked in this order.
    """

    name: str
    rules: tuple[GateRule, ...]

    def __post_init__(self) -> None:
        require_text("a gate policy", "name", self.name)
        object.__setattr__(self, "rules", tuple(self.rules))
        if not self.rules:
            raise InvalidArgumentError(
                f"Gate policy {self.name!r} has no rules. A gate needs at least one rule, "
                f"e.g. {{metric: auc, min: 0.8}}."
            )
        for i, rule in enumerate(self.rules):
            if not isinstance(rule, RULE_TYPES):
                raise InvalidArgumentError(
                    f"In gate policy {self.name!r}, rules[{i}] must be a ThresholdRule, "
                    f"BaselineRule, SliceRule, FairnessRule or CostRule. Got "
                    f"{type(rule).__name__} instead. Use load_policy() to read a mapping."
                )


PolicySource: TypeAlias = str | Path | Mapping[str, Any] | GatePolicy

_Builder = Callable[[Mapping[str, Any]], GateRule]
_SECTIONS: dict[str, tuple[frozenset[str], frozenset[str], _Builder]] = {
    # key -> (required keys, optional keys, builder)
    "slices": (
        frozenset({"metric", "max_drop"}),
        frozenset({"min_support", "dataset", "versus", "use", "scope"}),
        lambda s: SliceRule(
            metric=s["metric"],
            max_drop=s["max_drop"],
            min_support=s.get("min_support", 0),
            dataset=s.get("dataset"),
            versus=s.get("versus", "baseline"),
            use=s.get("use", "bound"),
            scope=s.get("scope", "all"),
        ),
    ),
    "fairness": (
        frozenset({"column", "metric"}),
        frozenset({"min", "max", "dataset"}),
        lambda s: FairnessRule(
            column=s["column"],
            metric=s["metric"],
            min=s.get("min"),
            max=s.get("max"),
            dataset=s.get("dataset"),
        ),
    ),
    "cost": (frozenset(), frozenset(COST_BUDGETS), lambda s: CostRule(budgets=dict(s))),
}
_THRESHOLD_KEYS = frozenset({"metric", "min", "max", "dataset", "use"})
_BASELINE_KEYS = frozenset({"metric", "no_worse_than_baseline_by", "dataset"})


def _check_keys(
    where: str, given: Mapping[str, Any], required: frozenset[str], optional: frozenset[str]
) -> None:
    allowed = required | optional
    for key in given:
        if key not in allowed:
            raise InvalidArgumentError(
                f"{where}: unknown key {key!r}. Allowed keys: {', '.join(sorted(allowed))}."
                f"{did_you_mean(str(key), allowed)}"
            )
    missing = sorted(required - set(given))
    if missing:
        raise InvalidArgumentError(f"{where}: missing required key(s) {', '.join(missing)}.")


def _parse_rule(raw: object, where: str) -> GateRule:
    if not isinstance(raw, Mapping):
        raise InvalidArgumentError(
            f"{where} must be a mapping, e.g. {{metric: auc, min: 0.8}}. Got {raw!r} instead."
        )
    for section, (required, optional, build) in _SECTIONS.items():
        if section in raw:
            if len(raw) != 1:
                extra = sorted(str(k) for k in raw if k != section)
                raise InvalidArgumentError(
                    f"{where}: a {section!r} rule has only the key {section!r}; got also "
                    f"{', '.join(extra)}. Move them inside it: {{{section}: {{...}}}}."
                )
            body = raw[section]
            if not isinstance(body, Mapping):
                raise InvalidArgumentError(
                    f"{where}: {section!r} must be a mapping. Got {body!r} instead."
                )
            _check_keys(f"{where} ({section})", body, required, optional)
            return build(body)
    if "no_worse_than_baseline_by" in raw:
        _check_keys(f"{where} (baseline)", raw, frozenset({"metric"}), _BASELINE_KEYS)
        return BaselineRule(
            metric=raw["metric"],
            margin=raw["no_worse_than_baseline_by"],
            dataset=raw.get("dataset"),
        )
    if "metric" in raw:
        _check_keys(f"{where} (threshold)", raw, frozenset({"metric"}), _THRESHOLD_KEYS)
        return ThresholdRule(
            metric=raw["metric"],
            min=raw.get("min"),
            max=raw.get("max"),
            dataset=raw.get("dataset"),
            use=raw.get("use", "value"),
        )
    keys = ", ".join(str(k) for k in raw) or "none"
    raise InvalidArgumentError(
        f"{where} is not a rule (keys: {keys}). A rule is {{metric, min|max}}, "
        f"{{metric, no_worse_than_baseline_by}}, {{slices: ...}}, {{fairness: ...}} or "
        f"{{cost: ...}}.{did_you_mean(next(iter(raw), ''), [*_SECTIONS, 'metric'])}"
    )


def _parse_policy(raw: object, origin: str) -> GatePolicy:
    if not isinstance(raw, Mapping):
        raise InvalidArgumentError(
            f"A gate policy{origin} must be a mapping with 'name' and 'rules'. Got "
            f"{type(raw).__name__} instead."
        )
    _check_keys(f"Gate policy{origin}", raw, frozenset({"name", "rules"}), frozenset())
    name = require_text(f"the gate policy{origin}", "name", raw["name"])
    rules = raw["rules"]
    if not isinstance(rules, list | tuple):
        raise InvalidArgumentError(
            f"The 'rules' of gate policy {name!r}{origin} must be a list. Got "
            f"{type(rules).__name__} instead. Write each rule as a '- ' item."
        )
    parsed: list[GateRule] = []
    for i, rule in enumerate(rules):
        where = f"In gate policy {name!r}{origin}, rules[{i}]"
        try:
            parsed.append(_parse_rule(rule, where))
        except InvalidArgumentError as exc:
            message = str(exc)
            raise InvalidArgumentError(
                message if message.startswith(where) else f"{where}: {message}"
            ) from None
    return GatePolicy(name=name, rules=tuple(parsed))


def _read_file(path: Path) -> object:
    if not path.is_file():
        raise InvalidArgumentError(
            f"The gate policy file {str(path)!r} does not exist. Pass the path of a YAML file "
            f"(relative paths are read from {str(Path.cwd())!r}), or a mapping."
        )
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InvalidArgumentError(
            f"The gate policy file {str(path)!r} is not valid YAML{at}: {problem}. "
            f"Fix the syntax there (indentation, a missing ':' or an unclosed bracket)."
        ) from None


def load_policy(source: PolicySource) -> GatePolicy:
    """Read and validate a gate policy.

    Args:
        source: A :class:`GatePolicy` (returned as is), a mapping (the parsed YAML), or a
            YAML file: a :class:`~pathlib.Path`, or a string that ends with ``.yaml`` /
            ``.yml`` or names an existing file.

    Returns:
        The validated policy.

    Raises:
        InvalidArgumentError: The file does not exist or is not valid YAML, or a rule is
            malformed; the message names the rule's position (``rules[2]``) and the fix.

    Example:
        >>> policy = load_policy({"name": "credit", "rules": [{"metric": "auc", "min": 0.8}]})
        >>> policy.rules[0].describe()
        'auc >= 0.8'
    """
    if isinstance(source, GatePolicy):
        return source
    if isinstance(source, Mapping):
        return _parse_policy(source, "")
    if isinstance(source, str | Path):
        path = Path(source)
        if isinstance(source, Path) or source.endswith((".yaml", ".yml")) or path.is_file():
            return _parse_policy(_read_file(path), f" (file {str(path)!r})")
        raise InvalidArgumentError(
            f"The gate policy source {source!r} is neither an existing file nor a path ending "
            f"in .yaml or .yml. Pass a YAML file's path, a mapping or a GatePolicy."
        )
    raise InvalidArgumentError(
        f"A gate policy source must be a path, a mapping or a GatePolicy. Got "
        f"{type(source).__name__} instead."
    )
