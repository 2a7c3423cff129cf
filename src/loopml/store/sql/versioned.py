"""What dataset and model stores share about names numbered in versions: taking the next
number (safe against concurrent writers without a lock) and the messages that say which names
and versions exist when a lookup misses."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import sqlalchemy as sa

from loopml.core.errors import ConflictError, did_you_mean
from loopml.store.sql.engine import StoreEngine

#: How many times a registration is tried when concurrent writers take its number first.
CREATE_ATTEMPTS = 12

T = TypeVar("T")


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

    def next_number(self, conn: sa.Connection, name: str) -> int:
        """The number the next version of ``name`` gets (1 for a new name)."""
        c = self.table.c
        latest = conn.execute(sa.select(sa.func.max(c.version)).where(c.name == name)).scalar()
        return int(latest or 0) + 1

    def write_numbered(self, db: StoreEngine, name: str, work: Callable[[sa.Connection], T]) -> T:
        """Run the write transaction ``work`` (which numbers with :meth:`next_number`),
        again when a concurrent writer took the number first.

        The ``(name, version)`` primary key, not a lock, makes this safe: the loser gets an
        integrity error and retries after a short random pause, so racing writers do not
        collide again and again; the next try sees the winner's row.

        Raises:
            ConflictError: Concurrent writers took the number ``CREATE_ATTEMPTS`` times.
        """
        for attempt in range(CREATE_ATTEMPTS):
            try:
                return db.write(work)
            except sa.exc.IntegrityError:
                time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        raise ConflictError(
            f"Could not register a new version of {self.noun} {name!r}: concurrent writers "
            f"took the next version number {CREATE_ATTEMPTS} times in a row. Retry."
        )

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
