"""Compaction: sealed spool segments become Parquet files in the log store.

Each segment becomes one file per model and UTC day of event time
(``model=<name>/date=<day>/part-<uuid>.parquet``, :mod:`loopml.store.logs.partitions`), with
the columns of :mod:`loopml.store.logs.columns`. The file names derive from the segment's
name, so compacting a segment twice (say, after a crash between writing its Parquet files
and deleting it) overwrites the same files instead of duplicating rows. Each file is written
whole or not at all, and the segment is deleted last.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa

from loopml.core.errors import InvalidArgumentError, StoreError
from loopml.store.artifacts.fs import ObjectFS
from loopml.store.logs.columns import SCHEMA, parse_lines
from loopml.store.logs.owner import try_lock
from loopml.store.logs.partitions import PartitionWriter, partition_key
from loopml.store.logs.spool import (
    NEW_SUFFIX,
    OPEN_SUFFIX,
    SEALED_SUFFIX,
    SEGMENT_PREFIX,
)

log = logging.getLogger(__name__)

__all__ = [
    "CHUNK_LINES",
    "SCHEMA",
    "CompactionReport",
    "compact",
    "compact_spool",
    "parse_lines",
    "parse_segment",
    "partition_key",
    "segment_stem",
]

#: Lines parsed at a time: compaction's memory follows this, not the segment's size.
CHUNK_LINES = 20_000
#: ``.new`` leftovers (a writer died while creating a segment) older than this are removed.
_STALE_NEW_S = 60.0


@dataclass(frozen=True)
class CompactionReport:
    """What one compaction did.

    Attributes:
        segments: Segments moved into the log store (and deleted from the spool).
        rows: Rows written.
        files: Parquet files written.
        skipped_lines: Lines that were not records (a torn last line after a crash).
        busy_segments: Segments left alone because a live writer still holds them.
    """

    segments: int = 0
    rows: int = 0
    files: int = 0
    skipped_lines: int = 0
    busy_segments: int = 0


def compact(spool_dir: Path, logs_url: str, *, older_than_s: float = 0) -> int:
    """Move the closed segments of ``spool_dir`` into Parquet under ``logs_url``.

    A segment is closed when it was sealed (rotated, or its log closed) or when its writer
    died (its lock is free). Segments still being written are left alone.

    Args:
        spool_dir: The spool folder of a :class:`~loopml.store.logs.PredictionLog`.
        logs_url: The log store: a local folder or an fsspec URL (``s3://bucket/logs``).
        older_than_s: Only take segments last modified at least this many seconds ago.

    Returns:
        The number of rows written.

    Raises:
        InvalidArgumentError: ``older_than_s`` is negative.
        StoreError: A segment cannot be read or the log store cannot be written; segments
            already moved stay moved, the failing one stays in the spool.
    """
    return compact_spool(spool_dir, logs_url, older_than_s=older_than_s).rows


def compact_spool(spool_dir: Path, logs_url: str, *, older_than_s: float = 0) -> CompactionReport:
    """Like :func:`compact`, returning a :class:`CompactionReport` with every count."""
    if older_than_s < 0:
        raise InvalidArgumentError(
            f"The 'older_than_s' parameter of compact must be a number of seconds >= 0. "
            f"Got {older_than_s!r} instead."
        )
    spool = Path(spool_dir)
    if not spool.is_dir():
        return CompactionReport()
    store = ObjectFS(logs_url)
    totals = {"segments": 0, "rows": 0, "files": 0, "skipped_lines": 0, "busy_segments": 0}
    now = time.time()
    for path in sorted(spool.glob(f"{SEGMENT_PREFIX}*")):
        name = path.name
        try:
            age = now - path.stat().st_mtime
        except FileNotFoundError:
            continue  # sealed (renamed) or taken by another compactor meanwhile
        if name.endswith(NEW_SUFFIX):
            if age >= _STALE_NEW_S:
                _remove_stale_new(path)
            continue
        if not name.endswith((SEALED_SUFFIX, OPEN_SUFFIX)) or age < older_than_s:
            continue
        done = _compact_segment(path, store)
        if done is None:
            totals["busy_segments"] += 1
            continue
        totals["segments"] += 1
        for key, value in done.items():
            totals[key] += value
    return CompactionReport(**totals)


def segment_stem(name: str) -> str:
    """Return the name of a segment without its state suffix (``.jsonl``, ``.jsonl.open``)."""
    for suffix in (OPEN_SUFFIX, NEW_SUFFIX, SEALED_SUFFIX):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def parse_segment(data: bytes) -> tuple[pa.Table, int]:
    """Parse the bytes of a segment into a table of the log store's columns
    (:func:`~loopml.store.logs.columns.parse_lines`); also return how many lines were skipped.

    A line that is not a complete record (the torn last line of a crashed writer) is
    skipped and counted, never an error.
    """
    lines = data.split(b"\n")
    tail = lines.pop()  # empty when the segment ends with a newline, as a whole one does
    table, skipped = parse_lines(lines)
    return table, skipped + (1 if tail.strip() else 0)


# -- internals -------------------------------------------------------------------------------


def _compact_segment(path: Path, store: ObjectFS) -> dict[str, int] | None:
    """Compact one segment under its lock; None when a live writer holds it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        if not try_lock(fd):
            return None
        try:
            if os.fstat(fd).st_ino != path.stat().st_ino:
                return None  # renamed (sealed) meanwhile: its new name is taken next time
        except FileNotFoundError:
            return None
        partitions = PartitionWriter(segment_stem(path.name), store)
        rows = skipped = 0
        with os.fdopen(os.dup(fd), "rb") as stream:
            for lines, torn in _chunks(stream):  # memory bounded by a chunk, not the segment
                table, bad = parse_lines(lines)
                partitions.add(table)
                rows += table.num_rows
                skipped += bad + torn
        files = partitions.finish()
        if skipped:
            log.warning(
                "loopml compaction skipped %d line(s) of %s that are not whole records "
                "(a writer crashed mid-write)",
                skipped,
                path,
            )
        path.unlink()  # last: a crash before this re-runs into the same file names
        return {"rows": rows, "files": files, "skipped_lines": skipped}
    except OSError as exc:
        raise StoreError(
            f"Could not compact the prediction spool segment {path}: {exc}. It stays in the "
            "spool; fix the cause and run compaction again."
        ) from exc
    finally:
        os.close(fd)


def _chunks(stream: BinaryIO) -> Iterator[tuple[list[bytes], int]]:
    """The whole lines of a segment, :data:`CHUNK_LINES` at a time, each with the count of
    torn lines (a last line without its newline, from a writer that crashed mid-write)."""
    chunk: list[bytes] = []
    for line in stream:
        if not line.endswith(b"\n"):  # only the last line can lack it
            yield chunk, 1 if line.strip() else 0
            return
        chunk.append(line)
        if len(chunk) >= CHUNK_LINES:
            yield chunk, 0
            chunk = []
    yield chunk, 0


def _remove_stale_new(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            if try_lock(fd) and os.fstat(fd).st_size == 0:
                path.unlink()
        finally:
            os.close(fd)
