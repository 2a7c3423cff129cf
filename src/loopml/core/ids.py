"""Typed ids. Runs and experiments are named by random 32-hex-digit ids (uuid4).

Event ids are random too, except inside :func:`derived_event_ids`: there they are derived
from a seed (a server's request with its idempotency key), so the same request sent again
makes the same event ids, and the first of them, already stored, says it was applied.
"""

from __future__ import annotations

import contextvars
import hashlib
import itertools
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NewType

RunId = NewType("RunId", str)
ExperimentId = NewType("ExperimentId", str)

_HEX_ID = re.compile(r"[0-9a-f]{32}")


def new_run_id() -> RunId:
    """Return a fresh run id."""
    return RunId(uuid.uuid4().hex)


def new_experiment_id() -> ExperimentId:
    """Return a fresh experiment id."""
    return ExperimentId(uuid.uuid4().hex)


_derived: contextvars.ContextVar[tuple[str, Iterator[int]] | None] = contextvars.ContextVar(
    "loopml_derived_event_ids", default=None
)


def new_event_id() -> str:
    """Return a fresh event id (in a :func:`derived_event_ids` block, the next id derived
    from its seed)."""
    derived = _derived.get()
    if derived is None:
        return uuid.uuid4().hex
    seed, counter = derived
    return derived_id(seed, next(counter))


def derived_id(seed: str, index: int = 0) -> str:
    """The ``index``-th event id derived from ``seed`` (32 hex digits of a SHA-256)."""
    return hashlib.sha256(f"{seed}\x00{index}".encode()).hexdigest()[:32]


@contextmanager
def derived_event_ids(seed: str) -> Iterator[str]:
    """Within the block (this thread's context), events made by :func:`new_event_id` get the
    ids ``derived_id(seed, 0)``, ``derived_id(seed, 1)``... in the order they are made.

    Yields:
        The first id: stored once the block's first change is committed with its event.
    """
    token = _derived.set((seed, itertools.count()))
    try:
        yield derived_id(seed)
    finally:
        _derived.reset(token)


def is_hex_id(value: str) -> bool:
    """Tell whether ``value`` has the shape of a loopml id (32 lowercase hex digits)."""
    return _HEX_ID.fullmatch(value) is not None
