"""Model names and references: ``credit-default``, ``credit-default@3``,
``credit-default@champion``, ``credit-default@latest``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from loopml.core.errors import InvalidArgumentError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,249}$")
_ALIAS = re.compile(r"^[a-z][a-z0-9_\-]{0,63}$")
LATEST = "latest"
CHAMPION = "champion"
CHALLENGER = "challenger"


def check_model_name(name: object) -> str:
    """Return a valid model name, or raise naming the rule."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidArgumentError(
            f"Model name {name!r} is not valid: use 1-250 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit (e.g. 'credit-default')."
        )
    return name


def check_alias(alias: object) -> str:
    """Return a valid alias, or raise naming the rule (``latest`` is reserved)."""
    if not isinstance(alias, str) or not _ALIAS.match(alias) or alias == LATEST:
        raise InvalidArgumentError(
            f"Alias {alias!r} is not valid: use 1-64 lowercase letters, digits, '_' or '-', "
            f"starting with a letter (e.g. '{CHAMPION}'); {LATEST!r} is reserved for the "
            "highest version."
        )
    return alias


@dataclass(frozen=True)
class ModelRef:
    """A parsed reference: a name and a version number, an alias, or neither (latest)."""

    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        return f"{self.name}@{self.version or self.alias or LATEST}"


def parse_model_ref(ref: object) -> ModelRef:
    """Parse ``name``, ``name@3``, ``name@latest`` or ``name@<alias>``.

    Raises:
        InvalidArgumentError: A malformed reference (the message shows the accepted forms).
    """
    if not isinstance(ref, str):
        raise InvalidArgumentError(
            f"A model reference is text like 'credit-default@3' or 'credit-default@champion'; "
            f"got {ref!r}."
        )
    name, sep, tail = ref.partition("@")
    check_model_name(name)
    if not sep or tail == LATEST:
        return ModelRef(name)
    if tail.lstrip("-").isdigit():
        if int(tail) < 1:
            raise InvalidArgumentError(
                f"Model reference {ref!r} has version {tail}: versions start at 1."
            )
        return ModelRef(name, version=int(tail))
    try:
        return ModelRef(name, alias=check_alias(tail))
    except InvalidArgumentError:
        raise InvalidArgumentError(
            f"Model reference {ref!r} is not 'name@version', 'name@alias' or 'name@latest' "
            f"(e.g. '{name}@3' or '{name}@{CHAMPION}')."
        ) from None
