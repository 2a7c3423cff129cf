"""Validation of a new batch against a dataset version's schema and reference profile.

Everything is computed by DuckDB over the Arrow batch in one aggregate query per
:data:`~loopml.data.profile.COLUMN_BATCH` columns (plus a small query per column that has
unseen categories, to quote a few of them); categories are counted by Arrow, as in the
profile. The findings:

=====================  ========  ==========================================================
kind                   severity  when
=====================  ========  ==========================================================
``empty_batch``        error     the batch has no rows (column checks still run)
``missing_column``     error     a schema column is absent
``extra_column``       warning   a column the schema does not know
``type_change``        error     the values cannot be cast safely to the reference type
                                 (text where numbers were, floats with fractions where
                                 integers were, ...); the column is not checked further
``type_change``        warning   a safe change: wider integers, int -> float, string <->
                                 large_string, timestamp unit or time zone, date <-> timestamp
``unexpected_nulls``   error     nulls (or NaN) in a column that had none
``null_rate_jump``     warning   null rate above the reference's by more than the tolerance
``out_of_range``       warning   numeric values outside ``[min - tol*range, max + tol*range]``
                                 (inf included); datetime columns are not range-checked,
                                 since time moves on
``unseen_category``    warning   values outside the known categories of a categorical whose
                                 reference had no ``other`` bucket (with one, new values are
                                 expected and counted there)
``distribution_shift`` warning   the drift test (``psi`` by default) on the reference bins or
                                 categories says so; numeric, boolean and categorical columns
                                 and the target, not datetimes or identifiers
``expectation_failed`` error     a user expectation (pandera) fails
=====================  ========  ==========================================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from loopml.core.entities.data import (
    OTHER,
    Anomaly,
    ColumnProfile,
    ColumnRole,
    ColumnSchema,
    DatasetProfile,
    DatasetSchema,
    ValidationReport,
)
from loopml.core.errors import InvalidArgumentError
from loopml.data import _kinds as k
from loopml.data.binning import fold_frequencies
from loopml.data.casting import type_change
from loopml.data.expectations import SAMPLE_VALUES, check_expectations
from loopml.data.profile import COLUMN_BATCH, frequency_plan
from loopml.stats.drift import DriftTest, get_drift_test


@dataclass(frozen=True)
class _Check:
    """What to measure for one column present in both the schema and the batch."""

    index: int
    schema: ColumnSchema
    profile: ColumnProfile | None
    arrow_type: Any
    bounds: tuple[float, float] | None
    edges: tuple[float, ...] | None
    categories: tuple[str, ...] | None
    unseen: bool


def validate_table(
    batch: Any,
    schema: DatasetSchema,
    profile: DatasetProfile,
    *,
    against: str,
    expectations: Any = None,
    range_tolerance: float = 0.1,
    null_rate_tolerance: float = 0.05,
    drift_test: str = "psi",
    drift_threshold: float | None = None,
) -> ValidationReport:
    """Validate a batch against a reference schema and profile.

    Args:
        batch: A :class:`pyarrow.Table`.
        schema: The reference schema.
        profile: The reference profile (same columns as ``schema``).
        against: What the batch is validated against (``name@version``), for the report.
        expectations: Optional pandera ``DataFrameSchema`` or ``{column: [Check, ...]}``.
        range_tolerance: Share of the reference range allowed beyond its min and max (>= 0).
        null_rate_tolerance: Allowed rise of the null rate over the reference's (0 to 1).
        drift_test: Registered drift test (``psi``, ``chi_square``).
        drift_threshold: Threshold of the drift test; None for its default.

    Returns:
        The report; ``report.ok`` is False when any anomaly is an error.

    Raises:
        InvalidArgumentError: A tolerance is out of range or the drift test is unknown.
    """
    _check_tolerance("range_tolerance", range_tolerance, upper=math.inf)
    _check_tolerance("null_rate_tolerance", null_rate_tolerance, upper=1.0)
    tester = get_drift_test(drift_test, threshold=drift_threshold)
    anomalies: list[Anomaly] = []
    names = set(batch.column_names)
    known = set(schema.names)
    for col in schema.columns:
        if col.name not in names:
            anomalies.append(_missing(col))
    for name in batch.column_names:
        if name not in known:
            anomalies.append(_extra(name))
    rows = int(batch.num_rows)
    checks: list[_Check] = []
    profiles = {c.name: c for c in profile.columns}  # by name: not a search per column
    positions = {name: index for index, name in enumerate(batch.column_names)}
    for col in schema.columns:
        if col.name not in names:
            continue
        arrow_type = batch.schema.field(positions[col.name]).type
        finding, usable = type_change(col, arrow_type, batch.column(positions[col.name]))
        if finding is not None:
            anomalies.append(finding)
        if usable:
            checks.append(
                _plan(len(checks), col, profiles.get(col.name), arrow_type, range_tolerance)
            )
    if rows == 0:
        anomalies.append(
            Anomaly(
                column=None,
                kind="empty_batch",
                severity="error",
                observed="0 rows",
                expected="at least 1 row",
                rows=0,
                message=f"The batch has no rows, so nothing can be checked against {against}.",
            )
        )
        return ValidationReport(against=against, rows=0, anomalies=tuple(anomalies))
    if checks:
        anomalies += _measure(batch, checks, rows, tester, null_rate_tolerance)
    if expectations is not None:
        anomalies += check_expectations(batch, expectations)
    return ValidationReport(against=against, rows=rows, anomalies=tuple(anomalies))


def _check_tolerance(label: str, value: float, *, upper: float) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 <= value <= upper
        or math.isnan(value)
    ):
        raise InvalidArgumentError(
            f"The {label!r} parameter of validate_table must be a number in [0, {upper}]. "
            f"Got {value!r} instead."
        )


def _plan(
    index: int, col: ColumnSchema, prof: ColumnProfile | None, arrow_type: Any, tol: float
) -> _Check:
    kind = k.kind_of(arrow_type)
    summary = prof.numeric if prof is not None else None
    numeric_ok = summary is not None and kind in ("numeric", "boolean", "datetime")
    bounds = None
    edges = None
    if numeric_ok and summary is not None and col.role != ColumnRole.DATETIME:
        if kind != "boolean" and col.role != ColumnRole.BOOLEAN:
            spread = tol * (summary.max - summary.min)
            bounds = (summary.min - spread, summary.max + spread)
        if kind != "datetime" and prof is not None and prof.frequencies is None:
            edges = summary.bin_edges
    freq = frequency_plan(col, arrow_type)
    categories = None
    unseen = False
    if freq is not None and prof is not None and prof.frequencies is not None:
        categories = freq[0]
        unseen = col.role in (ColumnRole.CATEGORICAL, ColumnRole.TARGET) and not freq[1]
    return _Check(index, col, prof, arrow_type, bounds, edges, categories, unseen)


def _measure(
    batch: Any, checks: list[_Check], rows: int, tester: DriftTest, null_tol: float
) -> list[Anomaly]:
    """Measure the columns in batches of :data:`~loopml.data.profile.COLUMN_BATCH` (one query
    each, over the batch's columns renamed ``c0, c1, ...``), so the work stays linear in
    columns and DuckDB never parses a user's column name."""
    import duckdb

    out: list[Anomaly] = []
    con = duckdb.connect()
    try:
        for start in range(0, len(checks), COLUMN_BATCH):
            group = checks[start : start + COLUMN_BATCH]
            sub = batch.select([c.schema.name for c in group])
            con.register("t", sub.rename_columns([_alias(c) for c in group]))
            got = _one_row(con, f"SELECT {', '.join(_selects(group))} FROM t")
            for position, c in enumerate(group):
                if c.categories is not None:  # counted by Arrow, as in the profile
                    counts = k.text_counts(sub.column(position))
                    got[f"f{c.index}"] = dict(zip(*counts, strict=True))
            for c in group:
                out += _findings(con, c, got, rows=rows, tester=tester, null_tol=null_tol)
    finally:
        con.close()
    return out


def _alias(c: _Check) -> str:
    return f"c{c.index}"


def _selects(checks: list[_Check]) -> list[str]:
    selects = []
    for c in checks:
        i, name = c.index, _alias(c)
        present = k.present_sql(name, c.arrow_type)
        selects.append(f"count_if(NOT {present}) AS n{i}")
        if c.bounds is not None or c.edges is not None:
            value = k.value_sql(name, c.arrow_type)
            if c.bounds is not None:
                lo, hi = (k.number(b) for b in c.bounds)
                selects += [
                    f"count_if({value} < {lo} OR {value} > {hi}) AS o{i}",
                    f"min({value}) AS mn{i}",
                    f"max({value}) AS mx{i}",
                ]
            if c.edges is not None:
                selects.append(f"{k.histogram_sql(value, c.edges)} AS h{i}")
    return selects


def _findings(
    con: Any, c: _Check, got: dict[str, Any], *, rows: int, tester: DriftTest, null_tol: float
) -> list[Anomaly]:
    out = _nulls(c, int(got[f"n{c.index}"] or 0), rows, null_tol)
    if c.bounds is not None and got[f"o{c.index}"]:
        out.append(_out_of_range(c, got, rows))
    freq = (
        {}
        if c.categories is None
        else fold_frequencies(got[f"f{c.index}"], c.categories, other_bucket=False)
    )
    if c.unseen and freq.get(OTHER):
        out.append(_unseen(con, c, freq[OTHER]))
    shift = _shift(c, got, freq, tester)
    if shift is not None:
        out.append(shift)
    return out


def _one_row(con: Any, sql: str) -> dict[str, Any]:
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    rows = cursor.fetchall()  # all of them: DuckDB keeps a partly read result open
    return dict(zip(names, rows[0] if rows else (), strict=True))


def _nulls(c: _Check, nulls: int, rows: int, tol: float) -> list[Anomaly]:
    name = c.schema.name
    ref_nulls = c.profile.nulls if c.profile is not None else 0
    if nulls and not c.schema.nullable and ref_nulls == 0:
        return [
            Anomaly(
                column=name,
                kind="unexpected_nulls",
                severity="error",
                observed=f"{nulls} nulls",
                expected="no nulls",
                rows=nulls,
                message=(
                    f"Column {name!r} has {nulls} null (or NaN) values of {rows} rows, but the "
                    "reference had none; fill or drop them, or register data with nulls."
                ),
            )
        ]
    ref_rate = c.profile.null_rate if c.profile is not None else 0.0
    rate = nulls / rows
    if rate - ref_rate > tol:
        return [
            Anomaly(
                column=name,
                kind="null_rate_jump",
                severity="warning",
                observed=f"null rate {rate:.2%}",
                expected=f"<= {ref_rate + tol:.2%} (reference {ref_rate:.2%} + {tol:.2%})",
                rows=nulls,
                message=(
                    f"Column {name!r} is null in {rate:.2%} of the rows, up from {ref_rate:.2%} "
                    f"in the reference (more than the {tol:.2%} tolerance)."
                ),
            )
        ]
    return []


def _out_of_range(c: _Check, got: dict[str, Any], rows: int) -> Anomaly:
    i, name = c.index, c.schema.name
    assert c.bounds is not None  # guarded by the caller
    lo, hi = c.bounds
    count = int(got[f"o{i}"])
    return Anomaly(
        column=name,
        kind="out_of_range",
        severity="warning",
        observed=f"{count} values in [{got[f'mn{i}']:.6g}, {got[f'mx{i}']:.6g}]",
        expected=f"[{lo:.6g}, {hi:.6g}]",
        rows=count,
        message=(
            f"Column {name!r} has {count} of {rows} values outside the reference range widened "
            f"by the tolerance, [{lo:.6g}, {hi:.6g}]; check the units or the source."
        ),
    )


def _unseen(con: Any, c: _Check, count: int) -> Anomaly:
    name = c.schema.name
    text = k.text_sql(_alias(c))
    assert c.categories is not None  # guarded by the caller
    known = ", ".join(k.literal(v) for v in c.categories) or "NULL"
    sample = con.execute(
        f"SELECT {text} AS v, count(*) AS n FROM t "
        f"WHERE {k.present_sql(_alias(c), c.arrow_type)} AND {text} NOT IN ({known}) "
        f"GROUP BY v ORDER BY n DESC, v LIMIT {SAMPLE_VALUES}"
    ).fetchall()
    values = [str(v) for v, _ in sample]
    return Anomaly(
        column=name,
        kind="unseen_category",
        severity="warning",
        observed=f"{values}",
        expected=f"one of {len(c.categories)} known categories",
        rows=count,
        message=(
            f"Column {name!r} has {count} rows with categories the reference never saw, "
            f"e.g. {values}; map them to known values or register a new version."
        ),
    )


def _shift(
    c: _Check, got: dict[str, Any], freq: dict[str, int], tester: DriftTest
) -> Anomaly | None:
    if c.profile is None or c.schema.role in (ColumnRole.DATETIME, ColumnRole.IDENTIFIER):
        return None
    if c.categories is not None and c.profile.frequencies is not None:
        keys = list(c.profile.frequencies)
        if freq.get(OTHER) and OTHER not in keys:
            keys.append(OTHER)
        ref = [c.profile.frequencies.get(key, 0) for key in keys]
        cur = [freq.get(key, 0) for key in keys]
    elif c.edges is not None and c.profile.numeric is not None:
        ref = list(c.profile.numeric.bin_counts)
        cur = list(k.dense_bins(got.get(f"h{c.index}"), c.edges))
    else:
        return None
    if sum(ref) == 0 or sum(cur) == 0:
        return None
    result = tester.compute(ref, cur)
    if not result.drifted:
        return None
    name = c.schema.name
    if result.p_value is None:
        expected = f"{result.test} <= {result.threshold:g}"
    else:
        expected = f"{result.test} p-value >= {result.threshold:g}"
    detail = "" if result.p_value is None else f", p-value {result.p_value:.3g}"
    return Anomaly(
        column=name,
        kind="distribution_shift",
        severity="warning",
        observed=f"{result.statistic:.6g}",
        expected=expected,
        rows=None,
        message=(
            f"Column {name!r} is distributed differently from the reference: {result.test} "
            f"{result.statistic:.4g}{detail} (threshold {result.threshold:g})."
        ),
    )


def _missing(col: ColumnSchema) -> Anomaly:
    return Anomaly(
        column=col.name,
        kind="missing_column",
        severity="error",
        observed="absent",
        expected=f"{col.dtype} ({col.role.value})",
        rows=None,
        message=f"Column {col.name!r} ({col.dtype}) is missing from the batch; add it back.",
    )


def _extra(name: str) -> Anomaly:
    return Anomaly(
        column=name,
        kind="extra_column",
        severity="warning",
        observed="present",
        expected="absent",
        rows=None,
        message=f"Column {name!r} is not in the reference schema; it is not validated.",
    )
