"""Checking the audit log's chain: ``loopml audit verify`` and ``loopml audit head``.

:func:`verify_chain` walks the log by ``seq`` and stops at the first entry that does not
check out, naming it and what is wrong:

- ``deleted``: numbers are missing before it and it does not link to the entry before the
  gap (or it links to an entry that is gone): entries were removed;
- ``renumbered``: numbers are missing, yet it links to the entry before the gap: nothing is
  missing, the numbers were changed;
- ``edited``: its hash is not the hash of its content and its ``prev_hash`` (an edited field,
  or a hash rewritten without the key);
- ``reordered``: its content checks out, but it links to an entry stored after it;
- ``truncated``: the anchor given (``SEQ:HASH`` from an earlier ``loopml audit head``) is
  beyond the end of the log, or the log holds another entry there.

What the chain can and cannot show is in docs/server.md: without ``LOOPML_AUDIT_KEY`` whoever
can write the database can rewrite the whole chain consistently; with it they cannot, but
removing entries at the end leaves a valid shorter chain, which only an anchor kept elsewhere
reveals.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from loopml.core.audit_chain import GENESIS_HASH, entry_hash, key_bytes
from loopml.core.clock import Clock, now_ms
from loopml.core.entities import AuditEntry, AuditProblem, AuditReport, Event
from loopml.core.entities.audit import ProblemKind
from loopml.core.errors import InvalidArgumentError
from loopml.core.ids import new_event_id
from loopml.store.protocols import EventStore

__all__ = ["PAGE_SIZE", "Anchor", "parse_anchor", "rechain", "verify_chain"]

#: Entries read per query while walking the chain.
PAGE_SIZE = 2000
_ANCHOR = re.compile(r"(\d+):([0-9a-f]{64})")


@dataclass(frozen=True)
class Anchor:
    """An entry of the log recorded elsewhere (``loopml audit head``): its ``seq`` and hash.

    Attributes:
        seq: The entry's position.
        hash: Its hash then.
    """

    seq: int
    hash: str

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"


def parse_anchor(text: str) -> Anchor:
    """Read an anchor written ``SEQ:HASH`` (as ``loopml audit head`` prints it).

    Raises:
        InvalidArgumentError: Not in that form.
    """
    match = _ANCHOR.fullmatch(text.strip().lower())
    if match is None or int(match.group(1)) < 1:
        raise InvalidArgumentError(
            f"The anchor {text!r} is not SEQ:HASH (a position from 1 and 64 hex digits), as "
            "`loopml audit head` prints it."
        )
    return Anchor(seq=int(match.group(1)), hash=match.group(2))


def _short(digest: str) -> str:
    return digest[:16] + "..."


class _Walk:
    """The state of one walk: the last good entry and how many checked out."""

    def __init__(self, store: EventStore, key: bytes | None) -> None:
        self.store = store
        self.key = key
        self.checked = 0
        self.last_seq = 0
        self.last_hash = GENESIS_HASH

    def problem(self, entry: AuditEntry, kind: ProblemKind, detail: str) -> AuditProblem:
        return AuditProblem(
            seq=entry.seq,
            event_id=entry.event.event_id,
            kind=entry.event.kind,
            problem=kind,
            detail=detail,
        )

    def check(self, entry: AuditEntry) -> AuditProblem | None:
        expected_seq = self.last_seq + 1
        if entry.seq != expected_seq:
            missing = f"{expected_seq}" + (
                f" to {entry.seq - 1}" if entry.seq - 1 > expected_seq else ""
            )
            if entry.prev_hash == self.last_hash:
                return self.problem(
                    entry,
                    "renumbered",
                    f"numbers {missing} are missing before it, yet it links to the entry "
                    f"before them (seq {self.last_seq}): the numbers were edited.",
                )
            return self.problem(
                entry,
                "deleted",
                f"entries {missing} are missing before it (it links to "
                f"{_short(entry.prev_hash)}, which is not the entry before the gap).",
            )
        computed = entry_hash(entry.event, entry.prev_hash, key=self.key)
        if computed != entry.hash:
            return self.problem(entry, "edited", self._edited(entry, computed))
        if entry.prev_hash != self.last_hash:
            return self._broken_link(entry)
        return None

    def _edited(self, entry: AuditEntry, computed: str) -> str:
        detail = (
            f"its stored hash {_short(entry.hash)} is not the hash of its content "
            f"({_short(computed)}): a field, its prev_hash or its hash was changed."
        )
        if self.key is not None:
            plain = entry_hash(entry.event, entry.prev_hash, key=None)
            if plain == entry.hash:
                detail += (
                    " Its hash is the plain SHA-256 of the entry: it was rewritten by someone "
                    "without LOOPML_AUDIT_KEY (or written by a process that did not have it)."
                )
                if self.checked == 0:
                    detail += (
                        " If the log was written before the key was set, put it under the "
                        "key once with `loopml audit rekey`."
                    )
        elif self.checked == 0:
            detail += (
                " If the log was written with LOOPML_AUDIT_KEY, set it to verify (its hashes "
                "are HMACs)."
            )
        return detail

    def _broken_link(self, entry: AuditEntry) -> AuditProblem:
        target = self.store.entry_with_hash(entry.prev_hash)
        if target is not None and target.seq > entry.seq:
            return self.problem(
                entry,
                "reordered",
                f"it follows entry seq {target.seq} ({target.event.kind}, "
                f"{target.event.event_id}), which is stored after it: entries were reordered.",
            )
        if target is not None:
            return self.problem(
                entry,
                "deleted",
                f"it follows entry seq {target.seq}, not seq {self.last_seq}: the entries "
                "between were deleted and the rest renumbered.",
            )
        return self.problem(
            entry,
            "deleted",
            f"the entry it follows ({_short(entry.prev_hash)}) is not in the log: it was "
            "deleted and the rest renumbered.",
        )


def verify_chain(
    store: EventStore,
    *,
    key: str | None = None,
    anchor: Anchor | None = None,
    page_size: int = PAGE_SIZE,
) -> AuditReport:
    """Walk the audit log and check every entry; stop at the first that does not check out.

    Args:
        store: The audit log.
        key: ``LOOPML_AUDIT_KEY``, to check the hashes as HMACs (None: plain SHA-256).
        anchor: An entry recorded earlier (``loopml audit head``) that must still be there
            with the same hash: a log cut short is found only this way.
        page_size: Entries read per query.

    Returns:
        The report: intact or the first problem, with the number of entries checked.
    """
    walk = _Walk(store, key_bytes(key))
    head: AuditEntry | None = None
    while True:
        page = store.entries(after=walk.last_seq, limit=page_size)
        for entry in page:
            found = walk.check(entry)
            if found is None and anchor is not None and entry.seq == anchor.seq:
                found = _check_anchor(walk, entry, anchor)
            if found is not None:
                return _report(walk, head, key, found)
            walk.checked += 1
            walk.last_seq, walk.last_hash = entry.seq, entry.hash
            head = entry
        if len(page) < page_size:
            break
    if anchor is not None and walk.last_seq < anchor.seq:
        cut = AuditProblem(
            seq=anchor.seq,
            event_id="",
            kind="",
            problem="truncated",
            detail=(
                f"the log ends at seq {walk.last_seq}, but the anchor names seq {anchor.seq}: "
                f"entries {walk.last_seq + 1} to {anchor.seq} at least were removed from its "
                "end (or the anchor is from another log)."
            ),
        )
        return _report(walk, head, key, cut)
    return _report(walk, head, key, None)


def _check_anchor(walk: _Walk, entry: AuditEntry, anchor: Anchor) -> AuditProblem | None:
    if entry.hash == anchor.hash:
        return None
    return walk.problem(
        entry,
        "edited",
        f"the anchor says seq {anchor.seq} had hash {_short(anchor.hash)}, the log has "
        f"{_short(entry.hash)}: the log was rewritten from there on (or the anchor is from "
        "another log).",
    )


def _report(
    walk: _Walk, head: AuditEntry | None, key: str | None, problem: AuditProblem | None
) -> AuditReport:
    return AuditReport(
        intact=problem is None,
        entries=walk.checked,
        keyed=key is not None and bool(key),
        head_seq=0 if head is None else head.seq,
        head_hash="" if head is None else head.hash,
        problem=problem,
    )


def rechain(store: EventStore, *, old_key: str | None, actor: str, clock: Clock = now_ms) -> int:
    """Put an existing log under the store's ``LOOPML_AUDIT_KEY``: every entry is checked
    under ``old_key`` (None: a log written without a key) and hashed again under the new key,
    in one transaction, followed by an ``audit.rechained`` event (``loopml audit rekey``).

    Returns:
        How many entries were hashed again.

    Raises:
        ConflictError: An entry does not check out under ``old_key``; nothing is changed.
        InvalidArgumentError: The store has no key to re-key to.
    """
    event = Event(
        event_id=new_event_id(),
        kind="audit.rechained",
        subject="audit:log",
        actor=actor,
        at=clock(),
        data={"from": "sha256" if not old_key else "hmac", "to": "hmac"},
    )
    return store.rechain(check_key=old_key or None, event=event)
