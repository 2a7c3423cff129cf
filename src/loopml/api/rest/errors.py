"""How the REST API answers an error: one status per kind, and a body the remote SDK turns
back into the same exception.

Every error body is ``{"error": "<message>", "type": "<LoopmlError subclass>"}``; a request
that fails validation also names the field (``"field": "body.params.lr"``). The remote SDK
raises ``type`` with ``error`` as its message, so a caller sees the error the embedded store
would have raised.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.responses import Response

from loopml.core import errors as E  # noqa: N812  (the error tree, read as E.NotFoundError)

__all__ = ["ERROR_RESPONSES", "ErrorBody", "add_error_handlers", "error_body", "status_of"]

_JSON = "application/json"


class ErrorBody(BaseModel):
    """What every error answer holds."""

    error: str
    type: str
    field: str | None = None


#: The error answers every route may give (documented in the OpenAPI document).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": what}
    for status, what in (
        (400, "A malformed request"),
        (401, "No token, or an unknown, revoked or expired one"),
        (403, "The token's role does not allow this"),
        (404, "No such object"),
        (409, "A conflict with what is stored (a taken name, a rule, a gate)"),
        (413, "A body over the server's limit"),
        (422, "An invalid value; `field` names it"),
        (503, "The store is unavailable"),
    )
}

#: The status of each kind, most specific first.
_STATUS: tuple[tuple[type[E.LoopmlError], int], ...] = (
    (E.UnauthenticatedError, 401),
    (E.AccessDeniedError, 403),
    (E.PermissionDeniedError, 403),
    (E.NotFoundError, 404),
    (E.MalformedRequestError, 400),
    (E.PayloadTooLargeError, 413),
    (E.UnsupportedMediaTypeError, 415),
    (E.AlreadyExistsError, 409),
    (E.ConflictError, 409),
    (E.GateFailedError, 409),
    (E.ArtifactIntegrityError, 422),
    (E.InvalidArgumentError, 422),
    (E.MetricUndefined, 422),
    (E.NotFittedError, 422),
    (E.UntrustedTypesError, 422),
    (E.DriftTestError, 422),
    (E.ModelExportError, 422),
    (E.StoreError, 503),
    (E.ModelUnavailableError, 503),
)


def status_of(exc: E.LoopmlError) -> int:
    """The HTTP status of ``exc`` (500 for a kind with no status of its own)."""
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return status
    return 500


def error_body(message: str, kind: str, **extra: Any) -> bytes:
    """The JSON body of an error answer."""
    return orjson.dumps({"error": message, "type": kind, **extra})


def _answer(status: int, body: bytes, headers: Mapping[str, str] | None = None) -> Response:
    return Response(body, status_code=status, media_type=_JSON, headers=headers)


def _field(loc: Iterable[Any]) -> str:
    return ".".join(str(part) for part in loc)


def add_error_handlers(app: FastAPI) -> None:
    """Answer loopml's errors, invalid requests and HTTP errors with :func:`error_body`."""

    @app.exception_handler(E.LoopmlError)
    async def _loopml(_request: Request, exc: E.LoopmlError) -> Response:
        headers = None
        if isinstance(exc, E.UnauthenticatedError):
            headers = {"WWW-Authenticate": 'Bearer realm="loopml", error="invalid_token"'}
        return _answer(status_of(exc), error_body(str(exc), type(exc).__name__), headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> Response:
        problems = exc.errors()
        first = problems[0] if problems else {"loc": (), "msg": "invalid request"}
        where = _field(first.get("loc", ()))
        message = f"{where}: {first.get('msg', 'invalid')}" if where else str(first["msg"])
        if len(problems) > 1:
            message += f" (and {len(problems) - 1} more problem(s) in this request)"
        kind = "InvalidArgumentError"
        return _answer(422, error_body(message, kind, field=where))

    @app.exception_handler(HTTPException)
    async def _http(_request: Request, exc: HTTPException) -> Response:
        kind = {404: "NotFoundError", 405: "InvalidArgumentError"}.get(
            exc.status_code, "LoopmlError"
        )
        return _answer(exc.status_code, error_body(str(exc.detail), kind), exc.headers)
