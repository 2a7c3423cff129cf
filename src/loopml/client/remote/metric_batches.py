"""The remote SDK's metric batches: the :class:`~loopml.tracking.MetricWriter` sink that sends
a batch as ``POST /metric-batches`` with its idempotency key, and one keyed writer per server
connection per process."""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Sequence

import orjson

from loopml.core.entities import MetricPoint
from loopml.core.ids import RunId
from loopml.store.remote import Transport, new_idempotency_key
from loopml.tracking import MetricWriter

__all__ = ["BatchSink", "writer_for"]

_JSON = {"Content-Type": "application/json"}
_NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}


def _wire(value: float) -> float | str:
    """A metric value as JSON: a number, or the strings JSON needs for NaN and infinities."""
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else _NON_FINITE[value]


class BatchSink:
    """Where the remote writer's batches go: ``POST /metric-batches`` with their key (a
    fresh one when none is given).

    Args:
        transport: The server's transport.
    """

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.url = transport.url

    def log_metrics(
        self, points: Sequence[tuple[RunId, MetricPoint]], *, batch_key: str | None = None
    ) -> bool:
        """Send ``points``; False when the server had applied this key's batch before."""
        rows = [(r, p.key, _wire(p.value), p.step, p.timestamp) for r, p in points]
        answer = self.transport.request(
            "POST",
            "/metric-batches",
            content=orjson.dumps({"points": rows}),
            headers=_JSON,
            idempotency_key=batch_key or new_idempotency_key(),
        )
        return bool(answer.json()["applied"])


_writers_lock = threading.Lock()
_writers: weakref.WeakKeyDictionary[Transport, MetricWriter] = weakref.WeakKeyDictionary()


def writer_for(transport: Transport, interval: float) -> MetricWriter:
    """One keyed writer per server connection per process, shared by every client on it (as
    the embedded SDK shares one per store): any of them reading sees what all have logged."""
    with _writers_lock:
        writer = _writers.get(transport)
        if writer is None:
            writer = _writers[transport] = MetricWriter(
                BatchSink(transport), interval=interval, keyed=True
            )
        return writer
