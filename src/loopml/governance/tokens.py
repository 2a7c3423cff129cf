"""API tokens: made on the server's host, shown once, stored hashed, checked per request.

A token's text is ``lml_<id>_<secret>``: the id (32 hex digits) names the stored record, the
secret is 256 random bits (``secrets.token_urlsafe(32)``). The store keeps the SHA-256 of the
whole text, never the text, and the audit events of making and revoking a token carry its id,
user and role, never the text. SHA-256 is the right hash here: the secret is random and long,
so there is nothing to guess and no need for a slow password hash.

:meth:`TokenService.authorize` turns a token's text into the
:class:`~loopml.core.entities.Principal` it stands for, comparing hashes in constant time, or
raises :class:`~loopml.core.errors.UnauthenticatedError` (HTTP 401) for a missing, malformed,
unknown, revoked or expired token. A server may cache what it read of a token for a few
seconds (``cache_ms``) so that requests do not each read the store: a revocation then takes
effect within that time; expiry is checked on every request.

Example:
    >>> tokens = TokenService(backend)  # doctest: +SKIP
    >>> issued = tokens.create(user="ada", role="editor", expires="90d")  # doctest: +SKIP
    >>> tokens.authorize(issued.text).role  # doctest: +SKIP
    <Role.EDITOR: 'editor'>
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
import threading
from dataclasses import dataclass
from typing import Any

from loopml.core.clock import Clock, now_ms
from loopml.core.entities import ApiToken, Event, Principal, Role
from loopml.core.errors import InvalidArgumentError, UnauthenticatedError
from loopml.core.id_prefix import resolve_prefix
from loopml.core.ids import new_event_id
from loopml.core.settings import current_user
from loopml.store.backend import Backend

__all__ = [
    "DEFAULT_CACHE_MS",
    "TOKEN_PREFIX",
    "IssuedToken",
    "TokenService",
    "hash_token",
    "parse_expiry",
]

#: How every token's text starts.
TOKEN_PREFIX = "lml_"
#: How long a server trusts what it read of a token (ms): revocations take this long.
DEFAULT_CACHE_MS = 5_000
#: A token's last use is written at most this often (ms) per process.
TOUCH_INTERVAL_MS = 60_000
_TEXT = re.compile(r"lml_([0-9a-f]{32})_([A-Za-z0-9_-]{43})")
_EXPIRY = re.compile(r"(\d+)\s*(h|d|w|y)")
_UNIT_MS = {"h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000, "y": 365 * 86_400_000}
_USER = re.compile(r"[^\x00-\x1f\x7f]{1,250}")
_NOTE_LENGTH = 1000
_LISTING = "loopml tokens list"


def _utc(ms: int | None) -> str:
    if ms is None:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def hash_token(text: str) -> str:
    """The hex SHA-256 of a token's text: what the store keeps."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def parse_expiry(value: str | int | None) -> int | None:
    """A token's lifetime in ms from ``90d``, ``12h``, ``2w``, ``1y``, or None for
    ``never`` (and None).

    Raises:
        InvalidArgumentError: Not a positive duration in those units.
    """
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    text = str(value).strip().lower()
    if text == "never":
        return None
    match = _EXPIRY.fullmatch(text)
    if match is None or int(match.group(1)) == 0:
        raise InvalidArgumentError(
            f"The expiry {value!r} is not a duration: write a positive number of hours, days, "
            "weeks or years (12h, 90d, 2w, 1y), or 'never'."
        )
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


@dataclass(frozen=True)
class IssuedToken:
    """A token just made: its record and its text, which is shown this once and never
    stored.

    Attributes:
        token: The stored record.
        text: The token (``lml_<id>_<secret>``) to hand to its user.
    """

    token: ApiToken
    text: str

    def __repr__(self) -> str:  # the secret stays out of logs and tracebacks
        return f"IssuedToken(token={self.token!r}, text='lml_{self.token.token_id}_***')"


class TokenService:
    """Make, list, revoke and check API tokens, over the backend's token store.

    Args:
        backend: The stores (the token store, and the audit log it writes to).
        clock: Millisecond clock (injectable for tests).
        cache_ms: How long :meth:`authorize` trusts a token it read (0: read it every time).
    """

    def __init__(self, backend: Backend, *, clock: Clock = now_ms, cache_ms: int = 0) -> None:
        self.backend = backend
        self.store = backend.tokens
        self._clock = clock
        self._cache_ms = cache_ms
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[ApiToken, str, int]] = {}
        self._touched: dict[str, int] = {}

    # -- the admin's side -------------------------------------------------------------------

    def create(
        self,
        *,
        user: str,
        role: Role | str,
        expires: str | int | None = None,
        note: str = "",
    ) -> IssuedToken:
        """Make a token for ``user`` with ``role``; its text is in the result, and only there.

        Args:
            user: Who the token acts as (recorded as the actor of what it changes).
            role: ``viewer``, ``editor``, ``approver`` or ``admin``.
            expires: Lifetime (``90d``, ``12h``, ``2w``, ``1y``; ms as an int), or None /
                ``never``.
            note: What the token is for.

        Raises:
            InvalidArgumentError: A bad user name, role, lifetime or note.
        """
        if not isinstance(user, str) or _USER.fullmatch(user.strip()) is None:
            raise InvalidArgumentError(
                f"The user of a token must be a name of 1 to 250 printable characters. Got "
                f"{user!r} instead."
            )
        if not isinstance(note, str) or len(note) > _NOTE_LENGTH:
            raise InvalidArgumentError(
                f"The note of a token must be text of at most {_NOTE_LENGTH} characters."
            )
        chosen = Role.parse(role)
        lifetime = parse_expiry(expires)
        at = self._clock()
        token = ApiToken(
            token_id=secrets.token_hex(16),
            user=user.strip(),
            role=chosen,
            created_at=at,
            created_by=current_user(self.backend.settings),
            expires_at=None if lifetime is None else at + lifetime,
            note=note,
        )
        text = f"{TOKEN_PREFIX}{token.token_id}_{secrets.token_urlsafe(32)}"
        event = self._event("token.created", token, at=at)
        self.store.add(token, hash_token(text), event=event)
        return IssuedToken(token=token, text=text)

    def list_tokens(self) -> list[ApiToken]:
        """Every token (revoked and expired too), oldest first."""
        return self.store.list_tokens()

    def resolve(self, token_id: str) -> str:
        """The full id of a token from its id or a unique prefix (4 hex digits or more).

        Raises:
            InvalidArgumentError: Not hex, too short, or ambiguous.
            NotFoundError: No token id starts with it.
        """
        return resolve_prefix(
            token_id,
            kind="token",
            listing=_LISTING,
            candidates=lambda prefix, limit: self.store.ids_with_prefix(prefix, limit=limit),
        )

    def revoke(self, token_id: str, *, reason: str = "") -> ApiToken:
        """Revoke a token (by id or unique prefix): servers refuse it from then on (within
        their cache time). Revoking a revoked token changes nothing.

        Raises:
            InvalidArgumentError: A bad or ambiguous id.
            NotFoundError: No such token.
        """
        full = self.resolve(token_id)
        found = self.store.get(full)  # for the event's user and role (None: the store raises)
        at = self._clock()
        token = None if found is None else found[0]
        event = self._event("token.revoked", token, at=at, token_id=full, reason=reason)
        revoked = self.store.revoke(full, at=at, event=event)
        with self._lock:
            self._cache.pop(full, None)
        return revoked

    def _event(
        self,
        kind: str,
        token: ApiToken | None,
        *,
        at: int,
        token_id: str | None = None,
        reason: str = "",
    ) -> Event:
        data: dict[str, Any] = {}
        if token is not None:
            data.update(user=token.user, role=token.role.value)
        if token is not None and kind == "token.created":
            data["expires_at"] = token.expires_at
            data["note"] = token.note
        return Event(
            event_id=new_event_id(),
            kind=kind,
            subject=f"token:{token_id or (token.token_id if token else '')}",
            actor=current_user(self.backend.settings),
            at=at,
            reason=reason,
            data=data,
        )

    # -- the server's side ------------------------------------------------------------------

    def authorize(self, text: str | None) -> Principal:
        """Who a token stands for (reads the store unless the cache answers).

        Args:
            text: The token's text (``lml_<id>_<secret>``), as sent in ``Authorization:
                Bearer <token>``; None or "" when the request had none.

        Raises:
            UnauthenticatedError: No token, or one that is malformed, unknown, revoked or
                expired (HTTP 401). The message never repeats the secret.
        """
        principal = self._authorize(text, io=True)
        assert principal is not None  # with io, always an answer or an error
        return principal

    def authorize_cached(self, text: str | None) -> Principal | None:
        """As :meth:`authorize`, without touching the store: the principal when the cache
        answers, None when :meth:`authorize` must be called (an async server calls it in a
        thread then). Errors found without the store (no token, malformed, revoked or
        expired in the cache) are raised here.

        Raises:
            UnauthenticatedError: As :meth:`authorize`.
        """
        return self._authorize(text, io=False)

    def _authorize(self, text: str | None, *, io: bool) -> Principal | None:
        if not text:
            raise UnauthenticatedError(
                "This server needs an API token: send the header `Authorization: Bearer "
                "<token>`. An admin makes tokens on the server's host with `loopml tokens "
                "create --user NAME --role ROLE`."
            )
        match = _TEXT.fullmatch(text)
        if match is None:
            raise UnauthenticatedError(
                "The API token is malformed: a loopml token reads lml_<32 hex digits>_<43 "
                "characters>, as `loopml tokens create` printed it. Check that it was copied "
                "whole, with nothing around it."
            )
        token_id = match.group(1)
        now = self._clock()
        if io:
            token, stored = self._lookup(token_id, now)
        else:
            hit = self._cached(token_id, now)
            if hit is None:
                return None
            token, stored = hit
        if token is None or not hmac.compare_digest(hash_token(text), stored):
            raise UnauthenticatedError(
                f"The API token lml_{token_id}_... is not known to this server (never made "
                "here, or its secret is wrong). Use a token `loopml tokens list` shows on the "
                "server's host, or ask an admin for one."
            )
        state = token.state(now)
        if state != "active":
            when = token.revoked_at if state == "revoked" else token.expires_at
            raise UnauthenticatedError(
                f"The API token {token_id} of user {token.user!r} is {state} (since "
                f"{_utc(when)}) and no longer accepted. Ask an admin for a new one (`loopml "
                "tokens create`)."
            )
        if io:
            self._touch(token_id, now)
        elif self._touch_due(token_id, now):
            return None
        return Principal(user=token.user, role=token.role, token_id=token_id)

    def _cached(self, token_id: str, now: int) -> tuple[ApiToken, str] | None:
        with self._lock:
            cached = self._cache.get(token_id)
        if cached is not None and now - cached[2] < self._cache_ms:
            return cached[0], cached[1]
        return None

    def _lookup(self, token_id: str, now: int) -> tuple[ApiToken | None, str]:
        hit = self._cached(token_id, now)
        if hit is not None:
            return hit
        found = self.store.get(token_id)
        if found is None:
            with self._lock:
                self._cache.pop(token_id, None)
            return None, ""
        if self._cache_ms > 0:
            with self._lock:
                self._cache[token_id] = (found[0], found[1], now)
        return found

    def _touch_due(self, token_id: str, now: int) -> bool:
        with self._lock:
            last = self._touched.get(token_id)
        return last is None or now - last >= TOUCH_INTERVAL_MS

    def _touch(self, token_id: str, now: int) -> None:
        with self._lock:
            last = self._touched.get(token_id)
            if last is not None and now - last < TOUCH_INTERVAL_MS:
                return
            self._touched[token_id] = now
        self.store.touch(token_id, now)
