"""Access entities: roles, API tokens and the principal a token stands for.

A token is made for a user with one server-wide :class:`Role`; roles are ordered, each
allowing what the ones below it allow: ``viewer < editor < approver < admin``. The token's
secret is shown once when it is made and stored only as its SHA-256 hash; an
:class:`ApiToken` never holds it. Which role each action needs is decided in one table,
:mod:`loopml.governance.roles`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from loopml.core.errors import InvalidArgumentError, did_you_mean
from loopml.core.jsonable import Jsonable


class Role(enum.Enum):
    """A server-wide role, ordered: each allows what the roles below it allow."""

    VIEWER = "viewer"
    EDITOR = "editor"
    APPROVER = "approver"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """Its place in the order, 0 for ``viewer``."""
        return _ORDER.index(self)

    def allows(self, needed: Role) -> bool:
        """Whether this role is ``needed`` or above it."""
        return self.rank >= needed.rank

    @classmethod
    def parse(cls, value: str | Role) -> Role:
        """The role named ``value`` (case-insensitive).

        Raises:
            InvalidArgumentError: No role has that name (the message lists them).
        """
        if isinstance(value, Role):
            return value
        text = str(value).strip().lower()
        for role in cls:
            if role.value == text:
                return role
        names = [r.value for r in cls]
        raise InvalidArgumentError(
            f"{value!r} is not a role; the roles are {', '.join(names)} (each allows what "
            f"the ones before it allow).{did_you_mean(text, names)}"
        )


_ORDER = (Role.VIEWER, Role.EDITOR, Role.APPROVER, Role.ADMIN)


@dataclass(frozen=True)
class ApiToken(Jsonable):
    """An API token as the store keeps it (without its secret).

    Attributes:
        token_id: 32 hex digits; the token's text starts with it (``lml_<id>_<secret>``).
        user: Who the token acts as.
        role: What it may do.
        created_at: When it was made (ms since the epoch).
        created_by: Who made it.
        expires_at: When it stops working (ms), or None: never.
        last_used_at: When a server last accepted it (ms, updated at most once a minute),
            or None: never.
        revoked_at: When it was revoked (ms), or None.
        note: Free text: what the token is for.
    """

    token_id: str
    user: str
    role: Role
    created_at: int
    created_by: str
    expires_at: int | None = None
    last_used_at: int | None = None
    revoked_at: int | None = None
    note: str = ""

    def state(self, now: int) -> str:
        """``active``, ``revoked`` or ``expired`` at time ``now`` (ms)."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return "active"


@dataclass(frozen=True)
class Principal(Jsonable):
    """Who a request acts as: the user and role of the token it came with.

    Attributes:
        user: The token's user (recorded as the actor of what the request changes).
        role: The token's role.
        token_id: The token's id (never its secret).
    """

    user: str
    role: Role
    token_id: str
