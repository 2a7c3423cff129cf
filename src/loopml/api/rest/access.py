"""Who a REST request acts as, and whether its role allows the route.

:class:`Authenticate` is an ASGI middleware: every request under ``/api/v1`` but the health
check carries ``Authorization: Bearer <token>`` (a token from ``loopml tokens create``),
checked against the server's store; no token, or a malformed, unknown, revoked or expired
one, is answered 401 before any route runs. With ``--auth none`` (loopback only) every
request acts as the server's own user with the admin role. A request that passes runs with
its origin set (:mod:`loopml.core.origin`): the token's user, the client named by its
``User-Agent`` and the remote address, which the audit log records for whatever it changes.

Each route then declares the action it needs with :func:`needs` (a FastAPI dependency),
which answers 403 when the role is too low, before the route's body runs, so a refused
request changes nothing.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

from fastapi import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from loopml.api.rest.errors import error_body
from loopml.core.entities import Principal, Role
from loopml.core.errors import UnauthenticatedError
from loopml.core.origin import Origin, acting_as, client_name
from loopml.core.settings import current_user
from loopml.governance import Action, TokenService, require

__all__ = ["Authenticate", "needs", "principal_of"]

_BEARER = re.compile(r"bearer[ \t]+(\S+)[ \t]*", re.IGNORECASE)
_CLIENT = re.compile(r"[\w.\-/ ]{1,80}")
_STATE_KEY = "loopml.principal"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _bearer(scope: Scope) -> str | None:
    value = _header(scope, b"authorization")
    if value is None:
        return None
    match = _BEARER.fullmatch(value)
    return match.group(1) if match else value


def _client(scope: Scope) -> str:
    agent = (_header(scope, b"user-agent") or "").strip()
    return agent if _CLIENT.fullmatch(agent) else client_name("api")


class Authenticate:
    """The ASGI middleware (see the module docstring).

    Args:
        app: The REST app.
        tokens: The token service over the server's store (None: ``--auth none``).
        open_paths: Paths any caller may reach (the health check, the OpenAPI document).
    """

    def __init__(
        self,
        app: ASGIApp,
        tokens: TokenService | None,
        *,
        open_paths: Callable[[str], bool],
    ) -> None:
        self.app = app
        self.tokens = tokens
        self.open_paths = open_paths
        self.local = Principal(user=current_user(), role=Role.ADMIN, token_id="auth-none")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.open_paths(scope["path"]):
            await self.app(scope, receive, send)
            return
        if self.tokens is None:
            principal = self.local
        else:
            try:
                principal = await self._principal(_bearer(scope))
            except UnauthenticatedError as exc:
                await _refuse(send, exc)
                return
        scope.setdefault("state", {})[_STATE_KEY] = principal
        client = scope.get("client")
        address = client[0] if client else "unknown"
        origin = Origin(client=_client(scope), address=address, user=principal.user)
        with acting_as(origin):
            await self.app(scope, receive, send)

    async def _principal(self, text: str | None) -> Principal:
        assert self.tokens is not None
        found = self.tokens.authorize_cached(text)
        if found is not None:
            return found
        return await asyncio.to_thread(self.tokens.authorize, text)


async def _refuse(send: Send, exc: UnauthenticatedError) -> None:
    body = error_body(str(exc), type(exc).__name__)
    challenge = b'Bearer realm="loopml", error="invalid_token"'
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", challenge),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def principal_of(request: Request) -> Principal:
    """The principal :class:`Authenticate` found for ``request``."""
    found = request.scope.get("state", {}).get(_STATE_KEY)
    if not isinstance(found, Principal):  # a route outside the middleware: a wiring bug
        raise UnauthenticatedError("This request was not authenticated; send a token.")
    return found


def needs(action: Action) -> Callable[[Request], Any]:
    """A route dependency refusing (403) a caller whose role does not allow ``action``."""

    def check(request: Request) -> Principal:
        principal = principal_of(request)
        require(principal, action)
        return principal

    check.__name__ = f"needs_{action.value}"
    return check
