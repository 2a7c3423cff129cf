"""Model names and references: ``credit-default``, ``credit-default@3``,
``credit-default@champion``, ``credit-default@latest``.

Parsed by the one reference parser, :func:`loopml.core.refs.parse_ref`, which datasets use
too; what follows ``@`` when it is neither a number nor ``latest`` is an alias. Patterns match
the whole text, so ``"champion\\n"`` is not an alias (nor ``"credit\\n"`` a name).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from loopml.core import refs
from loopml.core.errors import InvalidArgumentError
from loopml.core.refs import LATEST

_ALIAS = re.compile(r"[a-z][a-z0-9_\-]{0,63}")
CHAMPION = "champion"
CHALLENGER = "challenger"


def check_model_name(name: object) -> str:
    """Return a valid model name, or raise naming the rule."""
    return refs.check_name(name, noun="model")


def check_version_number(version: object) -> int:
    """Return a valid version number (an int from 1 to 2**31 - 1), or raise."""
    return refs.check_version(version, noun="model")


def check_alias(alias: object) -> str:
    """Return a valid alias, or raise naming the rule (``latest`` is reserved)."""
    if not isinstance(alias, str) or not _ALIAS.fullmatch(alias) or alias == LATEST:
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
    parsed = refs.parse_ref(ref, noun="model")
    if parsed.tag is None:
        return ModelRef(parsed.name, version=parsed.version)
    try:
        return ModelRef(parsed.name, alias=check_alias(parsed.tag))
    except InvalidArgumentError:
        raise InvalidArgumentError(
            f"Model reference {ref!r} is not 'name@version', 'name@alias' or 'name@latest' "
            f"(e.g. '{parsed.name}@3' or '{parsed.name}@{CHAMPION}')."
        ) from None
