"""Expanding a unique prefix of an id to the full id, the same way for every kind of id.

Listings print ids shortened (``loopml events list`` shows 12 digits); a command accepts any
unique prefix of at least :data:`MIN_PREFIX` digits, as git does with commits. The store
answers "which ids start with this?" (the ``candidates`` callback); this module owns the rules
and the messages, so runs and evaluations behave and read alike.

Example:
    >>> resolve_prefix("3f2a", kind="run", listing="loopml runs list",
    ...                candidates=lambda prefix, limit: ["3f2a" + "0" * 28])  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from loopml.core.errors import InvalidArgumentError, NotFoundError
from loopml.core.ids import is_hex_id

__all__ = ["MIN_PREFIX", "SHOWN_CANDIDATES", "resolve_prefix"]

#: The fewest digits a prefix may have.
MIN_PREFIX = 4
#: How many matching ids an "ambiguous prefix" message lists.
SHOWN_CANDIDATES = 5

#: ``candidates(prefix, limit)``: up to ``limit`` full ids starting with ``prefix``.
Candidates = Callable[[str, int], Sequence[str]]


def resolve_prefix(prefix: object, *, kind: str, listing: str, candidates: Candidates) -> str:
    """Return the one full id that starts with ``prefix``.

    Args:
        prefix: A full id (returned as is, lowercased) or at least :data:`MIN_PREFIX` of its
            leading hex digits.
        kind: What the id names, for messages (``run``, ``evaluation``).
        listing: The command that lists these ids, for messages (``loopml runs list``).
        candidates: Looks up the ids starting with a prefix, at most ``limit`` of them.

    Raises:
        InvalidArgumentError: ``prefix`` is not hex, is too short, or matches several ids
            (the message lists them).
        NotFoundError: No id starts with ``prefix``.
    """
    text = prefix.strip().lower() if isinstance(prefix, str) else None
    if text is not None and is_hex_id(text):
        return text
    if text is None or len(text) < MIN_PREFIX or not all(c in "0123456789abcdef" for c in text):
        article = "an" if kind[:1] in ("a", "e", "i", "o", "u") else "a"
        raise InvalidArgumentError(
            f"{prefix!r} is not {article} {kind} id or a prefix of one: give at least "
            f"{MIN_PREFIX} of its hex digits (see `{listing}`)."
        )
    found = list(dict.fromkeys(candidates(text, SHOWN_CANDIDATES + 1)))
    if not found:
        raise NotFoundError(f"No {kind} id starts with {text!r}. See `{listing}`.")
    if len(found) > 1:
        shown = ", ".join(found[:SHOWN_CANDIDATES])
        more = ", ..." if len(found) > SHOWN_CANDIDATES else ""
        raise InvalidArgumentError(
            f"The {kind} id prefix {text!r} is ambiguous: it starts {shown}{more}. Give more "
            "digits."
        )
    return found[0]
