"""One :class:`~loopml.store.remote.Transport` per server and token in a process, shared by
every :class:`~loopml.client.LoopmlClient` (and the fluent SDK's) that talks to that server:
one pool of keep-alive connections, however many clients a program makes."""

from __future__ import annotations

import threading

from loopml.store.remote import Transport

__all__ = ["close_shared_transports", "shared_transport"]

_lock = threading.Lock()
_transports: dict[tuple[str, str | None], Transport] = {}


def shared_transport(url: str, token: str | None) -> Transport:
    """The process's transport to ``url`` with ``token`` (made on first use)."""
    key = (url.rstrip("/"), token)
    with _lock:
        transport = _transports.get(key)
        if transport is None:
            transport = _transports[key] = Transport(url, token)
        return transport


def close_shared_transports() -> None:
    """Close every shared transport (the next client makes a new one). Clients still holding
    one can no longer send with it: call this when they are done (tests, a notebook's end)."""
    with _lock:
        transports = list(_transports.values())
        _transports.clear()
    for transport in transports:
        transport.close()
