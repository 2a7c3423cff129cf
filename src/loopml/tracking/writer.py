"""Buffered metric writes: ``log_metric`` appends to memory; a background thread writes the
buffer in one transaction every ``flush_interval`` seconds (or sooner when it grows large).

Nothing is lost on a normal exit (``atexit`` flushes), on an exception (the run's context
manager flushes before recording the failure) or on SIGTERM (the SDK turns it into
``SystemExit``, which unwinds through the same paths). A write that fails because the store
is unavailable keeps its points in the buffer and is retried; :meth:`MetricWriter.flush`
raises if they still cannot be written.

Points are validated when they are logged, so a batch should never hold a point the store
refuses. If one does anyway (a run purged by another process while its points were
buffered, a value a backend refuses; through a server also a run ended elsewhere or a token
that may not write), the store rejects the batch with
:class:`~loopml.core.errors.InvalidArgumentError` or
:class:`~loopml.core.errors.NotFoundError` (a server also with
:class:`~loopml.core.errors.ConflictError` or an access error, which refuse a whole run's
points): the writer then writes run by run and halves the
failing part until the refused points stand alone, writes every other point, and reports the
refused ones (an error in the log, and :attr:`MetricWriter.rejected`). One bad point never
costs the others.

A writer made with ``keyed=True`` (the remote SDK's, whose sink is a server over HTTP) gives
each batch an idempotency key when it takes it from the buffer, and a batch that failed is
written again as it was, with the same key, before anything newer: a batch the server
applied but whose answer was lost is then applied once, however many times it is sent.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import uuid
import weakref
from collections.abc import Iterable, Sequence
from typing import Protocol

from loopml.core.entities import MetricPoint
from loopml.core.errors import (
    ConflictError,
    InvalidArgumentError,
    LoopmlError,
    NotFoundError,
    PermissionDeniedError,
    StoreError,
    UnauthenticatedError,
)
from loopml.core.ids import RunId

log = logging.getLogger(__name__)

#: Points that wake the writer early instead of waiting for the interval.
WAKE_AT = 20_000
#: Largest batch written in one transaction.
MAX_BATCH = 50_000
_RETRY_DELAYS = (0.05, 0.2, 0.5, 1.0, 2.0)
#: Refused points kept for :attr:`MetricWriter.rejected` (the newest).
MAX_REJECTED = 1000
#: Errors that refuse a whole run's points: the run is gone, or ended (a server checks), or
#: the caller may not write (a server's token).
_RUN_REFUSALS = (NotFoundError, ConflictError, PermissionDeniedError, UnauthenticatedError)
#: Errors that mean "the store refuses these points", not "the store is unavailable".
_REFUSALS = (InvalidArgumentError, *_RUN_REFUSALS)

Item = tuple[RunId, MetricPoint]
#: A batch taken from the buffer: its idempotency key (None when the writer is not keyed).
Batch = tuple[str | None, list[Item]]


class MetricSink(Protocol):
    """Where a writer's batches go: a tracking store, or the remote SDK's server."""

    @property
    def url(self) -> str:
        """Where the points go (for messages)."""

    def log_metrics(
        self, points: Sequence[tuple[RunId, MetricPoint]], *, batch_key: str | None = None
    ) -> object:
        """Write ``points`` in one transaction (once per ``batch_key``, when given)."""


_writers: weakref.WeakSet[MetricWriter] = weakref.WeakSet()


class MetricWriter:
    """Buffers metric points of any number of runs and writes them in batches.

    Args:
        store: Where the points go.
        interval: Seconds between background writes.
        keyed: Give each batch an idempotency key (see the module docstring).
    """

    def __init__(self, store: MetricSink, *, interval: float, keyed: bool = False) -> None:
        self._store = store
        self._interval = interval
        self._keyed = keyed
        self._pending: list[tuple[RunId, MetricPoint]] = []
        self._unacked: list[Batch] = []  # taken, not written: sent again first, as they were
        self._lock = threading.Lock()  # guards _pending and _thread
        self._write_lock = threading.Lock()  # one transaction at a time, in order
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._rejected: list[tuple[RunId, MetricPoint, str]] = []
        _writers.add(self)

    @property
    def pending(self) -> int:
        """How many points wait to be written (in this process)."""
        if self._pid != os.getpid():
            return 0
        return len(self._pending) + sum(len(items) for _, items in self._unacked)

    @property
    def rejected(self) -> list[tuple[RunId, MetricPoint, str]]:
        """Points the store refused, with the reason (the newest :data:`MAX_REJECTED`).

        Each was reported when it was refused; every other point of its batch was written.
        """
        return list(self._rejected)

    def add(self, run_id: RunId, point: MetricPoint) -> None:
        """Buffer one point (validated by the caller)."""
        self.add_many(((run_id, point),))

    def add_many(self, items: Iterable[tuple[RunId, MetricPoint]]) -> None:
        """Buffer several points."""
        if self._pid != os.getpid():
            self._after_fork()
        with self._lock:  # the writer thread swaps the list: extend under the same lock
            self._pending.extend(items)
            size = len(self._pending)
        if self._thread is None:
            self._start()
        if size >= WAKE_AT:
            self._wake.set()

    def flush(self) -> None:
        """Write every buffered point now, in the caller's thread (all runs, in log order).

        Raises:
            StoreError: The points could not be written after retries; they stay buffered.
        """
        self._drain(retry=True)

    def close(self) -> None:
        """Flush and stop the background thread."""
        self._closed = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)
        self._drain(retry=True)

    # -- internals -------------------------------------------------------------------------

    def _after_fork(self) -> None:
        """In a forked child: the parent's thread is not here and its points are its own."""
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._pending = []
        self._unacked = []
        self._thread = None

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(
                target=self._loop, name="loopml-metric-writer", daemon=True
            )
            self._thread.start()

    def _loop(self) -> None:
        failures = 0
        while not self._closed:
            delay = (
                self._interval
                if failures == 0
                else _RETRY_DELAYS[min(failures, len(_RETRY_DELAYS)) - 1]
            )
            self._wake.wait(delay)
            self._wake.clear()
            try:
                self._drain(retry=False)
                failures = 0
            except Exception as exc:  # the thread must survive: the points stay buffered
                failures += 1
                if failures == 1 or failures % 20 == 0:
                    log.warning(
                        "loopml could not write metrics yet (%s: %s); will retry",
                        type(exc).__name__,
                        exc,
                    )

    def _key(self) -> str | None:
        return uuid.uuid4().hex if self._keyed else None

    def _take(self) -> Batch | None:
        with self._lock:
            if self._unacked:
                return self._unacked.pop(0)
            items, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
        return (self._key(), items) if items else None

    def _restore(self, batches: list[Batch]) -> None:
        """Put batches that were not written back in front, with their keys."""
        with self._lock:
            self._unacked[:0] = [batch for batch in batches if batch[1]]

    def _send(self, key: str | None, items: list[Item]) -> None:
        if key is None:
            self._store.log_metrics(items)
        else:
            self._store.log_metrics(items, batch_key=key)

    def _drain(self, *, retry: bool) -> None:
        with self._write_lock:
            while True:
                batch = self._take()
                if batch is None:
                    return
                self._write(batch, retry=retry)

    def _write(self, batch: Batch, *, retry: bool) -> None:
        delays = _RETRY_DELAYS if retry else ()
        attempt = 0
        while True:
            try:
                self._send(*batch)
                return
            except _REFUSALS:
                self._write_around_refusals(batch[1])
                return
            except BaseException as exc:
                if not isinstance(exc, LoopmlError) or attempt >= len(delays):
                    self._restore([batch])  # keep every point: nothing logged is lost
                    if isinstance(exc, LoopmlError):
                        raise StoreError(
                            f"{len(batch[1])} metric points could not be written to "
                            f"{self._store.url}: {exc}. They are kept in memory and retried; "
                            "fix the store and call flush() again."
                        ) from exc
                    raise
                threading.Event().wait(delays[attempt])
                attempt += 1

    def _write_around_refusals(self, batch: list[Item]) -> None:
        """Write every point of ``batch`` the store takes; report and drop the ones it refuses.

        Points are written run by run; a run's part that is refused is halved until the
        refused points stand alone (a few dozen transactions for one bad point in 50,000).
        If the store fails otherwise meanwhile, the points not yet written go back to the
        buffer and the error propagates, as for any failed write.
        """
        by_run: dict[RunId, list[Item]] = {}
        for item in batch:
            by_run.setdefault(item[0], []).append(item)
        # a stack: the first run's points on top; each part its own batch with its own key
        todo: list[Batch] = [(self._key(), part) for part in reversed(by_run.values())]
        refused: dict[RunId, list[tuple[MetricPoint, str]]] = {}
        written = 0
        try:
            while todo:
                key, part = todo[-1]
                try:
                    self._send(key, part)
                    written += len(part)
                except _RUN_REFUSALS as exc:  # none of this run's points can go
                    refused.setdefault(part[0][0], []).extend((p, str(exc)) for _, p in part)
                except InvalidArgumentError as exc:
                    if len(part) == 1:
                        refused.setdefault(part[0][0], []).append((part[0][1], str(exc)))
                    else:
                        middle = len(part) // 2
                        todo[-1:] = [(self._key(), part[middle:]), (self._key(), part[:middle])]
                        continue
                todo.pop()
        except BaseException:
            self._restore(list(reversed(todo)))
            raise
        finally:
            self._report(refused, written=written)

    def _report(self, refused: dict[RunId, list[tuple[MetricPoint, str]]], written: int) -> None:
        for run_id, points in refused.items():
            first, reason = points[0]
            log.error(
                "loopml could not write %d metric point(s) of run %s, which the store refused "
                "(first: %r at step %d, value %r): %s. The other %d point(s) of the batch were "
                "written; see MetricWriter.rejected for the refused ones.",
                len(points),
                run_id,
                first.key,
                first.step,
                first.value,
                reason,
                written,
            )
            with self._lock:
                self._rejected.extend((run_id, point, why) for point, why in points)
                del self._rejected[:-MAX_REJECTED]


def flush_all_writers() -> None:
    """Flush every live writer in this process (used at exit)."""
    for writer in list(_writers):
        try:
            writer.close()
        except Exception as exc:  # report, never hide: the points stay in memory
            log.error(
                "loopml lost the chance to write %d metric points at exit: %s", writer.pending, exc
            )


atexit.register(flush_all_writers)
