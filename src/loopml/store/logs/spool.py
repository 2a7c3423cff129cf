"""The durable local spool of predictions: :class:`PredictionLog`.

``append`` puts a record into a bounded in-memory queue and returns at once; a daemon
thread writes the queue to the current *segment* of the spool folder as JSON Lines (one
record per line, :mod:`orjson`) at least every ``flush_interval`` seconds, fsyncs at most
that often, and starts a new segment once the current one reaches ``segment_bytes``.
:func:`~loopml.store.logs.compaction.compact` later moves sealed segments into Parquet.

Guarantees:

- a crash of the process loses at most the records appended in the last
  ``flush_interval`` seconds (the writer drains the queue at that pace); a crash of the
  machine loses at most about twice that (fsync pace);
- :meth:`PredictionLog.flush` returns once everything appended before it is on disk and
  fsynced; :meth:`PredictionLog.close` (also run at exit) flushes and seals the segment;
- memory is bounded: at most ``max_pending`` records wait in the queue (plus the batch
  being written). When the queue is full, ``append`` returns False, the drop is counted in
  :meth:`PredictionLog.stats` and a warning is logged (at most once every 10 seconds);
  ``append_many(..., wait=True)`` writes what does not fit itself instead (backpressure);
- after :func:`os.fork` the child starts empty, with its own thread and segment.

Segment files, in the spool folder::

    seg-<ms>-<pid>-<token>-<seq>.jsonl.new    being created (empty)
    seg-<ms>-<pid>-<token>-<seq>.jsonl.open   being written; flock-ed by its writer
    seg-<ms>-<pid>-<token>-<seq>.jsonl        sealed: ready for compaction

An ``.open`` segment whose lock is free belongs to a writer that died; compaction takes it
(its last line may be torn; that line is skipped and counted). The folder itself is held
(a shared lock on ``owner.lock``, :mod:`loopml.store.logs.owner`) from the first segment
until :meth:`PredictionLog.close`, so a folder left by a dead process is found and adopted
(:mod:`loopml.store.logs.orphans`).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
import threading
import time
import uuid
import weakref
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

from loopml.core.errors import InvalidArgumentError, StoreError
from loopml.store.logs.owner import hold_owner, try_lock
from loopml.store.logs.records import PredictionRecord

log = logging.getLogger(__name__)

SEALED_SUFFIX = ".jsonl"
OPEN_SUFFIX = ".jsonl.open"
NEW_SUFFIX = ".jsonl.new"
SEGMENT_PREFIX = "seg-"

#: Records serialized and written per ``os.write``.
CHUNK = 4096
#: Seconds between two warnings of the same kind.
WARN_EVERY = 10.0
_RETRY_DELAYS = (0.05, 0.2, 0.5, 1.0, 2.0)
_DUMPS_OPTIONS = orjson.OPT_APPEND_NEWLINE | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS

_logs: weakref.WeakSet[PredictionLog] = weakref.WeakSet()


def json_default(value: Any) -> Any:
    """Make the values orjson does not know natively JSON-ready (or refuse them)."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    item = getattr(value, "item", None)  # NumPy/pandas scalars
    if callable(item):
        return item()
    raise TypeError(f"{type(value).__name__} is not JSON-ready")


def encode_record(record: PredictionRecord) -> bytes:
    """Return ``record`` as one JSON line (with its trailing newline).

    Raises:
        TypeError: A value of the record cannot be written as JSON.
    """
    return orjson.dumps(record, default=json_default, option=_DUMPS_OPTIONS)


class PredictionLog:
    """Logs predictions off the request path to a durable spool of JSON Lines segments.

    Args:
        spool_dir: Folder of the segments (created when missing). One folder may be shared
            by several processes: every process writes its own segments.
        flush_interval: Seconds between background writes (and the most a crash loses).
        max_pending: Most records waiting in memory; beyond it ``append`` drops and counts.
        segment_bytes: Size at which the current segment is sealed and a new one started.

    Raises:
        InvalidArgumentError: A parameter is out of range.

    Example:
        >>> import tempfile
        >>> plog = PredictionLog(Path(tempfile.mkdtemp()), flush_interval=0.5)
        >>> rec = PredictionRecord(
        ...     prediction_id="0" * 32, model="churn", version=3, route="champion",
        ...     at=1_700_000_000_000, latency_ms=1.5, inputs={"age": 41}, output=1,
        ... )
        >>> plog.append(rec)
        True
        >>> plog.close(); plog.stats()["written"]
        1
    """

    _owner: int | None

    def __init__(
        self,
        spool_dir: Path,
        *,
        flush_interval: float = 1.0,
        max_pending: int = 100_000,
        segment_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        if not flush_interval > 0:
            raise InvalidArgumentError(
                f"The 'flush_interval' parameter of PredictionLog must be a number of seconds "
                f"> 0. Got {flush_interval!r} instead."
            )
        if max_pending < 1:
            raise InvalidArgumentError(
                f"The 'max_pending' parameter of PredictionLog must be an int >= 1. "
                f"Got {max_pending!r} instead."
            )
        if segment_bytes < 1:
            raise InvalidArgumentError(
                f"The 'segment_bytes' parameter of PredictionLog must be an int >= 1. "
                f"Got {segment_bytes!r} instead."
            )
        self.spool_dir = Path(spool_dir)
        self.flush_interval = float(flush_interval)
        self.max_pending = int(max_pending)
        self.segment_bytes = int(segment_bytes)
        self._wake_at = max(1, min(self.max_pending // 4, 16_384))
        self._closed = False
        self._reset_state()
        _logs.add(self)

    # -- the request path ------------------------------------------------------------------

    def append(self, record: PredictionRecord) -> bool:
        """Queue one record for the spool; never waits for I/O.

        Returns:
            True when queued; False when dropped (queue full, or the log is closed). Drops
            are counted in :meth:`stats` and logged.
        """
        if self._pid != os.getpid():
            self._after_fork()
        with self._lock:
            pending = self._pending
            if len(pending) >= self.max_pending or self._closed:
                self._dropped += 1
                accepted = False
            else:
                pending.append(record)
                self._appended += 1
                accepted = True
        if not accepted:
            self._warn_drop(1)
            return False
        if self._thread is None:
            self._start()
        if len(pending) >= self._wake_at:
            self._wake.set()
        return True

    def append_many(self, records: Iterable[PredictionRecord], *, wait: bool = False) -> int:
        """Queue several records; return how many were accepted.

        The ones that do not fit in the queue are dropped, counted and logged like in
        :meth:`append`; with ``wait`` (from a thread that may block, never the event loop)
        the caller writes them to the spool itself instead (backpressure): none is dropped.
        """
        if self._pid != os.getpid():
            self._after_fork()
        items = list(records)
        with self._lock:
            room = 0 if self._closed else max(0, self.max_pending - len(self._pending))
            accepted = min(room, len(items))
            self._pending.extend(items[:accepted] if accepted < len(items) else items)
            self._appended += accepted
            rest = items[accepted:] if wait and not self._closed else []
            self._appended += len(rest)
            self._dropped += len(items) - accepted - len(rest)
            size = len(self._pending)
        if self._thread is None and (accepted or rest):
            self._start()  # also syncs what the caller writes below
        if rest:
            with self._write_lock:
                with self._lock:
                    self._in_flight += len(rest)
                self._write_batch(rest)
            return len(items)
        if accepted < len(items):
            self._warn_drop(len(items) - accepted)
        if size >= self._wake_at:
            self._wake.set()
        return accepted

    # -- control -----------------------------------------------------------------------------

    def flush(self) -> None:
        """Block until every record appended so far is written and fsynced.

        Raises:
            StoreError: The spool cannot be written (the records stay queued and are retried).
        """
        if self._pid != os.getpid():
            self._after_fork()
        self._drain(force_sync=True)

    def rotate(self) -> None:
        """Write what is pending and seal the current segment, so that compaction can take
        it while the log goes on (the next record opens a new segment)."""
        self.flush()
        with self._write_lock:
            self._seal()

    def close(self) -> None:
        """Flush, seal the current segment and stop the thread. Safe to call twice.

        Raises:
            StoreError: The last records could not be written.
        """
        if self._pid != os.getpid():
            self._after_fork()
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)
        try:
            self._drain(force_sync=True)
        finally:
            with self._write_lock:
                self._seal()
                owner, self._owner = self._owner, None
                if owner is not None:
                    os.close(owner)  # the folder may now be adopted

    def stats(self) -> dict[str, int]:
        """Counters of this log in this process.

        Returns:
            ``appended`` (accepted by append), ``written`` (on disk), ``dropped`` (refused:
            queue full or closed), ``rejected`` (not JSON-ready, skipped by the writer),
            ``pending`` (waiting in memory), ``segments`` (segments started) and ``bytes``.
        """
        if self._pid != os.getpid():
            self._after_fork()
        with self._lock:
            return {
                "appended": self._appended,
                "written": self._written,
                "dropped": self._dropped,
                "rejected": self._rejected,
                "pending": len(self._pending) + self._in_flight,
                "segments": self._segments,
                "bytes": self._bytes,
            }

    # -- state -------------------------------------------------------------------------------

    def _reset_state(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Lock()  # guards _pending and the counters
        self._write_lock = threading.Lock()  # one writer of the segment at a time
        self._wake = threading.Event()
        self._pending: list[PredictionRecord] = []
        self._thread: threading.Thread | None = None
        self._appended = self._written = self._dropped = self._rejected = 0
        self._in_flight = self._segments = self._bytes = 0
        self._fd: int | None = None
        self._owner = None  # the shared lock on the folder's owner.lock (see the class)
        self._segment: Path | None = None
        self._offset = 0
        self._dirty = False
        self._last_sync = time.monotonic()
        self._token = uuid.uuid4().hex[:8]
        self._warned: dict[str, float] = {}

    def _after_fork(self) -> None:
        """In a forked child: the parent's queue, thread and segment are not ours."""
        if self._pid == os.getpid():
            return
        for fd in (self._fd, self._owner):  # our copies: the parent keeps its locks
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._reset_state()

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None or self._closed:
                return
            self._thread = threading.Thread(
                target=self._loop, name="loopml-prediction-log", daemon=True
            )
            self._thread.start()

    # -- the writer --------------------------------------------------------------------------

    def _loop(self) -> None:
        failures = 0
        while True:
            delay = (
                self.flush_interval
                if failures == 0
                else min(self.flush_interval, _RETRY_DELAYS[min(failures, 5) - 1])
            )
            self._wake.wait(delay)
            self._wake.clear()
            if self._closed:
                return  # close() drains in its own thread
            try:
                self._drain(force_sync=False)
                failures = 0
            except Exception as exc:  # the thread must survive; the records stay queued
                failures += 1
                self._warn("write", "%s; will retry", exc)

    def _drain(self, *, force_sync: bool) -> None:
        with self._write_lock:
            while True:
                with self._lock:
                    batch, self._pending = self._pending, []
                    self._in_flight = len(batch)
                if not batch:
                    break
                self._write_batch(batch)
            fd = self._fd
            now = time.monotonic()
            if (
                fd is not None
                and self._dirty
                and (force_sync or now - self._last_sync >= self.flush_interval)
            ):
                try:
                    os.fsync(fd)
                except OSError as exc:
                    raise StoreError(
                        f"Could not sync the prediction spool segment {self._segment}: {exc}. "
                        "Check the disk of the spool folder."
                    ) from exc
                self._dirty = False
                self._last_sync = now

    def _write_batch(self, batch: list[PredictionRecord]) -> None:
        """Append ``batch`` to the segment; on failure requeue what was not written."""
        for start in range(0, len(batch), CHUNK):
            chunk = batch[start : start + CHUNK]
            lines: list[bytes] = []
            for record in chunk:
                try:
                    lines.append(encode_record(record))
                except TypeError as exc:
                    with self._lock:
                        self._rejected += 1
                    self._warn("reject", "a record is not JSON-ready and was skipped: %s", exc)
            try:
                self._write_bytes(b"".join(lines))
            except BaseException:
                with self._lock:
                    self._pending[:0] = batch[start:]
                    self._in_flight = 0
                raise
            with self._lock:
                self._written += len(lines)
                self._in_flight -= len(chunk)
            if self._offset >= self.segment_bytes:
                self._seal()

    def _write_bytes(self, data: bytes) -> None:
        if not data:
            return
        if self._fd is None:
            self._open_segment()
        fd, start = self._fd, self._offset
        assert fd is not None, "opened above"
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(fd, view) :]
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, start)  # no torn line, no half-written duplicate on retry
            raise StoreError(
                f"Could not write to the prediction spool segment {self._segment}: {exc}. "
                "Free space on that disk or point the spool elsewhere; the records stay "
                "queued (up to max_pending) and are retried."
            ) from exc
        self._offset += len(data)
        self._dirty = True
        with self._lock:
            self._bytes += len(data)

    def _open_segment(self) -> None:
        if self._owner is None:
            self._owner = hold_owner(self.spool_dir)
        try:
            stem = (
                f"{SEGMENT_PREFIX}{int(time.time() * 1000):013d}-{os.getpid()}-"
                f"{self._token}-{self._segments:06d}"
            )
            new = self.spool_dir / (stem + NEW_SUFFIX)
            fd = os.open(new, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
            try_lock(fd)  # a fresh file: nobody else can hold it
            path = self.spool_dir / (stem + OPEN_SUFFIX)
            os.replace(new, path)  # visible to compaction only once locked
        except OSError as exc:
            raise StoreError(
                f"Could not create a segment in the prediction spool folder {self.spool_dir}: "
                f"{exc}. Make the folder writable by this process or choose another one."
            ) from exc
        self._fd, self._segment, self._offset, self._dirty = fd, path, 0, False
        with self._lock:
            self._segments += 1

    def _seal(self) -> None:
        """Sync, rename ``.open`` to ``.jsonl`` and release the current segment."""
        fd, path = self._fd, self._segment
        if fd is None or path is None:
            return
        self._fd = self._segment = None
        try:
            if self._dirty:
                os.fsync(fd)
            os.replace(path, path.with_name(path.name[: -len(OPEN_SUFFIX)] + SEALED_SUFFIX))
        except OSError as exc:  # compaction still takes it once our lock is gone
            self._warn("seal", "could not seal %s: %s", path, exc)
        finally:
            self._dirty = False
            with contextlib.suppress(OSError):
                os.close(fd)

    # -- reporting ---------------------------------------------------------------------------

    def _warn_drop(self, count: int) -> None:
        with self._lock:
            closed, dropped = self._closed, self._dropped
        reason = (
            "the log is closed"
            if closed
            else f"the queue is full (max_pending={self.max_pending}): the spool at "
            f"{self.spool_dir} cannot keep up; use a faster disk or a larger max_pending"
        )
        self._warn(
            "drop", "dropped %d prediction record(s) (%d in total): %s", count, dropped, reason
        )

    def _warn(self, kind: str, message: str, *args: object) -> None:
        now = time.monotonic()
        last = self._warned.get(kind)
        if last is not None and now - last < WARN_EVERY:
            return
        self._warned[kind] = now
        log.warning("loopml prediction log: " + message, *args)


def close_all_logs() -> None:
    """Close every live prediction log of this process (run at exit)."""
    for plog in list(_logs):
        try:
            plog.close()
        except Exception as exc:  # report, never hide
            log.error(
                "loopml could not write %d prediction records to %s at exit: %s",
                plog.stats()["pending"],
                plog.spool_dir,
                exc,
            )


def _after_fork_in_child() -> None:
    for plog in list(_logs):
        plog._after_fork()


atexit.register(close_all_logs)
if sys.platform != "win32":
    os.register_at_fork(after_in_child=_after_fork_in_child)
