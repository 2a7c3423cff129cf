"""Reference profile of a table, computed by DuckDB over the Arrow data in two passes.

Columns are profiled in batches of :data:`COLUMN_BATCH` (each batch is a zero-copy selection
of the table, its columns renamed ``c0, c1, ...`` for DuckDB): a query's planning cost grows
faster than its column count, so one query over 10,000 columns takes minutes and gigabytes,
while batches keep the work linear in columns (two queries per batch).

Pass 1 is one aggregate query per batch: missing values, approximate distinct count, and for
numeric, boolean (0/1) and datetime (epoch milliseconds) columns the min, max, mean, sample
standard deviation and approximate (t-digest) quantiles. Categories are counted by Arrow
(:func:`loopml.data._kinds.text_counts`, the same text schema inference uses).
Pass 2 counts the batch's numeric columns in their fixed bins (chosen from the pass-1
quantiles by :func:`loopml.data.binning.reference_edges`).

Missing and non-finite values:

* NaN in a float column is a missing value: it counts in ``nulls`` and nowhere else.
* ``+inf``/``-inf`` are values (not nulls): they are left out of min, max, mean, std, the
  quantiles and the edges (all over the finite values), and counted in the last/first bin.
* Identifier and text columns get counts only (no numeric summary, no frequencies).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from loopml.core.entities.data import (
    ColumnProfile,
    ColumnRole,
    ColumnSchema,
    DatasetProfile,
    DatasetSchema,
    NumericSummary,
)
from loopml.core.errors import InvalidArgumentError
from loopml.data import _kinds as k
from loopml.data.binning import bin_counts, category_counts, fold_frequencies, reference_edges

__all__ = [
    "as_datetime",
    "bin_counts",
    "category_counts",
    "fold_frequencies",
    "frequency_plan",
    "profile_table",
]

#: Most columns profiled by one DuckDB query.
COLUMN_BATCH = 64

#: Boolean columns are counted over these two values.
BOOLEAN_CATEGORIES = ("false", "true")


@dataclass(frozen=True)
class _Plan:
    """What to compute for one column."""

    index: int
    column: int  # position in the table
    schema: ColumnSchema
    arrow_type: Any
    numeric: bool
    categories: tuple[str, ...] | None
    other_bucket: bool


def frequency_plan(
    column: ColumnSchema, arrow_type: Any, *, top_k: int | None = None
) -> tuple[tuple[str, ...], bool] | None:
    """Return the ``(categories, other_bucket)`` a column is counted over, or None.

    Categorical columns and targets with categories use ``schema.categories`` (the first
    ``top_k`` of them when given); boolean columns ``("false", "true")``.
    """
    if column.role in (ColumnRole.IDENTIFIER, ColumnRole.TEXT):
        return None
    if column.categories is not None and column.role in (ColumnRole.CATEGORICAL, ColumnRole.TARGET):
        cats = column.categories if top_k is None else column.categories[:top_k]
        return cats, column.other_bucket or len(cats) < len(column.categories)
    if column.role == ColumnRole.BOOLEAN or k.kind_of(arrow_type) == "boolean":
        return BOOLEAN_CATEGORIES, False
    return None


def profile_table(
    table: Any, schema: DatasetSchema, *, bins: int = 20, top_k: int | None = None
) -> DatasetProfile:
    """Profile a table against its schema (the reference statistics of a dataset version).

    Args:
        table: A :class:`pyarrow.Table` holding every column of ``schema``.
        schema: Its schema (from :func:`loopml.data.schema.infer_schema`).
        bins: Most histogram bins per numeric column (>= 1).
        top_k: Count only the first ``top_k`` known categories of each categorical column (the
            rest go to :data:`~loopml.core.entities.data.OTHER`); None counts all of them.

    Returns:
        The profile, columns in schema order.

    Raises:
        InvalidArgumentError: ``bins`` or ``top_k`` is not a positive int, or a schema column is
            missing from the table.

    Example:
        >>> import pyarrow as pa
        >>> from loopml.data.schema import infer_schema
        >>> t = pa.table({"x": [1.0, 2.0, 3.0, None], "c": ["a", "b", "a", "a"]})
        >>> p = profile_table(t, infer_schema(t), bins=2)
        >>> p.column("x").nulls, p.column("x").numeric.bin_counts, p.column("c").frequencies
        (1, (1, 2), {'a': 3, 'b': 1})
    """
    for label, value, allow_none in (("bins", bins, False), ("top_k", top_k, True)):
        if value is None and allow_none:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidArgumentError(
                f"The {label!r} parameter of profile_table must be an int >= 1"
                f"{' or None' if allow_none else ''}. Got {value!r} instead."
            )
    names = set(table.column_names)  # one list of names, not one per column
    missing = [c.name for c in schema.columns if c.name not in names]
    if missing:
        raise InvalidArgumentError(
            f"profile_table needs every schema column in the table; {missing} are missing "
            f"(the table has {list(table.column_names)}). Profile the table the schema was "
            "inferred from."
        )
    positions = {name: i for i, name in enumerate(table.column_names)}
    types = table.schema.types
    plans = [
        _plan(i, positions[col.name], col, types[positions[col.name]], top_k)
        for i, col in enumerate(schema.columns)
    ]

    import duckdb

    first: dict[str, Any] = {}
    hist: dict[str, Any] = {}
    edges: dict[int, tuple[float, ...]] = {}
    con = duckdb.connect()
    try:
        for start in range(0, len(plans), COLUMN_BATCH):
            batch = plans[start : start + COLUMN_BATCH]
            # Positional names: DuckDB never parses a user's column name.
            con.register(
                "t",
                table.select([p.column for p in batch]).rename_columns([_alias(p) for p in batch]),
            )
            got = _aggregate(con, batch, bins)
            for p in batch:
                if p.categories is not None:
                    got[f"f{p.index}"] = dict(
                        zip(*k.text_counts(table.column(p.column)), strict=True)
                    )
            first.update(got)
            for p in batch:
                if p.numeric and got[f"mn{p.index}"] is not None:
                    edges[p.index] = _edges(got, p, bins)
            hist.update(_histograms(con, batch, edges))
            con.unregister("t")
    finally:
        con.close()

    rows = int(table.num_rows)
    columns = []
    for p in plans:
        numeric = None
        if p.index in edges:
            numeric = NumericSummary(
                min=float(first[f"mn{p.index}"]),
                max=float(first[f"mx{p.index}"]),
                mean=float(first[f"av{p.index}"]),
                std=float(first[f"sd{p.index}"] or 0.0),
                quantiles={
                    str(q): float(v)
                    for q, v in zip(k.QUANTILES, first[f"q{p.index}"], strict=False)
                },
                bin_edges=edges[p.index],
                bin_counts=k.dense_bins(hist.get(f"h{p.index}"), edges[p.index]),
            )
        frequencies = None
        if p.categories is not None:
            frequencies = fold_frequencies(
                first[f"f{p.index}"], p.categories, other_bucket=p.other_bucket
            )
        present = int(first[f"p{p.index}"] or 0)
        columns.append(
            ColumnProfile(
                name=p.schema.name,
                count=rows,
                nulls=rows - present,
                distinct=min(int(first[f"d{p.index}"] or 0), present),
                numeric=numeric,
                frequencies=frequencies,
            )
        )
    return DatasetProfile(rows=rows, columns=tuple(columns))


def as_datetime(value: float, dtype: str) -> dt.datetime | dt.date | None:
    """The time a datetime column's statistic stands for, or None if ``dtype`` is not one.

    Profiles hold the min, mean and max of datetime columns as milliseconds since the epoch;
    this turns one back into a :class:`datetime.datetime` in the column's time zone (naive for
    a naive column) or a :class:`datetime.date` for a date column.

    Args:
        value: Milliseconds since the epoch (of a wall time, for naive columns).
        dtype: The column's Arrow type as text (``timestamp[us, tz=UTC]``, ``date32[day]``).

    Example:
        >>> as_datetime(1357016400000.0, "timestamp[us, tz=America/New_York]").isoformat()
        '2013-01-01T00:00:00-05:00'
        >>> str(as_datetime(1357016400000.0, "date32[day]"))
        '2013-01-01'
    """
    match = _DATETIME.fullmatch(dtype)
    if match is None or not math.isfinite(value):
        return None
    utc = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=value)
    if dtype.startswith("date"):
        return utc.date()
    zone = match.group(1)
    if zone is None:
        return utc.replace(tzinfo=None)
    return utc.astimezone(_zone(zone))


_DATETIME = re.compile(r"date32\[day\]|date64\[ms\]|timestamp\[(?:s|ms|us|ns)(?:, tz=(.+))?\]")


def _zone(name: str) -> dt.tzinfo:
    """A time zone from Arrow's text: a name (``Europe/Paris``) or an offset (``+05:30``)."""
    offset = re.fullmatch(r"([+-])(\d\d):?(\d\d)", name)
    if offset:
        sign = 1 if offset.group(1) == "+" else -1
        minutes = int(offset.group(2)) * 60 + int(offset.group(3))
        return dt.timezone(sign * dt.timedelta(minutes=minutes))
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def _plan(index: int, column: int, col: ColumnSchema, arrow_type: Any, top_k: int | None) -> _Plan:
    kind = k.kind_of(arrow_type)
    numeric = kind in ("numeric", "boolean", "datetime") and col.role not in (
        ColumnRole.IDENTIFIER,
        ColumnRole.TEXT,
    )
    freq = frequency_plan(col, arrow_type, top_k=top_k)
    return _Plan(
        index=index,
        column=column,
        schema=col,
        arrow_type=arrow_type,
        numeric=numeric,
        categories=None if freq is None else freq[0],
        other_bucket=False if freq is None else freq[1],
    )


def _alias(p: _Plan) -> str:
    """The column's name in the batch DuckDB reads."""
    return f"c{p.index}"


def _edge_probabilities(bins: int) -> list[float]:
    return [i / bins for i in range(1, bins)]


def _aggregate(con: Any, plans: list[_Plan], bins: int) -> dict[str, Any]:
    """Pass 1: counts, distinct, moments, quantiles and value counts of a batch of columns."""
    probs = list(k.QUANTILES) + _edge_probabilities(bins)
    prob_sql = "[" + ", ".join(repr(q) for q in probs) + "]"
    selects = []
    for p in plans:
        i, name = p.index, _alias(p)
        selects.append(f"{k.count_sql(name, p.arrow_type)} AS p{i}")
        if p.numeric:
            v = k.stat_sql(name, p.arrow_type)
            selects += [
                f"approx_count_distinct({k.value_sql(name, p.arrow_type)}) AS d{i}",
                f"min({v}) AS mn{i}",
                f"max({v}) AS mx{i}",
                f"avg({v}) AS av{i}",
                f"stddev_samp({v}) AS sd{i}",
                f"approx_quantile({v}, {prob_sql}) AS q{i}",
            ]
        else:
            selects.append(f"approx_count_distinct({k.quote(name)}) AS d{i}")
    return _one_row(con, f"SELECT {', '.join(selects)} FROM t")


def _edges(first: dict[str, Any], p: _Plan, bins: int) -> tuple[float, ...]:
    i = p.index
    quantiles = list(first[f"q{i}"])[len(k.QUANTILES) :]
    return reference_edges(
        float(first[f"mn{i}"]),
        float(first[f"mx{i}"]),
        [float(q) for q in quantiles],
        bins=bins,
        distinct=max(1, int(first[f"d{i}"] or 1)),
    )


def _histograms(
    con: Any, plans: list[_Plan], edges: dict[int, tuple[float, ...]]
) -> dict[str, Any]:
    """Pass 2: counts of a batch's numeric columns in their fixed bins."""
    selects = []
    for p in plans:
        if p.index in edges:
            value = k.value_sql(_alias(p), p.arrow_type)
            selects.append(f"{k.histogram_sql(value, edges[p.index])} AS h{p.index}")
    if not selects:
        return {}
    return _one_row(con, f"SELECT {', '.join(selects)} FROM t")


def _one_row(con: Any, sql: str) -> dict[str, Any]:
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    rows = cursor.fetchall()  # all of them: DuckDB keeps a partly read result open
    return dict(zip(names, rows[0] if rows else (), strict=True))
