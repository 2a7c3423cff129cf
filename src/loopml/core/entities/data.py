"""Dataset entities: versions, their schema and profile, and validation reports.

A :class:`DatasetVersion` is immutable: its content hash is its identity, and the schema and
profile computed at registration are the reference that validation, serving (input schema)
and drift monitoring (reference statistics) compare new data against.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from loopml.core.ids import RunId
from loopml.core.jsonable import Jsonable

#: The bucket that gathers categories beyond the known (top-k) ones.
OTHER = "__other__"


class ColumnRole(enum.StrEnum):
    """What a column is for, which decides how it is profiled, validated and compared."""

    NUMERIC = "numeric"
    CATEGORICAL = "categorical"
    BOOLEAN = "boolean"
    DATETIME = "datetime"
    TEXT = "text"
    IDENTIFIER = "identifier"
    TARGET = "target"


@dataclass(frozen=True)
class ColumnSchema(Jsonable):
    """One column: its Arrow type, role, nullability and (categoricals) known values.

    Attributes:
        name: Column name.
        dtype: Arrow type as text (``int64``, ``double``, ``string``, ``bool``,
            ``timestamp[us, tz=UTC]``, ...).
        role: What the column is for.
        nullable: Whether nulls were seen (or are allowed).
        categories: Known values of a categorical (or categorical target), most frequent first;
            None for other roles.
        other_bucket: True when the column had more distinct values than ``categories`` keeps
            (the rest fall into :data:`OTHER`).
    """

    name: str
    dtype: str
    role: ColumnRole
    nullable: bool
    categories: tuple[str, ...] | None = None
    other_bucket: bool = False


@dataclass(frozen=True)
class DatasetSchema(Jsonable):
    """The columns of a dataset and its declared target, timestamp and key columns."""

    columns: tuple[ColumnSchema, ...]
    target: str | None = None
    timestamp: str | None = None
    key: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """Column names in order."""
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> ColumnSchema:
        """Return one column's schema. Raises KeyError for an unknown name."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)


@dataclass(frozen=True)
class NumericSummary(Jsonable):
    """Reference statistics of a numeric (or datetime, in ms since the epoch) column.

    ``bin_edges`` are fixed at registration (``len(bin_counts) + 1`` edges) so a later batch can
    be binned the same way; values outside the edges belong to the first/last bin when compared.
    ``quantiles`` maps a probability (``"0.5"``) to its value.
    """

    min: float
    max: float
    mean: float
    std: float
    quantiles: Mapping[str, float]
    bin_edges: tuple[float, ...]
    bin_counts: tuple[int, ...]


@dataclass(frozen=True)
class ColumnProfile(Jsonable):
    """Profile of one column.

    Attributes:
        name: Column name.
        count: Rows (nulls included).
        nulls: Null rows.
        distinct: Distinct non-null values (approximate on large data).
        numeric: Statistics of numeric, boolean-as-0/1 and datetime columns.
        frequencies: Value counts of categorical/boolean columns: the known values, plus
            :data:`OTHER` for the rest when there are too many.
    """

    name: str
    count: int
    nulls: int
    distinct: int
    numeric: NumericSummary | None = None
    frequencies: Mapping[str, int] | None = None

    @property
    def null_rate(self) -> float:
        """Share of null rows (0 for an empty column)."""
        return self.nulls / self.count if self.count else 0.0


@dataclass(frozen=True)
class DatasetProfile(Jsonable):
    """Profile of a whole dataset: the reference statistics of every column."""

    rows: int
    columns: tuple[ColumnProfile, ...]

    def column(self, name: str) -> ColumnProfile:
        """Return one column's profile. Raises KeyError for an unknown name."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)


@dataclass(frozen=True)
class DatasetVersion(Jsonable):
    """One immutable version of a named dataset.

    Attributes:
        name: Dataset name.
        version: 1, 2, ... in registration order.
        content_hash: SHA-256 of the rows (column names, types and values in order); two
            registrations of the same rows share a version.
        artifact_digest: The Parquet blob in the artifact store.
        rows: Row count.
        size_bytes: Size of the stored Parquet.
        created_at: Milliseconds since the epoch.
        created_by: User who registered it.
        run_id: The run it was registered in, if any.
        description: Free text.
        schema: Inferred schema (with target/timestamp/key).
        profile: Reference statistics.
        parents: ``name@version`` refs of the versions it was derived from (splits).
        split: For a split, which part it is (``train``, ``test``, ...).
    """

    name: str
    version: int
    content_hash: str
    artifact_digest: str
    rows: int
    size_bytes: int
    created_at: int
    created_by: str
    schema: DatasetSchema
    profile: DatasetProfile
    run_id: RunId | None = None
    description: str = ""
    parents: tuple[str, ...] = ()
    split: str | None = None

    @property
    def ref(self) -> str:
        """``name@version``."""
        return f"{self.name}@{self.version}"


Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Anomaly(Jsonable):
    """One finding of a validation.

    Attributes:
        column: The column concerned (None for table-level findings).
        kind: ``missing_column``, ``extra_column``, ``type_change``, ``unexpected_nulls``,
            ``out_of_range``, ``unseen_category``, ``null_rate_jump``, ``distribution_shift``,
            ``expectation_failed``, ``empty_batch``.
        severity: ``error`` fails the validation; ``warning`` is reported only.
        observed: What the batch has.
        expected: What the reference says.
        rows: How many rows are affected (None when it is not a row count).
        message: One sentence for people.
    """

    column: str | None
    kind: str
    severity: Severity
    observed: str
    expected: str
    rows: int | None
    message: str


@dataclass(frozen=True)
class ValidationReport(Jsonable):
    """The result of validating a batch against a reference (a dataset version or a schema)."""

    json_properties = ("ok",)

    against: str
    rows: int
    anomalies: tuple[Anomaly, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        """True when no anomaly is an error."""
        return not any(a.severity == "error" for a in self.anomalies)

    @property
    def errors(self) -> tuple[Anomaly, ...]:
        """The anomalies of severity ``error``."""
        return tuple(a for a in self.anomalies if a.severity == "error")


@dataclass(frozen=True)
class DatasetDiff(Jsonable):
    """What changed from one dataset version to another.

    Attributes:
        old: ``name@version`` of the first version.
        new: ``name@version`` of the second version.
        added_columns: Columns only in ``new``.
        removed_columns: Columns only in ``old``.
        type_changes: Column -> ``(old dtype, new dtype)``.
        old_rows: Rows in ``old``.
        new_rows: Rows in ``new``.
        key: The key column compared on (None without a shared key).
        rows_added: Keys only in ``new`` (None without a key).
        rows_removed: Keys only in ``old``.
        rows_changed: Keys in both whose values differ in a shared column.
    """

    old: str
    new: str
    added_columns: tuple[str, ...]
    removed_columns: tuple[str, ...]
    type_changes: Mapping[str, tuple[str, str]]
    old_rows: int
    new_rows: int
    key: str | None = None
    rows_added: int | None = None
    rows_removed: int | None = None
    rows_changed: int | None = None
