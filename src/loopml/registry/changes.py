"""The registry's rules for alias moves and reviews, decided inside one model change.

Each function here runs as the ``work`` of :meth:`~loopml.store.protocols.ModelStore.change`:
in one write transaction that holds the model's lock. What it reads (a version's review,
where an alias points, the alias's history) is what is committed, and stays true until the
move or review it writes commits; the time of the event is read there too. So:

- ``champion`` takes approved versions only, and a concurrent reject cannot slip in between
  the check and the move;
- the current champion cannot be rejected (move champion first): together with the first
  rule, champion never points at a rejected version (unless
  ``LOOPML_ALLOW_UNAPPROVED_CHAMPION`` lifts both);
- a rollback returns to the version below the top of the alias's history as committed, and
  every move records the version the alias really pointed at before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from loopml.core.entities import AliasMove, ApprovalStatus, Event, ModelVersion
from loopml.core.errors import (
    ApprovalRequiredError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    did_you_mean,
)
from loopml.core.ids import new_event_id
from loopml.registry import aliases as alias_log
from loopml.registry.refs import CHAMPION
from loopml.store.protocols import ModelChange


@dataclass(frozen=True)
class ChangeRules:
    """Who changes the registry, their clock, and whether champion may be unapproved.

    Attributes:
        actor: Who is acting (recorded on every event).
        clock: Milliseconds since the epoch, read under the model's lock.
        allow_unapproved_champion: ``LOOPML_ALLOW_UNAPPROVED_CHAMPION``.
    """

    actor: str
    clock: Callable[[], int]
    allow_unapproved_champion: bool

    # -- aliases -----------------------------------------------------------------------------

    def set_alias(self, change: ModelChange, alias: str, number: int, reason: str) -> AliasMove:
        """Point ``alias`` at version ``number`` (checked for champion)."""
        self.check_approved(change.version(number), alias)
        return self.move(change, alias, number, reason=reason)

    def remove_alias(self, change: ModelChange, alias: str, reason: str) -> AliasMove:
        """Remove ``alias``. Raises NotFoundError when the model has no such alias."""
        aliases = change.aliases()
        if alias not in aliases:
            known = ", ".join(f"{a} -> {v}" for a, v in sorted(aliases.items())) or "none"
            raise NotFoundError(
                f"Model {change.name!r} has no alias {alias!r} to remove (its aliases: "
                f"{known}).{did_you_mean(alias, aliases)}"
            )
        return self.move(change, alias, None, reason=reason)

    def rollback(self, change: ModelChange, alias: str, reason: str) -> AliasMove:
        """Move ``alias`` back to the version below the top of its history.

        Raises:
            ConflictError: No such alias, or no earlier version to return to.
            ApprovalRequiredError: ``champion`` back to a version no longer approved.
        """
        name = change.name
        moves = alias_log.moves_from_events(name, change.history(), alias)
        current, target = alias_log.rollback_target(moves)
        if current is None:
            raise ConflictError(
                f"Model {name!r} has no {alias!r} alias to roll back. Set it with `loopml "
                f"models alias {name} {alias} VERSION`."
            )
        if target is None:
            raise ConflictError(
                f"Cannot roll back {name}@{alias}: it has held only version {current} since "
                "it was set, so there is no earlier version to return to."
            )
        self.check_approved(change.version(target), alias)
        return self.move(change, alias, target, reason=reason, rollback=True)

    def check_approved(self, version: ModelVersion, alias: str) -> None:
        """Raise ApprovalRequiredError when ``champion`` would point at an unapproved
        version (and that is not allowed)."""
        if alias != CHAMPION or version.approval is ApprovalStatus.APPROVED:
            return
        if self.allow_unapproved_champion:
            return
        raise ApprovalRequiredError(
            f"Cannot point {version.name}@{CHAMPION} at version {version.version}: it is "
            f"{version.approval.value}, and '{CHAMPION}' takes approved versions only. "
            f"Approve it first (`loopml models approve {version.ref} --comment ...`), or set "
            "LOOPML_ALLOW_UNAPPROVED_CHAMPION=true to allow it."
        )

    def move(
        self,
        change: ModelChange,
        alias: str,
        version: int | None,
        *,
        reason: str,
        rollback: bool = False,
    ) -> AliasMove:
        """Write the move with its event: the version the alias points at now, and the time,
        are read under the model's lock."""
        event = alias_log.alias_event(
            change.name,
            alias,
            change.aliases().get(alias),
            version,
            actor=self.actor,
            at=self.clock(),
            reason=reason,
            rollback=rollback,
        )
        change.move_alias(alias, version, event)
        return alias_log.moves_from_events(change.name, [event])[0]

    # -- reviews -----------------------------------------------------------------------------

    def approve(self, change: ModelChange, number: int, comment: str) -> ModelVersion:
        """Approve a version; a rejected one needs a comment.

        Raises:
            InvalidArgumentError: Approving a rejected version without a comment.
        """
        version = change.version(number)
        if version.approval is ApprovalStatus.REJECTED and not comment.strip():
            raise InvalidArgumentError(
                f"Model {version.ref} was rejected by {version.reviewer} "
                f"({version.review_comment!r}); approving it needs a comment that says why "
                "the rejection no longer holds. Pass comment='...' (CLI: --comment)."
            )
        return self.review(change, version, ApprovalStatus.APPROVED, comment)

    def reject(self, change: ModelChange, number: int, comment: str) -> ModelVersion:
        """Reject a version that is not the current champion.

        Raises:
            ConflictError: The version is the current champion.
        """
        version = change.version(number)
        champion = change.aliases().get(CHAMPION)
        if champion == version.version and not self.allow_unapproved_champion:
            raise ConflictError(
                f"Cannot reject {version.ref}: it is {version.name}@{CHAMPION}, and "
                f"'{CHAMPION}' takes approved versions only. Move champion first (`loopml "
                f"models rollback {version.name} --reason ...` returns it to the version "
                f"before, or `loopml models alias {version.name} {CHAMPION} VERSION`), then "
                "reject it."
            )
        return self.review(change, version, ApprovalStatus.REJECTED, comment)

    def review(
        self, change: ModelChange, version: ModelVersion, status: ApprovalStatus, comment: str
    ) -> ModelVersion:
        """Write the review with its ``model.<status>`` event."""
        at = self.clock()
        event = Event(
            event_id=new_event_id(),
            kind=f"model.{status.value}",
            subject=f"model:{version.ref}",
            actor=self.actor,
            at=at,
            reason=comment,
            data={"from": version.approval.value, "to": status.value},
        )
        return change.review(
            version.version, status=status, reviewer=self.actor, comment=comment, at=at, event=event
        )
