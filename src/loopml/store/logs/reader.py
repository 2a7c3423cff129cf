"""Reading the log store: :func:`read_predictions` (DuckDB over Hive-partitioned Parquet).

A filter on ``model`` prunes whole folders (``model=<name>/``) before any file is opened;
the time filter is on ``at`` (when rows were received; folders are by event day, so it
prunes row groups, not folders). Nothing is decoded: ``inputs``, ``output`` and ``proba``
stay JSON text; :func:`inputs_frame` expands the inputs into one column per feature when
needed. Typed columns, the spool and event-time windows:
:func:`~loopml.store.logs.log_table.read_log`.
"""

from __future__ import annotations

import datetime as dt
import posixpath
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa

from loopml.core.errors import InvalidArgumentError, StoreError, did_you_mean
from loopml.store.logs.columns import SCHEMA

if TYPE_CHECKING:
    import pandas as pd

_GLOB = "model=*/date=*/*.parquet"


def read_predictions(
    logs_url: str,
    *,
    model: str | None = None,
    since: int | None = None,
    until: int | None = None,
    columns: Sequence[str] | None = None,
) -> pa.Table:
    """Return the logged predictions of the log store ``logs_url`` as an Arrow table.

    Args:
        logs_url: The log store: a local folder or an fsspec URL.
        model: Only this model's predictions.
        since: Only predictions at or after this time (ms since the epoch, UTC).
        until: Only predictions before this time (ms since the epoch, UTC).
        columns: The columns to return (default: all of :data:`SCHEMA`), in that order.

    Returns:
        A table of :data:`SCHEMA` (or the chosen columns), ordered by ``at`` then
        ``prediction_id``; empty when nothing matches or nothing was logged yet.
        ``event_at`` is never null (``at`` for rows logged without an event time, and for
        files written before event times existed).

    Raises:
        InvalidArgumentError: An unknown column, or ``since`` after ``until``.
        StoreError: The log store cannot be read.

    Example:
        >>> import tempfile
        >>> read_predictions(tempfile.mkdtemp(), model="churn").num_rows
        0
    """
    names = list(SCHEMA.names if columns is None else columns)
    for name in names:
        if name not in SCHEMA.names:
            raise InvalidArgumentError(
                f"Unknown column {name!r} for read_predictions; the columns are "
                f"{SCHEMA.names}.{did_you_mean(name, SCHEMA.names)}"
            )
    if since is not None and until is not None and since > until:
        raise InvalidArgumentError(
            f"read_predictions got since={since} after until={until}; 'since' must not be "
            "after 'until' (both in ms since the epoch)."
        )
    schema = pa.schema([SCHEMA.field(name) for name in names])

    import duckdb

    con = duckdb.connect()
    try:
        source = _source(con, logs_url)
        if source is None:
            return schema.empty_table()
        where, params = _filters(model, since, until)
        order = ' ORDER BY "at", "prediction_id"'
        try:
            present = set(store_columns(con, source))
            select = ", ".join(_select(name, present) for name in names)
            sql = (
                f"SELECT {select} FROM read_parquet($files, hive_partitioning=true, "
                f"union_by_name=true){where}" + order
            )
            table = con.sql(sql, params={"files": source, **params}).to_arrow_table()
        except duckdb.IOException as exc:
            if "No files found" in str(exc):
                return schema.empty_table()
            raise StoreError(f"Could not read the log store at {logs_url}: {exc}") from exc
    finally:
        con.close()
    return table.cast(schema)


def inputs_frame(table: pa.Table) -> pd.DataFrame:
    """Expand the ``inputs`` JSON column of ``table`` into one column per feature.

    Args:
        table: A table from :func:`read_predictions` that has the ``inputs`` column.

    Returns:
        A DataFrame with one row per row of ``table`` (same order, RangeIndex) and one column
        per input name (missing values are NaN/None).

    Raises:
        InvalidArgumentError: ``table`` has no ``inputs`` column.
    """
    import pandas as pd

    if "inputs" not in table.column_names:
        raise InvalidArgumentError(
            f"inputs_frame needs a table with an 'inputs' column; got {table.column_names}. "
            "Read it with read_predictions(..., columns=[..., 'inputs'])."
        )
    loads = orjson.loads
    rows = [{} if text is None else loads(text) for text in table.column("inputs").to_pylist()]
    return pd.DataFrame.from_records(rows, index=pd.RangeIndex(len(rows)))


def _source(con: Any, logs_url: str) -> str | None:
    """Return the glob DuckDB reads, registering an fsspec filesystem for remote stores."""
    if "://" not in logs_url or logs_url.startswith("file://"):
        from pathlib import Path

        root = Path(logs_url.removeprefix("file://")).expanduser()
        if not root.is_dir():
            return None
        return str(root / _GLOB)
    import fsspec

    try:
        fs, path = fsspec.core.url_to_fs(logs_url)
    except (ValueError, ImportError) as exc:
        raise StoreError(f"Cannot open the log store at {logs_url!r}: {exc}") from exc
    con.register_filesystem(fs)
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return f"{protocol}://{posixpath.join(str(path).rstrip('/'), _GLOB)}"


def _filters(
    model: str | None, since: int | None, until: int | None
) -> tuple[str, dict[str, object]]:
    clauses: list[str] = []
    params: dict[str, object] = {}
    if model is not None:
        clauses.append('"model" = $model')
        params["model"] = model
    if since is not None:
        clauses.append('epoch_ms("at") >= $since')
        params["since"] = int(since)
    if until is not None:
        clauses.append('epoch_ms("at") < $until')
        params["until"] = int(until)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def day(ms: int) -> dt.date:
    """The UTC day of ``ms`` (ms since the epoch): the ``date`` folder holding it."""
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).date()


def store_columns(con: Any, source: str | list[str]) -> list[str]:
    """The union of the column names of the log store's files (read from their footers):
    ``source`` is a glob or a list of files."""
    rel = con.sql(
        "SELECT * FROM read_parquet($files, hive_partitioning=true, union_by_name=true) LIMIT 0",
        params={"files": source},
    )
    return list(rel.columns)


def _select(name: str, present: set[str]) -> str:
    """The SELECT expression of column ``name`` (files written before ``event_at`` and
    ``caller_id`` existed lack them)."""
    if name == "event_at":
        if name in present:
            return 'coalesce("event_at", "at") AS "event_at"'
        return '"at" AS "event_at"'
    if name not in present:
        return f'NULL AS "{name}"'
    return f'"{name}"'
