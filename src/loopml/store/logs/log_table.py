"""One model's prediction log as a typed Arrow table: :func:`read_log`.

Monitoring reads the log through this function: the rows of the log store (DuckDB over the
Parquet files, pruned by model folder and event day) and the rows still in spool folders
(segments not compacted yet, sealed or still open: whole lines only), deduplicated by
``prediction_id``, filtered and ordered by event time. Inputs, prediction and class
probabilities come as typed columns (``in.<feature>``, ``out``, ``p.<class>``, see
:mod:`loopml.store.logs.columns`); files written before those columns existed are typed from
their JSON by the same rules.

The spool is read before the log store: a segment compacted in between has its rows in the
store by the time the store is read, so no row is missed, and a row seen in both places
appears once.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from loopml.core.errors import InvalidArgumentError, StoreError, did_you_mean
from loopml.store.logs.columns import (
    FIXED,
    INPUT_PREFIX,
    OUTPUT_COLUMN,
    PROBA_PREFIX,
    conform,
    is_typed,
    typed_array,
    typed_columns,
    unify,
)
from loopml.store.logs.compaction import parse_segment, segment_stem
from loopml.store.logs.orphans import spool_folders
from loopml.store.logs.reader import day, store_columns
from loopml.store.logs.records import ROUTES
from loopml.store.logs.spool import NEW_SUFFIX, OPEN_SUFFIX, SEALED_SUFFIX, SEGMENT_PREFIX

_PARQUET = "read_parquet($files, hive_partitioning=true, union_by_name=true)"


def read_log(
    logs_url: str,
    *,
    model: str,
    spool_dirs: Iterable[str | Path] = (),
    versions: Sequence[int] | None = None,
    routes: Sequence[str] | None = None,
    since: int | None = None,
    until: int | None = None,
    features: Sequence[str] | None = None,
) -> pa.Table:
    """Return one model's logged predictions, with typed columns, store and spool together.

    Args:
        logs_url: The log store: a local folder or an fsspec URL.
        model: The registered model's name.
        spool_dirs: Spool roots (``<home>/spool``) or spool folders whose segments not yet
            compacted are included (each spool folder directly under a root).
        versions: Only rows these versions answered (default: all).
        routes: Only rows of these routes (default: all, shadow included).
        since: Only rows whose event time is at or after this (ms since the epoch, UTC).
        until: Only rows whose event time is before this (ms since the epoch, UTC).
        features: The ``in.*`` columns to return, in this order (default: every input
            logged). A feature never logged gives an all-null column.

    Returns:
        A table with the columns of :data:`~loopml.store.logs.columns.FIXED`, then
        ``in.<feature>``, ``out`` and ``p.<class>`` (when logged), one row per
        ``prediction_id``, ordered by ``event_at`` then ``prediction_id``.

    Raises:
        InvalidArgumentError: A bad model name, route, version or time range.
        StoreError: The log store cannot be read.

    Example:
        >>> import tempfile
        >>> read_log(tempfile.mkdtemp(), model="churn").num_rows
        0
    """
    _check(model, versions, routes, since, until)
    rows = _Rows(model, versions, routes, since, until)
    wanted = None if features is None else [f"{INPUT_PREFIX}{f}" for f in features]
    parts = [_spool_rows(spool_dirs)]
    parts += _store_rows(logs_url, rows, wanted)
    parts = [_normalize(p) for p in parts if p.num_rows]
    table = unify(parts) if parts else FIXED.empty_table()
    if table.num_rows:
        table = table.filter(rows.mask(table))
        table = _first_per_id(table)
        table = table.sort_by([("event_at", "ascending"), ("prediction_id", "ascending")])
    return _columns(table, wanted)


def _check(
    model: str,
    versions: Sequence[int] | None,
    routes: Sequence[str] | None,
    since: int | None,
    until: int | None,
) -> None:
    if not isinstance(model, str) or not model:
        raise InvalidArgumentError(
            f"The 'model' parameter of read_log must be a model name. Got {model!r} instead."
        )
    for route in routes or ():
        if route not in ROUTES:
            raise InvalidArgumentError(
                f"Unknown route {route!r} for read_log; the routes are {sorted(ROUTES)}."
                f"{did_you_mean(str(route), ROUTES)}"
            )
    for version in versions or ():
        if isinstance(version, bool) or not isinstance(version, int | np.integer):
            raise InvalidArgumentError(
                f"The 'versions' of read_log must be version numbers (int). Got {version!r}."
            )
    if since is not None and until is not None and since > until:
        raise InvalidArgumentError(
            f"read_log got since={since} after until={until}; 'since' must not be after "
            "'until' (both in ms since the epoch)."
        )


def _spool_rows(spool_dirs: Iterable[str | Path]) -> pa.Table:
    """Every whole line of the segments of the spool folders under ``spool_dirs``."""
    tables = []
    for root in spool_dirs:
        for folder in spool_folders(Path(root)):
            for path in sorted(folder.glob(f"{SEGMENT_PREFIX}*")):
                data = _read_segment(path)
                if data:
                    tables.append(parse_segment(data)[0])
    tables = [_normalize(t) for t in tables if t.num_rows]
    return unify(tables) if tables else FIXED.empty_table()


def _read_segment(path: Path) -> bytes | None:
    """The bytes of a segment, following an ``.open`` one to its sealed name; None when it
    is gone (compacted: its rows are in the store, read after the spool)."""
    name = path.name
    if name.endswith(NEW_SUFFIX) or not name.endswith((OPEN_SUFFIX, SEALED_SUFFIX)):
        return None
    candidates = [path]
    if name.endswith(OPEN_SUFFIX):
        candidates.append(path.with_name(segment_stem(name) + SEALED_SUFFIX))
    for candidate in candidates:
        try:
            return candidate.read_bytes()
        except FileNotFoundError:
            continue
    return None


@dataclass(frozen=True)
class _Rows:
    """Which rows to keep: one model, some versions and routes, an event-time range."""

    model: str
    versions: Sequence[int] | None
    routes: Sequence[str] | None
    since: int | None
    until: int | None

    def where(self) -> tuple[str, dict[str, object]]:
        """The SQL filter, on the Hive folders first (pruned before any file is opened)."""
        clauses = ['"model" = $model']
        params: dict[str, object] = {"model": self.model}
        event = 'epoch_ms(coalesce("event_at", "at"))'
        if self.since is not None:
            clauses.append(f'"date" >= $since_day AND {event} >= $since')
            params.update(since_day=day(self.since), since=int(self.since))
        if self.until is not None:
            clauses.append(f'"date" <= $until_day AND {event} < $until')
            params.update(until_day=day(self.until), until=int(self.until))
        if self.versions is not None:
            clauses.append('list_contains($versions, "version")')
            params["versions"] = [int(v) for v in self.versions]
        if self.routes is not None:
            clauses.append('list_contains($routes, "route")')
            params["routes"] = list(self.routes)
        return " AND ".join(clauses), params

    def mask(self, table: pa.Table) -> pa.ChunkedArray:
        """The same filter on an Arrow table (the spool's rows)."""
        mask = pc.equal(table.column("model"), self.model)
        event = table.column("event_at").cast(pa.int64())
        if self.since is not None:
            mask = pc.and_(mask, pc.greater_equal(event, int(self.since)))
        if self.until is not None:
            mask = pc.and_(mask, pc.less(event, int(self.until)))
        if self.versions is not None:
            allowed = pa.array([int(v) for v in self.versions], pa.int64())
            mask = pc.and_(mask, pc.is_in(table.column("version"), value_set=allowed))
        if self.routes is not None:
            routes = pa.array(list(self.routes), pa.string())
            mask = pc.and_(mask, pc.is_in(table.column("route"), value_set=routes))
        return mask


def _store_rows(logs_url: str, rows: _Rows, wanted: list[str] | None) -> list[pa.Table]:
    """The matching rows of the log store: one table of files with typed columns, one of
    older files (typed from their JSON)."""
    import duckdb

    con = duckdb.connect()
    try:
        files = _files(con, logs_url, rows)
        if not files:
            return []
        try:
            present = store_columns(con, files)
        except duckdb.Error as exc:
            raise StoreError(f"Could not read the log store at {logs_url}: {exc}") from exc
        where, params = rows.where()
        params["files"] = files
        fixed = [f'"{n}"' if n in present else f'NULL AS "{n}"' for n in FIXED.names]
        out: list[pa.Table] = []
        if "event_at" in present:
            typed = [n for n in present if is_typed(n) and _keep(n, wanted)]
            cols = ", ".join([*fixed, *(f'"{n}"' for n in typed)])
            sql = f'SELECT {cols} FROM {_PARQUET} WHERE {where} AND "event_at" IS NOT NULL'
            out.append(_query(con, sql, params, logs_url))
        if "inputs" in present:
            old = fixed[:]
            old[FIXED.names.index("event_at")] = '"at" AS "event_at"'
            cols = ", ".join([*old, '"inputs"', '"output"', '"proba"'])
            legacy = '"event_at" IS NULL' if "event_at" in present else "TRUE"
            sql = f"SELECT {cols} FROM {_PARQUET} WHERE {where} AND {legacy}"
            out.append(_type_json(_query(con, sql, params, logs_url), wanted))
        return out
    finally:
        con.close()


def _files(con: Any, logs_url: str, rows: _Rows) -> list[str]:
    """The Parquet files of the model's folder whose day folders can hold rows of the
    event-time range (the others are never opened)."""
    folder = f"model={quote(rows.model, safe='')}"
    low = None if rows.since is None else f"date={day(rows.since).isoformat()}"
    high = None if rows.until is None else f"date={day(rows.until).isoformat()}"

    def wanted(date: str) -> bool:
        return (low is None or date >= low) and (high is None or date <= high)

    if "://" not in logs_url or logs_url.startswith("file://"):
        root = Path(logs_url.removeprefix("file://")).expanduser() / folder
        return sorted(str(p) for p in root.glob("date=*/*.parquet") if wanted(p.parent.name))
    import fsspec

    try:
        fs, path = fsspec.core.url_to_fs(logs_url)
        found = fs.glob(posixpath.join(str(path).rstrip("/"), folder, "date=*", "*.parquet"))
    except (ValueError, ImportError, OSError) as exc:
        raise StoreError(f"Cannot list the log store at {logs_url!r}: {exc}") from exc
    con.register_filesystem(fs)
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return sorted(
        f"{protocol}://{p}" for p in found if wanted(posixpath.basename(posixpath.dirname(p)))
    )


def _query(con: Any, sql: str, params: dict[str, object], logs_url: str) -> pa.Table:
    import duckdb

    try:
        table: pa.Table = con.sql(sql, params=params).to_arrow_table()
    except duckdb.Error as exc:
        raise StoreError(f"Could not read the log store at {logs_url}: {exc}") from exc
    return table


def _keep(name: str, wanted: list[str] | None) -> bool:
    return wanted is None or not name.startswith(INPUT_PREFIX) or name in wanted


def _type_json(table: pa.Table, wanted: list[str] | None) -> pa.Table:
    """Rows of files written before the typed columns: type their JSON columns by the rules
    of :func:`~loopml.store.logs.columns.typed_array` (the unavoidable decode of old rows)."""
    loads = orjson.loads
    inputs = [{} if t is None else loads(t) for t in table.column("inputs").to_pylist()]
    outputs = [None if t is None else loads(t) for t in table.column("output").to_pylist()]
    probas = [None if t is None else loads(t) for t in table.column("proba").to_pylist()]
    table = table.drop_columns(["inputs", "output", "proba"])
    for name, arr in typed_columns(INPUT_PREFIX, inputs).items():
        if _keep(name, wanted):
            table = table.append_column(name, arr)
    out = typed_array(outputs)
    if out is not None:
        table = table.append_column(OUTPUT_COLUMN, out)
    for name, arr in typed_columns(PROBA_PREFIX, probas).items():
        table = table.append_column(name, arr)
    return table


def _normalize(table: pa.Table) -> pa.Table:
    """The fixed columns in their types; large strings as strings (so that tables from
    DuckDB, Parquet and the spool concatenate)."""
    table = table.drop_columns(
        [n for n in ("inputs", "output", "proba") if n in table.column_names]
    )
    fields = []
    for field in table.schema:
        if field.name in FIXED.names:
            fields.append(FIXED.field(field.name))
        elif pa.types.is_large_string(field.type):
            fields.append(pa.field(field.name, pa.string()))
        else:
            fields.append(field)
    return conform(table, pa.schema(fields))


def _first_per_id(table: pa.Table) -> pa.Table:
    """Keep the first row of each ``prediction_id`` (a row seen in the spool and the store)."""
    index = pa.array(np.arange(table.num_rows))
    firsts = (
        table.select(["prediction_id"])
        .append_column("_row", index)
        .group_by("prediction_id", use_threads=False)
        .aggregate([("_row", "min")])
        .column("_row_min")
    )
    if len(firsts) == table.num_rows:
        return table
    return table.take(pc.sort_indices(firsts))


def _columns(table: pa.Table, wanted: list[str] | None) -> pa.Table:
    """The output columns in order: fixed, ``in.*`` (as asked), ``out``, ``p.*``."""
    names = table.column_names
    inputs = wanted if wanted is not None else [n for n in names if n.startswith(INPUT_PREFIX)]
    probas = [n for n in names if n.startswith(PROBA_PREFIX)]
    order = [*FIXED.names, *inputs, *([OUTPUT_COLUMN] if OUTPUT_COLUMN in names else []), *probas]
    arrays = []
    for name in order:
        if name in names:
            arrays.append(table.column(name))
        elif name in FIXED.names:
            arrays.append(pa.nulls(table.num_rows, FIXED.field(name).type))
        else:
            arrays.append(pa.nulls(table.num_rows))
    return pa.table(dict(zip(order, arrays, strict=True)))
