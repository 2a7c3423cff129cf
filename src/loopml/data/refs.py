"""Dataset names and references: ``credit``, ``credit@3``, ``credit@latest``.

Parsed by the one reference parser, :func:`loopml.core.refs.parse_ref`, which models use too;
a dataset has no aliases, so anything after ``@`` must be a version or ``latest``.
"""

from __future__ import annotations

from dataclasses import dataclass

from loopml.core import refs
from loopml.core.errors import InvalidArgumentError
from loopml.core.refs import LATEST

__all__ = ["LATEST", "DatasetRef", "check_name", "parse_ref"]


def check_name(name: object) -> str:
    """Return a valid dataset name, or raise naming the rule."""
    return refs.check_name(name, noun="dataset")


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
    parsed = refs.parse_ref(ref, noun="dataset")
    if parsed.tag is not None:
        raise InvalidArgumentError(
            f"Dataset reference {ref!r} has a bad version {parsed.tag!r}: use a number from 1 "
            f"(e.g. '{parsed.name}@3') or 'latest'."
        )
    return DatasetRef(parsed.name, parsed.version)
