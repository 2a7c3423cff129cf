"""The remote SDK's HTTP client.

One :class:`Transport` per server URL and token: a pooled, keep-alive ``httpx.Client`` that
sends the token as ``Authorization: Bearer`` and the SDK's name as ``User-Agent`` (the audit
log's client). A request that may be repeated (a read, or a write sent with an idempotency
key, which the server answers once) is retried while the server cannot be reached or answers
502, 503 or 504, for up to ``retry_for_s`` seconds: a server restarting mid-run loses no
acknowledged write and applies none twice. An error answer is raised as the exception the
embedded store would have raised (its ``type`` and message come from the server).
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Hashable, Iterable, Mapping
from typing import Any, TypeVar, cast

import httpx
from pydantic import TypeAdapter

from loopml.core import errors as E  # noqa: N812
from loopml.core.origin import current_origin

__all__ = ["API_PREFIX", "Transport", "decode", "new_idempotency_key"]

T = TypeVar("T")
API_PREFIX = "/api/v1"
_RETRY_STATUS = frozenset({502, 503, 504})


@functools.cache
def _adapter(kind: Any) -> TypeAdapter[Any]:
    return TypeAdapter(kind)


def decode(kind: type[T], data: Any) -> T:
    """``data`` (parsed JSON) as ``kind``: a core dataclass, ``list[Run]``, a dict..."""
    value: T = _adapter(cast(Hashable, kind)).validate_python(data)
    return value


def new_idempotency_key() -> str:
    """A fresh key for one write (sent again unchanged on each retry of that write)."""
    return uuid.uuid4().hex


def _error(response: httpx.Response) -> E.LoopmlError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    message = str(body.get("error") or f"HTTP {response.status_code}: {response.text[:300]}")
    kind = getattr(E, str(body.get("type", "")), None)
    if not (isinstance(kind, type) and issubclass(kind, E.LoopmlError)):
        kind = E.StoreError if response.status_code >= 500 else E.LoopmlError
    exc = kind.__new__(kind)
    Exception.__init__(exc, message)  # the message as the server wrote it (no re-formatting)
    return exc


class Transport:
    """Requests to one ``loopml server``.

    Args:
        url: The server's URL (``http://host:5000``); the API is under ``/api/v1``.
        token: The API token (None: a server running with ``--auth none``).
        timeout_s: Seconds to wait for one answer.
        retry_for_s: Seconds to keep retrying a repeatable request while the server is
            unreachable or unavailable.
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout_s: float = 60.0,
        retry_for_s: float = 30.0,
    ) -> None:
        self.url = url.rstrip("/")
        headers: dict[str, str] = {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.retry_for_s = retry_for_s
        self.http = httpx.Client(
            base_url=self.url + API_PREFIX,
            headers=headers,
            timeout=timeout_s,
            limits=httpx.Limits(max_keepalive_connections=8),
        )

    def close(self) -> None:
        """Close the pooled connections."""
        self.http.close()

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | Iterable[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        """Send one request and return its (2xx) answer.

        With ``stream``, the answer's body is not read yet (a download): read it with
        ``iter_raw``/``iter_bytes`` and close the answer.

        Raises:
            LoopmlError: The server's error, as the exception it names.
            StoreError: The server could not be reached (after the retries, when allowed).
        """
        # the program that calls, read at each request: the CLI sets it for its process, so
        # the audit log says loopml-cli for a command's changes and loopml-sdk otherwise
        sent = {"User-Agent": current_origin().client, **(headers or {})}
        if idempotency_key is not None:
            sent["Idempotency-Key"] = idempotency_key
        repeatable = method in ("GET", "HEAD", "PUT", "DELETE") or idempotency_key is not None
        deadline = time.monotonic() + (self.retry_for_s if repeatable else 0.0)
        pause = 0.05
        while True:
            try:
                built = self.http.build_request(
                    method, path, params=params, json=json, content=content, headers=sent
                )
                response = self.http.send(built, stream=stream)
            except httpx.TransportError as exc:
                if time.monotonic() >= deadline:
                    raise E.StoreError(
                        f"The loopml server at {self.url} could not be reached ({exc}). Is "
                        "`loopml server` running there, and is LOOPML_SERVER_URL right?"
                    ) from exc
            else:
                if response.status_code < 400:
                    return response
                if stream:
                    response.read()
                    response.close()
                if response.status_code not in _RETRY_STATUS or time.monotonic() >= deadline:
                    raise _error(response)
            time.sleep(pause)
            pause = min(pause * 2, 1.0)

    def get(self, path: str, kind: type[T], **params: Any) -> T:
        """``GET path`` with query ``params`` (None values left out), decoded as ``kind``."""
        query = {k: v for k, v in params.items() if v is not None}
        value: T = decode(kind, self.request("GET", path, params=query).json())
        return value

    def post(
        self,
        path: str,
        kind: type[T],
        body: Any = None,
        *,
        idempotency_key: str | None = None,
    ) -> T:
        """``POST path`` with a JSON ``body``, decoded as ``kind``."""
        answer = self.request("POST", path, json=body, idempotency_key=idempotency_key)
        value: T = decode(kind, answer.json() if answer.content else None)
        return value
