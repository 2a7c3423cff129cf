"""The fields of a deployment record, checked one by one before anything is read or written.

These checks need no store: types, ranges and the form of each ref. Whether the refs resolve,
the runtime is available and the guardrails fit the champion is checked against the registry
in the transaction of the change (:mod:`loopml.serving.deployment_changes`). Every message
names the deployment, the field, the value and the fix.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from loopml.core import refs
from loopml.core.errors import InvalidArgumentError, NotFoundError, did_you_mean
from loopml.registry.refs import parse_model_ref
from loopml.serving.fallbacks import is_declared

#: Fallbacks that are not refs.
PREVIOUS = "previous"


def check_deployment_name(name: object) -> str:
    """Return a valid deployment name, or raise naming the rule."""
    return refs.check_name(name, noun="deployment")


def missing(name: str, known: Sequence[str]) -> NotFoundError:
    """The error for a deployment that does not exist (``known``: the names that do)."""
    listed = ", ".join(repr(k) for k in known) if known else "none yet"
    return NotFoundError(
        f"There is no deployment {name!r} (deployments: {listed}).{did_you_mean(name, known)} "
        f"Create it with `loopml deploy create {name} --champion MODEL@champion`."
    )


def _where(name: str, field: str) -> str:
    return f"Deployment {name!r}, field {field!r}"


def check_route_ref(name: str, field: str, ref: object, *, example: str) -> str:
    """Return ``ref`` if it names a model version or alias (``m@3``, ``m@champion``).

    A bare name or ``@latest`` is refused: a deployment would then serve whatever version is
    registered next, unreviewed.
    """
    try:
        parsed = parse_model_ref(ref)
    except InvalidArgumentError as exc:
        raise InvalidArgumentError(f"{_where(name, field)}: {exc}") from None
    if parsed.version is None and parsed.alias is None:
        raise InvalidArgumentError(
            f"{_where(name, field)} is {ref!r}: name a version or an alias (e.g. "
            f"'{parsed.name}@{example}'), not the latest version, which changes whenever a "
            "version is registered."
        )
    return str(ref)


def check_share(name: str, share: object) -> float:
    """Return the canary's share as a float percent in [0, 100]."""
    if (
        isinstance(share, bool)
        or not isinstance(share, int | float)
        or not math.isfinite(share)
        or not 0 <= share <= 100
    ):
        raise InvalidArgumentError(
            f"{_where(name, 'canary.share')} must be a percentage in [0, 100]. Got {share!r} "
            "instead; e.g. canary_share=20 (CLI: --canary-share 20 or --canary REF:20)."
        )
    return float(share)


def check_shadows(name: str, shadows: object) -> tuple[str, ...]:
    """Return the shadow refs as a tuple (one ref alone is a list of one); no duplicates."""
    if isinstance(shadows, str):
        shadows = (shadows,)
    if not isinstance(shadows, Sequence):
        raise InvalidArgumentError(
            f"{_where(name, 'shadows')} must be a list of refs (e.g. ['credit@7']). Got "
            f"{shadows!r} instead."
        )
    found = tuple(
        check_route_ref(name, f"shadows[{i}]", ref, example="7") for i, ref in enumerate(shadows)
    )
    for i, ref in enumerate(found):
        if ref in found[:i]:
            raise InvalidArgumentError(
                f"{_where(name, f'shadows[{i}]')} is {ref!r} a second time; list each shadow once."
            )
    return found


def check_fallback(name: str, fallback: object) -> str | None:
    """Return the fallback: None, ``previous``, ``value:JSON``, ``python:module:function``
    or a ref (the value's JSON, an import and the ref are checked against the registry
    later)."""
    if fallback is None or fallback == PREVIOUS:
        return fallback
    if not isinstance(fallback, str):
        raise InvalidArgumentError(
            f"{_where(name, 'fallback')} must be 'previous', a ref, 'value:JSON', "
            f"'python:module:function' or None. Got {fallback!r} instead (a function cannot "
            "be stored: name it as 'python:module:function')."
        )
    if is_declared(fallback):
        return fallback
    return check_route_ref(name, "fallback", fallback, example="6")


def check_guardrails(name: str, guardrails: object) -> dict[str, Any] | None:
    """Return the guardrails as JSON-ready data: a mapping, or a YAML file's content (a path).
    Their rules are parsed against the champion later."""
    if guardrails is None:
        return None
    if isinstance(guardrails, str | Path):
        import yaml

        path = Path(guardrails)
        if not path.is_file():
            raise InvalidArgumentError(
                f"{_where(name, 'guardrails')}: there is no file {str(path)!r}. Give the "
                "path of a YAML file of rules, or the rules as a mapping."
            )
        try:
            guardrails = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise InvalidArgumentError(
                f"{_where(name, 'guardrails')}: {path} is not valid YAML ({exc})."
            ) from None
    if not isinstance(guardrails, Mapping):
        raise InvalidArgumentError(
            f"{_where(name, 'guardrails')} must be a mapping with 'inputs' and/or 'outputs' "
            f"lists (or a YAML file of one). Got {type(guardrails).__name__}."
        )
    try:
        return dict(orjson.loads(orjson.dumps(guardrails)))
    except orjson.JSONEncodeError as exc:
        raise InvalidArgumentError(
            f"{_where(name, 'guardrails')} must hold JSON-ready values (numbers, text, lists, "
            f"mappings with text keys): {exc}."
        ) from None


def check_reason(reason: object) -> str:
    """Return the reason of a change (text, may be empty)."""
    if not isinstance(reason, str):
        raise InvalidArgumentError(f"A reason is text; got {reason!r}.")
    return reason


def check_expected_version(name: str, expected: object) -> int | None:
    """Return the expected version (None: no check)."""
    if expected is None:
        return None
    if isinstance(expected, bool) or not isinstance(expected, int) or expected < 1:
        raise InvalidArgumentError(
            f"{_where(name, 'expected_version')} must be a version number (1 or more), the "
            f"one you read (`loopml deploy show {name}`). Got {expected!r} instead."
        )
    return expected
