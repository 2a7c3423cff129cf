"""What dataset and model stores share about names numbered in versions: the messages that
say which names and versions exist when a lookup misses."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from loopml.core.errors import did_you_mean


def describe_versions(numbers: Sequence[int]) -> str:
    """``version 3``, ``versions 1-4`` or ``versions 1, 3, 7``."""
    if len(numbers) == 1:
        return f"version {numbers[0]}"
    if list(numbers) == list(range(numbers[0], numbers[-1] + 1)):
        return f"versions {numbers[0]}-{numbers[-1]}"
    return "versions " + ", ".join(str(n) for n in numbers)


class VersionedNames:
    """Lookups and messages for a table keyed by ``(name, version)``.

    Args:
        table: The table (with ``name`` and ``version`` columns).
        noun: ``dataset`` or ``model``, for messages.
        list_command: The CLI command that lists the names.
    """

    def __init__(self, table: sa.Table, *, noun: str, list_command: str) -> None:
        self.table = table
        self.noun = noun
        self.list_command = list_command

    def unknown_name(self, conn: sa.Connection, name: str) -> str:
        """``No model named 'x'. Did you mean 'y'? List them with ...``."""
        names = conn.execute(sa.select(self.table.c.name).distinct()).scalars().all()
        return (
            f"No {self.noun} named {name!r}.{did_you_mean(name, names)} "
            f"List them with `{self.list_command}`."
        )

    def missing(self, conn: sa.Connection, name: str, version: int) -> str:
        """Why ``name@version`` is not found: an unknown name, or the versions that exist."""
        c = self.table.c
        numbers = [
            int(n)
            for n in conn.execute(
                sa.select(c.version).where(c.name == name).order_by(c.version)
            ).scalars()
        ]
        if not numbers:
            return self.unknown_name(conn, name)
        return (
            f"{self.noun.capitalize()} {name!r} has no version {version}; it has "
            f"{describe_versions(numbers)} (latest {numbers[-1]})."
        )
