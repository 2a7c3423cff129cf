"""Dataset names and references: ``credit``, ``credit@3``, ``credit@latest``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from loopml.core.errors import InvalidArgumentError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,249}$")
LATEST = "latest"


def check_name(name: object) -> str:
    """Return a valid dataset name, or raise naming the rule."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidArgumentError(
            f"Dataset name {name!r} is not valid: use 1-250 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit (e.g. 'credit-default')."
        )
    return name


@dataclass(frozen=True)
class DatasetRef:
    """A parsed reference: a name and a version number, or None for the latest."""

    name: str
    version: int | None

    def __str__(self) -> str:
        return f"{self.name}@{self.version if self.version is not None else LATEST}"


def parse_ref(ref: object) -> DatasetRef:
    """Parse ``name``, ``name@3`` or ``name@latest``.

    Raises:
        InvalidArgumentError: A malformed reference (the message shows the accepted forms).
    """
    if not isinstance(ref, str):
        raise InvalidArgumentError(
            f"A dataset reference is text like 'credit@3' or 'credit@latest'; got {ref!r}."
        )
    name, sep, version = ref.partition("@")
    check_name(name)
    if not sep or version == LATEST:
        return DatasetRef(name, None)
    if not version.isdigit() or int(version) < 1:
        raise InvalidArgumentError(
            f"Dataset reference {ref!r} has a bad version {version!r}: use a number from 1 "
            f"(e.g. '{name}@3') or 'latest'."
        )
    return DatasetRef(name, int(version))
