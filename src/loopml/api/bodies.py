"""Reading request bodies within a size limit, and parsing JSON ones (one place for the rules
shared by ``/predict`` and the Open Inference Protocol routes)."""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

import orjson
from fastapi import Request
from starlette.requests import ClientDisconnect

from loopml.core.errors import (
    MalformedRequestError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)

_log = logging.getLogger("loopml.api.inference")

JSON = "application/json"
#: The content type of an Open Inference Protocol body with binary tensor data.
OCTETS = "application/octet-stream"


async def read(request: Request, limit: int, *, kinds: Collection[str] = (JSON,)) -> bytes:
    """The body's bytes, when its Content-Type is one of ``kinds`` (or none is given) and it
    is not over ``limit`` bytes.

    Raises:
        UnsupportedMediaTypeError: Another content type (415).
        PayloadTooLargeError: Over the limit, declared or streamed (413).
        MalformedRequestError: The body is empty (400).
        ClientDisconnect: The client left before sending the whole body (logged here, in one
            line).
    """
    kind = request.headers.get("content-type", "")
    if kind.split(";")[0].strip().lower() not in (*kinds, ""):
        raise UnsupportedMediaTypeError(
            f"The body must be {' or '.join(kinds)} (the Content-Type header); got {kind!r}."
        )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(
            f"The body is {int(declared):,} bytes; the limit here is {limit:,} bytes. "
            "Send fewer rows per request (or use /predict/batch).",
        )
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLargeError(f"The body is over the limit of {limit:,} bytes.")
            chunks.append(chunk)
    except ClientDisconnect:
        _log.warning(
            "%s: the client disconnected after %d of %s body bytes; nothing was predicted",
            request.url.path,
            size,
            declared or "?",
        )
        raise
    raw = b"".join(chunks)
    if not raw:
        raise MalformedRequestError("The body is empty; send JSON with the rows to predict.")
    return raw


def parse_json(raw: bytes) -> Any:
    """``raw`` parsed as JSON.

    Raises:
        MalformedRequestError: It is not JSON (400).
    """
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedRequestError(f"The body is not valid JSON: {exc}.") from None
