"""Alias history, read from the model's log, and the rollback walk over it.

An alias move is an ``alias.moved`` event on the subject ``model:<name>`` with
``data = {"alias", "from", "to", "rollback"}``; the store writes it in the same transaction
as the move and numbers it in the model's log under the model's lock, so the history is
exactly the moves, in commit order (:meth:`~loopml.store.protocols.ModelStore.history`; never
ordered by the events' times, which are taken by clocks). It is read once, here, above every
store (STYLE.md rule 6).

Rollback treats the alias's history as a stack: a normal move pushes the new version, a
rollback pops the current one and returns to the version below it, so rolling back twice
walks two versions back, and a move after a rollback starts a new branch from there.
"""

from __future__ import annotations

from collections.abc import Sequence

from loopml.core.entities import AliasMove, Event
from loopml.core.ids import new_event_id

#: The event kind of an alias move.
ALIAS_MOVED = "alias.moved"


def subject_of(name: str) -> str:
    """The event subject of a registered model (alias moves are recorded on it)."""
    return f"model:{name}"


def alias_event(
    name: str,
    alias: str,
    previous: int | None,
    version: int | None,
    *,
    actor: str,
    at: int,
    reason: str,
    rollback: bool = False,
) -> Event:
    """Build the event of one alias move."""
    links = {"version": f"{name}@{version}"} if version is not None else {}
    if previous is not None:
        links["previous"] = f"{name}@{previous}"
    return Event(
        event_id=new_event_id(),
        kind=ALIAS_MOVED,
        subject=subject_of(name),
        actor=actor,
        at=at,
        reason=reason,
        links=links,
        data={"alias": alias, "from": previous, "to": version, "rollback": rollback},
    )


def moves_from_events(
    name: str, events: Sequence[Event], alias: str | None = None
) -> list[AliasMove]:
    """Turn ``alias.moved`` events (oldest first) into moves, optionally of one alias."""
    moves = []
    for event in events:
        if event.kind != ALIAS_MOVED:
            continue
        data = event.data
        if alias is not None and data.get("alias") != alias:
            continue
        before, after = data.get("from"), data.get("to")
        moves.append(
            AliasMove(
                name=name,
                alias=str(data.get("alias")),
                from_version=None if before is None else int(before),
                to_version=None if after is None else int(after),
                actor=event.actor,
                at=event.at,
                reason=event.reason,
                rollback=bool(data.get("rollback", False)),
                event_id=event.event_id,
            )
        )
    return moves


def held_stack(moves: Sequence[AliasMove]) -> list[int]:
    """Replay one alias's moves into the stack of versions it held (current last).

    A normal move pushes its target; a rollback pops the current version; removing the alias
    empties the stack (a rollback never resurrects a removed alias's past).
    """
    stack: list[int] = []
    for move in moves:
        if move.to_version is None:
            stack.clear()
        elif move.rollback and len(stack) >= 2 and stack[-2] == move.to_version:
            stack.pop()
        else:
            stack.append(move.to_version)
    return stack


def rollback_target(moves: Sequence[AliasMove]) -> tuple[int | None, int | None]:
    """Return (current version, version to roll back to) of one alias; either may be None."""
    stack = held_stack(moves)
    current = stack[-1] if stack else None
    return current, (stack[-2] if len(stack) >= 2 else None)
