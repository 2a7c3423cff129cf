"""Token authentication of the model server (``loopml serve --auth token``).

An ASGI middleware in front of the app: every request but the health checks and
``/metrics`` needs ``Authorization: Bearer <token>``, a token made with ``loopml tokens
create`` and read from the same store the server reads its models from. Predictions, model
metadata and the OpenAPI pages need a viewer; labels an editor
(:mod:`loopml.governance.roles`). No token, or a malformed, unknown, revoked or expired one:
401 with ``WWW-Authenticate: Bearer``; a role too low: 403. Both bodies are
``{"error": "..."}`` naming the problem, and the request goes no further, so it changes
nothing.

A request that passes runs with its origin set (:mod:`loopml.core.origin`): the token's user,
the client ``loopml-serve/<version>`` and the remote address, which the audit log records for
whatever the request changes. What the server read of a token is trusted for
:data:`~loopml.governance.tokens.DEFAULT_CACHE_MS` (a revoked token is refused within that
time); the store is read in a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from loopml.core.entities import Principal
from loopml.core.errors import AccessDeniedError, UnauthenticatedError
from loopml.core.origin import Origin, acting_as, client_name
from loopml.governance import Action, TokenService, require

__all__ = ["OPEN_PATHS", "TokenAuth", "action_of"]
#: Paths any caller may reach: liveness, readiness and Prometheus metrics.
OPEN_PATHS = re.compile(
    r"/metrics|/v2/health/(live|ready)|/v2/models/[^/]+(/versions/[^/]+)?/ready"
)
_LABELS = re.compile(r"/v2/models/[^/]+/labels")
_BEARER = re.compile(r"bearer[ \t]+(\S+)[ \t]*", re.IGNORECASE)


def action_of(method: str, path: str) -> Action | None:
    """The action a request needs (None: an open path)."""
    if OPEN_PATHS.fullmatch(path):
        return None
    if method == "POST" and _LABELS.fullmatch(path):
        return Action.LOG_LABELS
    return Action.PREDICT


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            match = _BEARER.fullmatch(value.decode("latin-1"))
            return match.group(1) if match else value.decode("latin-1")
    return None


class TokenAuth:
    """The ASGI middleware (see the module docstring).

    Args:
        app: The model server's app.
        tokens: The token service over the server's store (with a cache time).
        action_for: Which action a request needs (default: :func:`action_of`).
    """

    def __init__(
        self,
        app: ASGIApp,
        tokens: TokenService,
        *,
        action_for: Callable[[str, str], Action | None] = action_of,
    ) -> None:
        self.app = app
        self.tokens = tokens
        self.action_for = action_for
        self.client = client_name("serve")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        action = self.action_for(scope["method"], scope["path"])
        if action is None:
            await self.app(scope, receive, send)
            return
        try:
            principal = await self._principal(_bearer(scope))
            require(principal, action)
        except UnauthenticatedError as exc:
            challenge = 'Bearer realm="loopml", error="invalid_token"'
            await _answer(send, 401, str(exc), [(b"www-authenticate", challenge.encode())])
            return
        except AccessDeniedError as exc:
            await _answer(send, 403, str(exc), [])
            return
        client = scope.get("client")
        address = client[0] if client else "unknown"
        with acting_as(Origin(client=self.client, address=address, user=principal.user)):
            await self.app(scope, receive, send)

    async def _principal(self, text: str | None) -> Principal:
        found = self.tokens.authorize_cached(text)
        if found is not None:
            return found
        return await asyncio.to_thread(self.tokens.authorize, text)


async def _answer(send: Send, status: int, message: str, headers: list[Any]) -> None:
    body = orjson.dumps({"error": message})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
