"""Connection limits of the model server: slow, idle and oversized clients cannot hold it.

uvicorn times out idle keep-alive connections (``timeout_keep_alive``), answers 503 beyond
``limit_concurrency`` and bounds h11's incomplete events, but it has no deadline for the
headers or the body of a request, holds a connection that never sends a byte forever, and
its httptools parser takes headers of any size. :class:`LimitedHttpToolsProtocol` adds:

- a *header deadline*: from the connection (or the first byte of the next request on a
  kept-alive one) until the end of the headers; then 408 and the connection is closed;
- a *body deadline*: from the end of the headers until the end of the body; then 408;
- a *header size limit*: past it, 431 and the connection is closed;
- a *connection limit*: when a new connection would pass ``max_connections``, the one that
  has waited longest without sending whole headers (idle or half-sent) is closed to make
  room; when every connection is busy with a request, the new one gets 503. File
  descriptors never run out, so real requests keep being served during a slow-client flood.

``loopml serve`` passes the limits to its worker processes in ``LOOPML_SERVE_CONFIG``
(``limits``); :func:`uvicorn_options` turns them into uvicorn's settings.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import asdict, dataclass
from typing import Any

import orjson
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from loopml.core.errors import InvalidArgumentError
from loopml.serving.config import (
    CONFIG_ENV,
    DEFAULT_BODY_TIMEOUT_S,
    DEFAULT_HEADER_TIMEOUT_S,
    DEFAULT_KEEP_ALIVE_S,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_HEADER_BYTES,
)

_log = logging.getLogger("loopml.api.limits")
#: File descriptors kept free for everything but client connections (stores, logs, models).
_FD_HEADROOM = 64

_IDLE, _HEADERS, _BODY, _BUSY = "idle", "headers", "body", "busy"
_REASONS = {
    408: b"Request Timeout",
    431: b"Request Header Fields Too Large",
    503: b"Service Unavailable",
}


def _default_max_connections() -> int:
    try:
        import resource

        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):  # pragma: no cover - no rlimit (Windows)
        return 1000
    if soft == resource.RLIM_INFINITY:
        return 10_000
    return max(16, min(10_000, int(soft) - _FD_HEADROOM))


@dataclass(frozen=True)
class ConnectionLimits:
    """Deadlines and sizes of the server's connections.

    Attributes:
        header_timeout_s: Most seconds from a connection (or the next request's first byte)
            to the end of its headers (408 after).
        body_timeout_s: Most seconds from the end of the headers to the end of the body.
        keep_alive_s: Seconds an idle kept-alive connection stays open (uvicorn's
            ``timeout_keep_alive``).
        max_header_bytes: Largest request line plus headers (431 beyond).
        max_connections: Most open connections per worker process (default: the file
            descriptor limit less a reserve of 64, at most 10,000).
    """

    header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S
    keep_alive_s: float = DEFAULT_KEEP_ALIVE_S
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    max_connections: int = DEFAULT_MAX_CONNECTIONS  # 0: from the file descriptor limit

    def __post_init__(self) -> None:
        for name in ("header_timeout_s", "body_timeout_s", "keep_alive_s"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and value > 0):
                raise InvalidArgumentError(
                    f"The '{name}' connection limit must be a number of seconds > 0. "
                    f"Got {value!r} instead."
                )
        if self.max_header_bytes < 1024:
            raise InvalidArgumentError(
                "The 'max_header_bytes' connection limit must be at least 1024 bytes. "
                f"Got {self.max_header_bytes!r} instead."
            )
        if self.max_connections < 0:
            raise InvalidArgumentError(
                "The 'max_connections' connection limit must be >= 1 (or 0: from the file "
                f"descriptor limit). Got {self.max_connections!r} instead."
            )
        if self.max_connections == 0:
            object.__setattr__(self, "max_connections", _default_max_connections())

    def to_options(self) -> dict[str, Any]:
        """The limits as JSON-ready options (for ``LOOPML_SERVE_CONFIG``)."""
        return asdict(self)


def limits_from_environment() -> ConnectionLimits:
    """The limits ``loopml serve`` put in ``LOOPML_SERVE_CONFIG`` (defaults without it)."""
    raw = os.environ.get(CONFIG_ENV)
    options = orjson.loads(raw).get("limits") if raw else None
    return ConnectionLimits(**options) if isinstance(options, dict) else ConnectionLimits()


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header/body deadlines, a header size limit and a
    connection limit (see the module docstring). Subclass it with another ``limits`` to
    change them in-process; workers read them from the environment."""

    limits: ConnectionLimits | None = None
    _env_limits: ConnectionLimits | None = None

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        limits = type(self).limits
        if limits is None:
            if LimitedHttpToolsProtocol._env_limits is None:
                LimitedHttpToolsProtocol._env_limits = limits_from_environment()
            limits = LimitedHttpToolsProtocol._env_limits
        self._limits = limits
        self._phase = _IDLE
        self._since = time.monotonic()
        self._header_bytes = 0
        self._timer: asyncio.TimerHandle | None = None
        self._refused = False

    # -- connections -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self._limits.max_connections and not self._evict():
            super().connection_made(transport)
            self._refuse(503, "The server has too many connections; retry shortly.")
            return
        super().connection_made(transport)
        self._start(_HEADERS, self._limits.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        super().connection_lost(exc)

    def _evict(self) -> bool:
        """Close the connection that waited longest without whole headers; False if none."""
        waiting = [
            c
            for c in self.connections
            if isinstance(c, LimitedHttpToolsProtocol)
            and c._phase in (_IDLE, _HEADERS)
            and not c._refused
        ]
        if not waiting:
            return False
        oldest = min(waiting, key=lambda c: c._since)
        if oldest._phase == _IDLE:  # between requests: a word now would answer the next one
            oldest._refused = True
            oldest._cancel()
            oldest.transport.close()
        else:
            oldest._refuse(503, "The server needed this connection for another client.")
        self.connections.discard(oldest)
        return True

    # -- deadlines ---------------------------------------------------------------------------

    def _start(self, phase: str, seconds: float | None) -> None:
        self._cancel()
        self._phase, self._since = phase, time.monotonic()
        if seconds is not None:
            self._timer = self.loop.call_later(seconds, self._expired, phase)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self, phase: str) -> None:
        self._timer = None
        if self._phase != phase or self.transport is None or self.transport.is_closing():
            return
        what = "headers" if phase == _HEADERS else "body"
        limit = self._limits.header_timeout_s if phase == _HEADERS else self._limits.body_timeout_s
        _log.info("closed a connection whose %s took over %g s", what, limit)
        if self.cycle is not None and self.cycle.response_started:
            self.transport.close()
            return
        self._refuse(408, f"The request's {what} did not arrive within {limit:g} s.")

    def _refuse(self, status: int, message: str) -> None:
        """Answer ``status`` and close the connection, whatever the parser sees next."""
        self._refused = True
        self._cancel()
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True  # the app's reads end, its writes are dropped
            self.cycle.message_event.set()
        body = orjson.dumps({"error": message})
        head = (
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n" % (status, _REASONS[status], len(body))
        )
        self.transport.write(head + body)
        self.transport.close()

    # -- the parser's callbacks ----------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0
        if self._phase != _HEADERS:  # the next request on a kept-alive connection
            self._start(_HEADERS, self._limits.header_timeout_s)

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        if not self._refused:
            super().on_header(name, value)

    def _count(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self._limits.max_header_bytes and not self._refused:
            self._refuse(
                431,
                f"The request line and headers are over {self._limits.max_header_bytes:,} "
                "bytes; send smaller headers.",
            )

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        self._start(_BODY, self._limits.body_timeout_s)
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        self._start(_BUSY, None)
        super().on_message_complete()

    def on_response_complete(self) -> None:
        if self._phase == _BUSY and not self.pipeline:  # else the next request is in
            self._phase, self._since = _IDLE, time.monotonic()
        super().on_response_complete()


def uvicorn_options(limits: ConnectionLimits) -> dict[str, Any]:
    """uvicorn's settings for ``limits``, with the protocol above (httptools, which the
    ``serve`` extra installs). uvicorn's own 503 beyond ``limit_concurrency`` then counts
    requests in progress (connections never pass ``max_connections``)."""
    return {
        "http": LimitedHttpToolsProtocol,
        "timeout_keep_alive": limits.keep_alive_s,
        "limit_concurrency": limits.max_connections + 1,
        "h11_max_incomplete_event_size": limits.max_header_bytes,
    }
