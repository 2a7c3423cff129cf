"""A model's prediction log in time buckets: rows, requests, errors and latency per route.

:func:`traffic_buckets` is what the deployments page charts (latency p50 and p95, error and
fallback rates over time, per route): the aggregation runs in DuckDB over the columns it needs
(never the inputs), into at most ``buckets`` buckets of a round width (a second, a minute, an
hour, a day, ...), so its memory is bounded by buckets x routes x versions whatever the log's
size; the latency quantiles are DuckDB's ``reservoir_quantile`` (exact, a row's value, up
to 8,192 rows in a group; past that, of a uniform sample of 8,192 of them). Rows of
the spool not yet compacted are included, as :func:`~loopml.store.logs.log_table.read_log`
includes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

from loopml.core.errors import InvalidArgumentError, StoreError
from loopml.store.logs.log_table import _files, _Rows, _spool_rows
from loopml.store.logs.reader import store_columns

__all__ = ["BUCKET_COLUMNS", "TIME_AXES", "WIDTHS_MS", "bucket_width", "traffic_buckets"]

#: The time a row is bucketed by: ``received`` (when the server got the request: the
#: servers' wall time, the axis of the deployment's changes) or ``event`` (the caller's
#: event time, else the time received: the axis of monitoring).
TIME_AXES: dict[str, str] = {"received": '"at"', "event": 'coalesce("event_at", "at")'}
#: The bucket widths to choose from (ms): the smallest that gives at most ``buckets``.
WIDTHS_MS = tuple(
    s * 1000
    for s in (
        *(1, 2, 5, 10, 15, 30),
        *(60 * m for m in (1, 2, 5, 10, 15, 30)),
        *(3600 * h for h in (1, 2, 3, 6, 12)),
        *(86400 * d for d in (1, 2, 7, 14, 30, 91, 365)),
    )
)
#: The columns of the table :func:`traffic_buckets` returns, in order.
BUCKET_COLUMNS = (
    "start",
    "width_ms",
    "route",
    "version",
    "rows",
    "requests",
    "errors",
    "latency_p50_ms",
    "latency_p95_ms",
)
_SAMPLE = 8192
_NEEDED = ("model", "version", "route", "at", "event_at", "latency_ms", "request_key", "error")
_SCHEMA = pa.schema(
    [
        ("start", pa.int64()),
        ("width_ms", pa.int64()),
        ("route", pa.string()),
        ("version", pa.int64()),
        ("rows", pa.int64()),
        ("requests", pa.int64()),
        ("errors", pa.int64()),
        ("latency_p50_ms", pa.float64()),
        ("latency_p95_ms", pa.float64()),
    ]
)


def bucket_width(low: int, high: int, buckets: int) -> int:
    """The smallest round width (of :data:`WIDTHS_MS`) that covers ``[low, high]`` in at most
    ``buckets`` buckets aligned on multiples of the width (the largest width past that)."""
    for width in WIDTHS_MS:
        if high // width - low // width + 1 <= buckets:
            return width
    return WIDTHS_MS[-1]


def traffic_buckets(
    logs_url: str,
    *,
    model: str | Sequence[str],
    spool_dirs: Iterable[str | Path] = (),
    time: Literal["received", "event"] = "received",
    buckets: int = 120,
    since: int | None = None,
) -> pa.Table:
    """Return a model's logged rows counted per time bucket, route and version.

    Args:
        logs_url: The log store: a local folder or an fsspec URL.
        model: The registered model's name, or several names (a deployment whose routes
            serve several models): their rows share one bucket width.
        spool_dirs: Spool roots (``<home>/spool``) whose segments not yet compacted count.
        time: Bucket by the time ``received`` (the default) or the ``event`` time.
        buckets: At most this many buckets (1 to 2000) between the first and last row.
        since: Only rows at or after this time (ms since the epoch, UTC, on the ``time``
            axis).

    Returns:
        A table with :data:`BUCKET_COLUMNS`, ordered by ``start``, ``route``, ``version``:
        ``start`` (ms, a multiple of ``width_ms``), ``rows``, ``requests`` (the log has no
        request id: rows sharing a routing key and the time received count as one request,
        a row without a key alone), ``errors`` (rows logged with an error) and the
        latency's p50 and p95 over the rows logged with one (null without).
        Empty when the model has logged nothing.

    Raises:
        InvalidArgumentError: An unknown ``time`` or ``buckets`` out of range.
        StoreError: The log store cannot be read.

    Example:
        >>> import tempfile
        >>> traffic_buckets(tempfile.mkdtemp(), model="churn").num_rows
        0
    """
    if time not in TIME_AXES:
        raise InvalidArgumentError(
            f"traffic_buckets got time={time!r}; use one of {sorted(TIME_AXES)}."
        )
    if not 1 <= buckets <= 2000:
        raise InvalidArgumentError(
            f"traffic_buckets got buckets={buckets}; use a count from 1 to 2000."
        )
    import duckdb

    con = duckdb.connect()
    try:
        models = [model] if isinstance(model, str) else sorted(set(model))
        source = _source(con, logs_url, models, spool_dirs)
        if source is None:
            return _SCHEMA.empty_table()
        axis = TIME_AXES[time]
        where = 'list_contains($models, "model")'
        where += "" if since is None else f" AND epoch_ms({axis}) >= $since"
        params: dict[str, object] = {"models": models}
        if since is not None:
            params["since"] = int(since)
        span = _fetch(
            con,
            f"SELECT min(epoch_ms({axis})), max(epoch_ms({axis})) FROM {source} WHERE {where}",
            params,
            logs_url,
        )
        low, high = span.column(0)[0].as_py(), span.column(1)[0].as_py()
        if low is None:
            return _SCHEMA.empty_table()
        params["width"] = bucket_width(int(low), int(high), buckets)
        sql = f"""
            SELECT (epoch_ms({axis}) // $width) * $width AS "start",
                   $width::BIGINT AS width_ms, "route", "version"::BIGINT AS "version",
                   count(*) AS "rows",
                   count(DISTINCT coalesce("request_key" || '@' || epoch_ms("at"),
                                           "prediction_id")) AS requests,
                   count("error") AS errors,
                   reservoir_quantile("latency_ms", 0.5, {_SAMPLE})::DOUBLE AS latency_p50_ms,
                   reservoir_quantile("latency_ms", 0.95, {_SAMPLE})::DOUBLE AS latency_p95_ms
            FROM {source} WHERE {where}
            GROUP BY ALL ORDER BY "start", "route", "version"
        """
        return _fetch(con, sql, params, logs_url).cast(_SCHEMA)
    finally:
        con.close()


def _source(
    con: Any, logs_url: str, models: list[str], spool_dirs: Iterable[str | Path]
) -> str | None:
    """A SQL relation of the models' rows (the needed columns) in the store and the spool,
    each prediction once (a segment being compacted is in both: the spool's row counts)."""
    import duckdb

    spool = _spool_rows(spool_dirs)
    spool = spool.filter(pc.is_in(spool.column("model"), value_set=pa.array(models)))
    if spool.num_rows:
        con.register("loopml_spool", spool.select(list(_COLUMNS)))
    parts = []
    files = [f for m in models for f in _files(con, logs_url, _Rows(m, None, None, None, None))]
    if files:
        try:
            present = set(store_columns(con, files))
        except duckdb.Error as exc:
            raise StoreError(f"Could not read the log store at {logs_url}: {exc}") from exc
        cols = ", ".join(f'"{n}"' if n in present else f'NULL AS "{n}"' for n in _COLUMNS)
        listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
        stored = (
            f"SELECT {cols} FROM read_parquet([{listed}], hive_partitioning=true, "
            "union_by_name=true)"
        )
        if spool.num_rows:
            stored += ' WHERE "prediction_id" NOT IN (SELECT "prediction_id" FROM loopml_spool)'
        parts.append(stored)
    if spool.num_rows:
        parts.append(f"SELECT {', '.join(_ident(c) for c in _COLUMNS)} FROM loopml_spool")
    if not parts:
        return None
    return "(" + " UNION ALL ".join(parts) + ")"


_COLUMNS = ("prediction_id", *_NEEDED)


def _ident(name: str) -> str:
    """``name`` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _fetch(con: Any, sql: str, params: dict[str, object], logs_url: str) -> pa.Table:
    import duckdb

    try:
        table: pa.Table = con.sql(sql, params=params).to_arrow_table()
    except duckdb.Error as exc:
        raise StoreError(f"Could not read the log store at {logs_url}: {exc}") from exc
    return table
