"""Reading a policy's fields: each value checked where it is read, each error naming the
policy, the field's path (``train.executor``, ``triggers[1].alert.rule``), the bad value, the
rule and the fix; an unknown field adds the closest known one ("Did you mean ...?").

:class:`Section` wraps one mapping of the YAML with its path; the policy module
(:mod:`loopml.automation.policy`) reads every field through it, so a policy is checked whole
when it is loaded, before any agent acts on it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from loopml.core.errors import InvalidArgumentError, did_you_mean

#: A duration: a whole number and a unit (``90s``, ``30min``, ``6h``, ``30d``, ``2w``).
_DURATION = re.compile(r"^(\d+)\s*(s|min|h|d|w)$")
_UNIT_MS = {"s": 1_000, "min": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
#: Marks a field that is not in the YAML.
MISSING: Any = object()


def duration_ms(text: str) -> int | None:
    """``90s``, ``30min``, ``6h``, ``30d``, ``2w`` in milliseconds; None when it is not one."""
    match = _DURATION.match(text.strip().lower())
    return None if match is None else int(match.group(1)) * _UNIT_MS[match.group(2)]


class Section:
    """One mapping of a policy, with its path, checked for unknown and missing fields.

    Args:
        where: The policy, for messages (``policy late.yaml``).
        path: This mapping's path (``""`` for the top, ``train``, ``triggers[0].alert``).
        value: What the YAML holds there.
        known: The fields it may have, in the order the reference lists them.
        required: The fields it must have.

    Raises:
        InvalidArgumentError: Not a mapping, an unknown field, or a required one missing.
    """

    def __init__(
        self,
        where: str,
        path: str,
        value: object,
        known: Sequence[str],
        required: Sequence[str] = (),
    ) -> None:
        self.where = where
        self.path = path
        if not isinstance(value, Mapping):
            self.fail(
                None,
                value,
                f"must be a mapping with the fields {', '.join(known)}",
                "write it as `key: value` lines",
            )
        self.values: Mapping[str, Any] = value
        for key in value:
            if key not in known:
                name = self.field(str(key))
                raise InvalidArgumentError(
                    f"In {where}, field {name!r} is not a policy field; "
                    f"{'the top level' if not path else repr(path)} has "
                    f"{', '.join(known)}.{did_you_mean(str(key), known)} Remove or rename it."
                )
        for key in required:
            if key not in value:
                raise InvalidArgumentError(
                    f"In {where}, field {self.field(key)!r} is missing; it is required "
                    f"({_EXAMPLES.get(key, 'see docs/loop.md for its form')})."
                )

    def field(self, key: str | None) -> str:
        """The path of a field of this section (or of the section itself)."""
        if key is None:
            return self.path or "(the policy)"
        return f"{self.path}.{key}" if self.path else key

    def fail(self, key: str | None, value: object, rule: str, fix: str) -> NoReturn:
        """Raise the error of a bad value: the field, the value, the rule and the fix."""
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        raise InvalidArgumentError(
            f"In {self.where}, field {self.field(key)!r} is {shown}: it {rule}. Fix: {fix}."
        )

    def has(self, key: str) -> bool:
        """Whether the field is given."""
        return key in self.values

    def get(self, key: str) -> Any:
        """The raw value, or :data:`MISSING`."""
        return self.values.get(key, MISSING)

    def section(self, key: str, known: Sequence[str], required: Sequence[str] = ()) -> Section:
        """A nested mapping as a :class:`Section` (empty when the field is missing)."""
        value = self.get(key)
        return Section(
            self.where, self.field(key), {} if value is MISSING else value, known, required
        )

    def text(self, key: str, *, default: str | None = None, example: str = "") -> str:
        """A non-empty string (``default`` when missing and not None)."""
        value = self.get(key)
        if value is MISSING and default is not None:
            return default
        if not isinstance(value, str) or not value.strip():
            self.fail(
                key,
                None if value is MISSING else value,
                "must be a non-empty text",
                f"give it as text{', e.g. ' + example if example else ''}",
            )
        return str(value).strip()

    def choice(self, key: str, choices: Sequence[str], *, default: str | None = None) -> str:
        """One of ``choices`` (``default`` when missing and not None)."""
        value = self.get(key)
        if value is MISSING and default is not None:
            return default
        if value not in choices:
            hint = did_you_mean(str(value), choices) if isinstance(value, str) else ""
            self.fail(
                key,
                None if value is MISSING else value,
                f"must be one of {', '.join(choices)}",
                f"write one of them{(' (' + hint.strip() + ')') if hint else ''}",
            )
        return str(value)

    def number(
        self,
        key: str,
        *,
        low: float,
        high: float = math.inf,
        default: float | None = None,
        integer: bool = False,
        low_open: bool = False,
    ) -> float:
        """A number in ``[low, high]`` (``(low, high]`` with ``low_open``)."""
        value = self.get(key)
        if value is MISSING and default is not None:
            return default
        kind = "a whole number" if integer else "a number"
        upper = "" if math.isinf(high) else f", {high:g}]"
        span = f"{'(' if low_open else '['}{low:g}{upper or ', inf)'}"
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ok and integer and not float(value).is_integer():
            ok = False
        if ok:
            number = float(value)
            ok = math.isfinite(number) and (number > low if low_open else number >= low)
            ok = ok and number <= high
        if not ok:
            self.fail(
                key,
                None if value is MISSING else value,
                f"must be {kind} in {span}",
                f"write {kind} such as {_NUMBER_EXAMPLES.get(key, 'the one you mean')}",
            )
        return int(value) if integer else float(value)

    def optional_number(self, key: str, **limits: Any) -> float | None:
        """A number as :meth:`number`, or None when missing."""
        return None if not self.has(key) else self.number(key, **limits)

    def duration(self, key: str) -> int | None:
        """A duration in ms (``30s``, ``10min``, ``6h``, ``30d``, ``1w``), or None when
        missing."""
        value = self.get(key)
        if value is MISSING:
            return None
        found = duration_ms(value) if isinstance(value, str) else None
        if found is None or found <= 0:
            self.fail(
                key,
                value,
                "must be a duration: a whole number and a unit (s, min, h, d, w)",
                "write it as 90s, 30min, 6h, 30d or 1w",
            )
        return found

    def mapping(self, key: str) -> dict[str, Any]:
        """A mapping of text keys (empty when missing)."""
        value = self.get(key)
        if value is MISSING:
            return {}
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            self.fail(
                key, value, "must be a mapping of names to values", "write `name: value` lines"
            )
        return dict(value)


_EXAMPLES = {
    "name": "e.g. name: late-flights",
    "model": "the registered model the loop retrains, e.g. model: late",
    "deployment": "the deployment it releases to, e.g. deployment: late-prod",
    "triggers": "e.g. triggers: [{dataset: flights}, {schedule: '0 3 * * 1'}]",
    "train": "e.g. train: {pipeline: my_project.training:train}",
    "pipeline": "module:function of a @loopml.pipeline or a training function",
    "evaluate": "e.g. evaluate: {datasets: [holdout@latest], gate: gate.yaml}",
    "datasets": "a list of dataset refs, e.g. [flights-holdout@latest]",
    "gate": "a gate policy file (relative to the policy) or the policy inline",
    "release": "e.g. release: {mode: canary, share: 10}",
    "rule": "the alert rule's name, e.g. rule: accuracy-fell",
    "last": "e.g. last: 30d",
}
_NUMBER_EXAMPLES = {
    "share": "10 (percent of the requests)",
    "min_labeled": "1000",
    "margin": "0.0",
    "metric_drop": "0.01",
    "max_error_rate": "0.05",
    "max_fallback_rate": "0.05",
    "max_guardrail_rate": "0.1",
    "resamples": "1000",
}


def sequence(section: Section, key: str, *, example: str) -> list[Any]:
    """A non-empty list."""
    value = section.get(key)
    if not isinstance(value, list) or not value:
        section.fail(
            key,
            None if value is MISSING else value,
            "must be a non-empty list",
            f"write it as a YAML list, e.g. {example}",
        )
    return list(value)
