"""Audit events: every transition of the loop, append-only, with its reason and links.

A dataset registered, a gate passed or failed, an alias moved, a deployment changed, a
rollback, a trigger fired: each is one :class:`Event` that records what happened, to what,
who or what caused it, why, and the objects involved. Events are never updated or deleted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from loopml.core.jsonable import Jsonable


@dataclass(frozen=True)
class Event(Jsonable):
    """One transition.

    Attributes:
        event_id: 32 hex digits.
        kind: What happened, dotted: ``dataset.registered``, ``alias.moved``, ...
        subject: The object it happened to, as ``<type>:<ref>``: ``dataset:flights@3``,
            ``model:credit-default``.
        actor: Who or what caused it: a user name, or ``automation:<trigger>``.
        reason: Why, in words (may be empty for routine events).
        at: Milliseconds since the epoch.
        links: Other objects involved, by role: ``{"run": "<run id>", "parent":
            "flights@2"}``.
        data: Details of the transition (JSON-ready values): ``{"rows": 336776}``.
    """

    event_id: str
    kind: str
    subject: str
    actor: str
    at: int
    reason: str = ""
    links: Mapping[str, str] = field(default_factory=dict)
    data: Mapping[str, Any] = field(default_factory=dict)
