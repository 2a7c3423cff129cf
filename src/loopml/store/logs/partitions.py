"""Writing the log store's Parquet files: one mechanism for compaction and direct writes.

The log store (a local folder or any fsspec URL) is laid out Hive style::

    model=<name>/date=<YYYY-MM-DD>/part-<uuid>[-<n>].parquet

``date`` is the UTC day of the rows' **event time** (``event_at``), so event-time windows
prune whole folders. ``<uuid>`` is derived from the batch's stem (a spool segment's name),
so writing the same batch again overwrites the same files instead of duplicating rows. A
file has one schema: when a later chunk of the batch brings a column the open file lacks, or
a type that does not fit it, the rows go to the next file of the partition (``-1``,
``-2``, ...), numbered in chunk order, hence the same names on every run. Each file is
stored whole or not at all (temporary file, fsync and rename on a folder; one complete PUT
on an object store).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from urllib.parse import quote

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from loopml.store.artifacts.fs import ObjectFS
from loopml.store.logs.columns import conform, is_typed, records_table
from loopml.store.logs.records import PredictionRecord

_NAMESPACE = uuid.UUID("5b0f4c1e-8a59-4d0c-9c55-6f1d6c1a0b7e")
DAY_MS = 86_400_000


def partition_key(model: str, day: str, stem: str, index: int = 0) -> str:
    """Return the key of file ``index`` of batch ``stem`` for one model and day."""
    part = uuid.uuid5(_NAMESPACE, f"{stem}|{model}|{day}").hex
    suffix = "" if index == 0 else f"-{index}"
    return f"model={quote(model, safe='')}/date={day}/part-{part}{suffix}.parquet"


class PartitionWriter:
    """The Parquet files of one batch of rows (a spool segment, a ``write_records`` call),
    one or more per (model, UTC event day), filled chunk by chunk as row groups and stored
    whole by :meth:`finish`.

    Args:
        stem: The batch's name (file names derive from it).
        store: The log store.
    """

    def __init__(self, stem: str, store: ObjectFS) -> None:
        self._stem = stem
        self._store = store
        self._files: dict[tuple[str, int], list[_File]] = {}

    def add(self, table: pa.Table) -> None:
        """Add a table of the log store's columns (:func:`~.columns.parse_lines`)."""
        import pyarrow.compute as pc

        if table.num_rows == 0:
            return
        event = table.column("event_at").cast(pa.int64()).to_numpy()
        days = pa.array(np.floor_divide(event, DAY_MS))
        keyed = table.append_column("_day", days)
        groups = keyed.group_by(["model", "_day"]).aggregate([])
        for model, day in zip(
            groups.column("model").to_pylist(), groups.column("_day").to_pylist(), strict=True
        ):
            if groups.num_rows == 1:
                part = table
            else:
                mask = pc.and_(pc.equal(keyed.column("model"), model), pc.equal(days, day))
                part = _drop_null_typed(table.filter(mask))
            self._write(model, day, part)

    def finish(self) -> int:
        """Close and store every file (each whole or not at all); return how many."""
        count = 0
        for (model, day), files in self._files.items():
            date = dt.datetime.fromtimestamp(day * 86_400, tz=dt.UTC).date().isoformat()
            for index, file in enumerate(files):
                file.writer.close()
                key = partition_key(model, date, self._stem, index)
                self._store.write_bytes(key, file.sink.getvalue().to_pybytes())
                count += 1
        return count

    def _write(self, model: str, day: int, part: pa.Table) -> None:
        files = self._files.setdefault((model, day), [])
        if not files or not _fits(part.schema, files[-1].schema):
            files.append(_File(part.schema))
        file = files[-1]
        file.writer.write_table(conform(part, file.schema))


class _File:
    """One Parquet file being filled in memory."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        self.sink = pa.BufferOutputStream()
        self.writer = pq.ParquetWriter(self.sink, schema, compression="zstd")


def _fits(chunk: pa.Schema, file: pa.Schema) -> bool:
    """Whether a chunk can go into a file of schema ``file`` (columns it lacks are null)."""
    names = set(file.names)
    return all(f.name in names and file.field(f.name).type == f.type for f in chunk)


def _drop_null_typed(table: pa.Table) -> pa.Table:
    """Leave out the typed columns that are all null in this slice (absent, not null-typed:
    they union cleanly with the files where they have a type)."""
    empty = [
        name
        for name in table.column_names
        if is_typed(name) and table.column(name).null_count == table.num_rows
    ]
    return table.drop_columns(empty) if empty else table


def write_records(logs_url: str, records: Iterable[PredictionRecord]) -> int:
    """Write prediction records straight into the log store (no spool).

    The rows are built by the same :func:`~loopml.store.logs.columns.records_table` that
    parses spool lines, so the files have the layout and columns compaction gives. Durable
    on return: every file is stored whole.

    Args:
        logs_url: The log store: a local folder or an fsspec URL.
        records: The records to write.

    Returns:
        The number of rows written.

    Raises:
        StoreError: The log store cannot be written (files already stored stay).
    """
    rows = list(records)
    if not rows:
        return 0
    fixed = [
        (
            r.prediction_id,
            r.model,
            r.version,
            r.route,
            r.at,
            r.at if r.event_at is None else r.event_at,
            r.latency_ms,
            r.request_key,
            r.error,
            r.caller_id,
        )
        for r in rows
    ]
    table = records_table(
        fixed, [r.inputs for r in rows], [r.output for r in rows], [r.proba for r in rows]
    )
    writer = PartitionWriter(f"direct-{uuid.uuid4().hex}", ObjectFS(logs_url))
    writer.add(table)
    writer.finish()
    return int(table.num_rows)
