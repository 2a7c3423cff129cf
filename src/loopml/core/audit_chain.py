"""The hash of an audit log entry: one definition for the writer, the migration and the
verifier.

Each entry's hash covers the event's canonical JSON and the hash of the entry before it, so
changing, removing or reordering an entry breaks the chain from there on::

    hash_n = H(canonical_json({"event": event_n, "prev_hash": hash_(n-1)}))
    hash_0 = "0" * 64  (the first entry's prev_hash)

``H`` is SHA-256, or HMAC-SHA-256 under ``LOOPML_AUDIT_KEY`` when the log is keyed: then
whoever can write the database but does not have the key cannot compute a valid hash for an
entry they edit or insert. The canonical JSON has sorted keys, no spaces and ASCII escapes,
and is computed from the event as the store reads it back (links and data parsed from their
stored JSON), so the writer and the verifier hash the same bytes. The entry's ``seq`` is not
hashed: the chain itself fixes each entry's place (each names its predecessor's hash), and
``seq`` only numbers it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from loopml.core.entities.events import Event

__all__ = ["GENESIS_HASH", "canonical_json", "entry_hash", "key_bytes"]

#: The ``prev_hash`` of the first entry of the log.
GENESIS_HASH = "0" * 64


def key_bytes(key: str | None) -> bytes | None:
    """The HMAC key of a ``LOOPML_AUDIT_KEY`` value (its UTF-8 bytes), or None."""
    return None if not key else key.encode("utf-8")


def canonical_json(event: Event, prev_hash: str) -> bytes:
    """The bytes an entry's hash covers: the event's fields and ``prev_hash``, as canonical
    JSON (sorted keys, no whitespace, non-ASCII escaped)."""
    body: dict[str, Any] = {
        "event": {
            "event_id": event.event_id,
            "kind": event.kind,
            "subject": event.subject,
            "actor": event.actor,
            "at": event.at,
            "reason": event.reason,
            "links": dict(event.links),
            "data": dict(event.data),
            "client": event.client,
            "address": event.address,
        },
        "prev_hash": prev_hash,
    }
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return text.encode("ascii")


def entry_hash(event: Event, prev_hash: str, *, key: bytes | None = None) -> str:
    """The hex hash of an entry: SHA-256 of :func:`canonical_json`, or HMAC-SHA-256 with
    ``key`` when the log is keyed."""
    payload = canonical_json(event, prev_hash)
    if key is None:
        return hashlib.sha256(payload).hexdigest()
    return hmac.new(key, payload, hashlib.sha256).hexdigest()
