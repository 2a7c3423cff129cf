"""Audit events: every transition of the loop, append-only, with its reason and links.

A dataset registered, a gate passed or failed, an alias moved, a deployment changed, a
rollback, a trigger fired: each is one :class:`Event` that records what happened, to what,
who or what caused it, why, from which client and address, and the objects involved. Events
are never updated or deleted: the store chains them, each :class:`AuditEntry` carrying the hash
of the one before (:mod:`loopml.core.audit_chain`), so an edit, a deletion or a reordering is
found by ``loopml audit verify``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from loopml.core.jsonable import Jsonable
from loopml.core.origin import current_origin


def _client() -> str:
    return current_origin().client


def _address() -> str:
    return current_origin().address


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
        client: The program the change came from (``loopml-cli/0.1.0``); by default the
            origin of the context the event is built in (:mod:`loopml.core.origin`).
        address: The remote address of the server request it came from, or ``local``
            (by default, from the same origin). Empty on events older than the audit log.
    """

    event_id: str
    kind: str
    subject: str
    actor: str
    at: int
    reason: str = ""
    links: Mapping[str, str] = field(default_factory=dict)
    data: Mapping[str, Any] = field(default_factory=dict)
    client: str = field(default_factory=_client)
    address: str = field(default_factory=_address)


@dataclass(frozen=True)
class AuditEntry(Jsonable):
    """An event as the audit log holds it: its place in the chain and its hashes.

    Attributes:
        seq: Its position, 1 for the first event; the log has no gaps.
        event: The event.
        prev_hash: The hash of the entry before it (64 zeros for the first).
        hash: SHA-256 (or, with ``LOOPML_AUDIT_KEY``, HMAC-SHA-256) of the event's canonical
            JSON and ``prev_hash`` (:func:`loopml.core.audit_chain.entry_hash`).
    """

    seq: int
    event: Event
    prev_hash: str
    hash: str
