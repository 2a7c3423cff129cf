"""User-declared expectations, checked with pandera and reported as anomalies.

An expectation set is either a :class:`pandera.pandas.DataFrameSchema` or a mapping from a column
name to one or a list of :class:`pandera.pandas.Check` (ranges, allowed values, uniqueness,
regular expressions, custom predicates: anything pandera checks). The batch is validated
lazily (every failure collected) as pandas, and each failing (column, check) pair becomes one
``expectation_failed`` anomaly (severity ``error``) with the failing row count and a few
failing values. pandera 0.35 runs on pandas 3 here (tested), so nothing is re-implemented.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from loopml.core.entities.data import Anomaly
from loopml.core.errors import InvalidArgumentError

#: Failing values quoted per anomaly.
SAMPLE_VALUES = 5


def to_pandera_schema(expectations: Any) -> Any:
    """Return a pandera ``DataFrameSchema`` for a schema or a ``{column: checks}`` mapping.

    Columns given as a mapping are optional (a missing column is reported by validation as
    ``missing_column``, not twice), nullable and untyped: only the checks apply.

    Raises:
        InvalidArgumentError: ``expectations`` is neither, or a value is not a pandera Check.
    """
    import pandera.pandas as pa

    if isinstance(expectations, pa.DataFrameSchema):
        return expectations
    if isinstance(expectations, Mapping):
        columns = {}
        for name, checks in expectations.items():
            items = [checks] if isinstance(checks, pa.Check) else checks
            if not isinstance(items, Sequence) or not all(isinstance(c, pa.Check) for c in items):
                raise InvalidArgumentError(
                    f"The expectations for column {name!r} must be a pandera Check or a list of "
                    f"them. Got {checks!r} instead. Use e.g. "
                    "[pandera.pandas.Check.ge(0), pandera.pandas.Check.isin(['a', 'b'])]."
                )
            columns[str(name)] = pa.Column(checks=list(items), nullable=True, required=False)
        return pa.DataFrameSchema(columns)
    raise InvalidArgumentError(
        "The 'expectations' argument must be a pandera.pandas.DataFrameSchema or a dict of "
        f"column name -> list of pandera.pandas.Check. Got {type(expectations).__name__} "
        "instead."
    )


def check_expectations(batch: Any, expectations: Any) -> list[Anomaly]:
    """Run user expectations on a batch and return one anomaly per failing check.

    Args:
        batch: A :class:`pyarrow.Table`.
        expectations: A pandera ``DataFrameSchema`` or ``{column: [Check, ...]}``.

    Returns:
        ``expectation_failed`` anomalies (severity ``error``), in pandera's order.

    Raises:
        InvalidArgumentError: The expectations are not pandera objects.
    """
    from pandera.errors import SchemaError, SchemaErrors

    schema = to_pandera_schema(expectations)
    wanted = [str(c) for c in schema.columns]
    if schema.checks or not set(wanted) <= set(batch.column_names):
        frame = batch.to_pandas()
    else:
        frame = batch.select(wanted).to_pandas()
    try:
        schema.validate(frame, lazy=True)
    except SchemaErrors as exc:
        return _anomalies(exc.failure_cases)
    except SchemaError as exc:  # pragma: no cover - lazy validation collects them all
        return [_anomaly(None, str(exc.check or exc.reason_code), [], None)]
    return []


def _anomalies(cases: Any) -> list[Anomaly]:
    out: list[Anomaly] = []
    cases = cases.astype({"column": "object", "check": "object"})
    keys = cases[["column", "check"]].drop_duplicates()
    for column, check in keys.itertuples(index=False):
        mask = (cases["check"] == check) & (
            cases["column"].isna() if not isinstance(column, str) else cases["column"] == column
        )
        sub = cases[mask]
        index = sub["index"].dropna()
        rows = int(index.nunique()) if len(index) else None
        values = [str(v) for v in sub["failure_case"].drop_duplicates().head(SAMPLE_VALUES)]
        name = column if isinstance(column, str) else None
        out.append(_anomaly(name, str(check), values, rows))
    return out


def _anomaly(column: str | None, check: str, values: list[str], rows: int | None) -> Anomaly:
    where = f"Column {column!r}" if column else "The batch"
    count = f"{rows} rows" if rows is not None else "the batch"
    return Anomaly(
        column=column,
        kind="expectation_failed",
        severity="error",
        observed=f"{count} fail, e.g. {values}" if values else f"{count} fail",
        expected=check,
        rows=rows,
        message=(
            f"{where} fails the expectation {check!r} ({count}; failing values {values}). "
            "Fix the data upstream or relax the expectation."
        ),
    )
