"""The result of checking the audit log's chain (``loopml audit verify``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from loopml.core.jsonable import Jsonable

#: What can be wrong with an entry of the chain.
ProblemKind = Literal["edited", "deleted", "reordered", "renumbered", "truncated"]


@dataclass(frozen=True)
class AuditProblem(Jsonable):
    """The first entry at which the chain breaks.

    Attributes:
        seq: The entry's position (for ``truncated``: the anchor's, which is missing).
        event_id: The entry's event id ("" when the entry is missing).
        kind: The entry's event kind ("" when the entry is missing).
        problem: ``edited`` (its hash does not match its content), ``deleted`` (entries
            before it are missing), ``reordered`` (it follows an entry stored after it),
            ``renumbered`` (a gap in the numbers, the links intact) or ``truncated`` (the
            anchor given is beyond the end, or is not the entry stored there).
        detail: What is wrong, in words, with the hashes involved.
    """

    seq: int
    event_id: str
    kind: str
    problem: ProblemKind
    detail: str


@dataclass(frozen=True)
class AuditReport(Jsonable):
    """What a walk of the chain found.

    Attributes:
        intact: True when every entry checked out (and the anchor, if given, matched).
        entries: How many entries were checked (up to the first problem).
        keyed: Whether the hashes were checked as HMACs (``LOOPML_AUDIT_KEY`` was set).
        head_seq: The position of the last entry that checked out: the log's last entry when
            intact (0: an empty log, or a problem at the first entry).
        head_hash: That entry's hash ("").
        problem: The first problem found, or None.
    """

    intact: bool
    entries: int
    keyed: bool
    head_seq: int = 0
    head_hash: str = ""
    problem: AuditProblem | None = None
