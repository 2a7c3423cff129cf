"""Compaction: sealed spool segments become Parquet files in the log store.

The log store (a local folder or any fsspec URL) is laid out Hive style::

    model=<name>/date=<YYYY-MM-DD>/part-<uuid>.parquet

with one file per segment and partition (``date`` is the UTC day of ``at``). The ``<uuid>``
is derived from the segment's name, so compacting a segment twice (say, after a crash
between writing its Parquet files and deleting it) overwrites the same files instead of
duplicating rows. Each file is written whole or not at all (temporary file + rename on a
folder, one complete PUT on an object store), and the segment is deleted last.

Columns (see :data:`SCHEMA`): ``prediction_id``, ``model``, ``version`` (int64), ``route``,
``at`` (timestamp ms, UTC), ``latency_ms`` (float64), ``inputs``, ``output`` and ``proba``
as JSON text, ``request_key`` and ``error``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from loopml.core.errors import InvalidArgumentError, StoreError
from loopml.store.artifacts.fs import ObjectFS
from loopml.store.logs.owner import try_lock
from loopml.store.logs.spool import (
    NEW_SUFFIX,
    OPEN_SUFFIX,
    SEALED_SUFFIX,
    SEGMENT_PREFIX,
)

log = logging.getLogger(__name__)

#: The columns of every Parquet file of the log store.
SCHEMA = pa.schema(
    [
        ("prediction_id", pa.string()),
        ("model", pa.string()),
        ("version", pa.int64()),
        ("route", pa.string()),
        ("at", pa.timestamp("ms", tz="UTC")),
        ("latency_ms", pa.float64()),
        ("inputs", pa.string()),
        ("output", pa.string()),
        ("proba", pa.string()),
        ("request_key", pa.string()),
        ("error", pa.string()),
    ]
)
_NAMESPACE = uuid.UUID("5b0f4c1e-8a59-4d0c-9c55-6f1d6c1a0b7e")
_DAY_MS = 86_400_000
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
    """Parse the bytes of a segment into a table of :data:`SCHEMA`; also return how many lines
    were skipped.

    A line that is not a complete record (the torn last line of a crashed writer) is
    skipped and counted, never an error.
    """
    lines = data.split(b"\n")
    tail = lines.pop()  # empty when the segment ends with a newline, as a whole one does
    table, skipped = parse_lines(lines)
    return table, skipped + (1 if tail.strip() else 0)


def parse_lines(lines: Iterable[bytes]) -> tuple[pa.Table, int]:
    """Parse whole JSON lines into a table of :data:`SCHEMA`; lines that are not records are
    skipped and counted."""
    skipped = 0
    cols: list[list[Any]] = [[] for _ in SCHEMA]
    dumps, loads = orjson.dumps, orjson.loads
    for line in lines:
        if not line.strip():
            continue
        try:
            d = loads(line)
            proba = d.get("proba")
            row = (
                str(d["prediction_id"]),
                str(d["model"]),
                int(d["version"]),
                str(d["route"]),
                int(d["at"]),
                float(d["latency_ms"]),
                dumps(d["inputs"]).decode(),
                dumps(d.get("output")).decode(),
                None if proba is None else dumps(proba).decode(),
                d.get("request_key"),
                d.get("error"),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            skipped += 1
            continue
        for col, value in zip(cols, row, strict=True):
            col.append(value)
    arrays = [
        pa.array(col, type=pa.int64()).cast(field.type)
        if field.name == "at"
        else pa.array(col, type=field.type)
        for col, field in zip(cols, SCHEMA, strict=True)
    ]
    return pa.Table.from_arrays(arrays, schema=SCHEMA), skipped


def partition_key(model: str, day: str, stem: str) -> str:
    """Return the key of the Parquet file of segment ``stem`` for one model and day."""
    part = uuid.uuid5(_NAMESPACE, f"{stem}|{model}|{day}").hex
    return f"model={quote(model, safe='')}/date={day}/part-{part}.parquet"


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
        partitions = _Partitions(segment_stem(path.name), store)
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


class _Partitions:
    """A segment's Parquet files, one per (model, UTC day), written chunk by chunk as row
    groups and stored whole when the segment is done."""

    def __init__(self, stem: str, store: ObjectFS) -> None:
        self._stem = stem
        self._store = store
        self._open: dict[tuple[str, int], tuple[pa.BufferOutputStream, pq.ParquetWriter]] = {}

    def add(self, table: pa.Table) -> None:
        import pyarrow.compute as pc

        if table.num_rows == 0:
            return
        days = pc.divide(table.column("at").cast(pa.int64()), _DAY_MS)  # floor: at >= 0
        keyed = table.append_column("_day", days)
        groups = keyed.group_by(["model", "_day"]).aggregate([])
        for model, day in zip(
            groups.column("model").to_pylist(), groups.column("_day").to_pylist(), strict=True
        ):
            if groups.num_rows == 1:
                part = table
            else:
                mask = pc.and_(pc.equal(keyed.column("model"), model), pc.equal(days, day))
                part = table.filter(mask)
            entry = self._open.get((model, day))
            if entry is None:
                sink = pa.BufferOutputStream()
                entry = (sink, pq.ParquetWriter(sink, SCHEMA, compression="zstd"))
                self._open[(model, day)] = entry
            entry[1].write_table(part)

    def finish(self) -> int:
        """Close and store every file (each whole or not at all); return how many."""
        for (model, day), (sink, writer) in self._open.items():
            writer.close()
            date = dt.datetime.fromtimestamp(day * 86_400, tz=dt.UTC).date().isoformat()
            key = partition_key(model, date, self._stem)
            self._store.write_bytes(key, sink.getvalue().to_pybytes())
        return len(self._open)


def _remove_stale_new(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            if try_lock(fd) and os.fstat(fd).st_size == 0:
                path.unlink()
        finally:
            os.close(fd)
