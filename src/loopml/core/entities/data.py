"""Dataset entities: versions, their schema and profile, and validation reports.

A :class:`DatasetVersion` is immutable: its content hash is its identity, and the schema and
profile computed at registration are the reference that validation, serving (input schema)
and drift monitoring (reference statistics) compare new data against.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from loopml.core.ids import RunId

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
class ColumnSchema:
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

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "name": self.name,
            "dtype": self.dtype,
            "role": self.role.value,
            "nullable": self.nullable,
            "categories": None if self.categories is None else list(self.categories),
            "other_bucket": self.other_bucket,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnSchema:
        """Build from :meth:`to_dict` output."""
        cats = data.get("categories")
        return cls(
            name=str(data["name"]),
            dtype=str(data["dtype"]),
            role=ColumnRole(data["role"]),
            nullable=bool(data["nullable"]),
            categories=None if cats is None else tuple(str(c) for c in cats),
            other_bucket=bool(data.get("other_bucket", False)),
        )


@dataclass(frozen=True)
class DatasetSchema:
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

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "columns": [c.to_dict() for c in self.columns],
            "target": self.target,
            "timestamp": self.timestamp,
            "key": self.key,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatasetSchema:
        """Build from :meth:`to_dict` output."""
        return cls(
            columns=tuple(ColumnSchema.from_dict(c) for c in data["columns"]),
            target=data.get("target"),
            timestamp=data.get("timestamp"),
            key=data.get("key"),
        )


@dataclass(frozen=True)
class NumericSummary:
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

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (non-finite floats as strings)."""
        return {
            "min": _out(self.min),
            "max": _out(self.max),
            "mean": _out(self.mean),
            "std": _out(self.std),
            "quantiles": {k: _out(v) for k, v in self.quantiles.items()},
            "bin_edges": [_out(e) for e in self.bin_edges],
            "bin_counts": list(self.bin_counts),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NumericSummary:
        """Build from :meth:`to_dict` output."""
        return cls(
            min=float(data["min"]),
            max=float(data["max"]),
            mean=float(data["mean"]),
            std=float(data["std"]),
            quantiles={str(k): float(v) for k, v in data["quantiles"].items()},
            bin_edges=tuple(float(e) for e in data["bin_edges"]),
            bin_counts=tuple(int(c) for c in data["bin_counts"]),
        )


@dataclass(frozen=True)
class ColumnProfile:
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

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "name": self.name,
            "count": self.count,
            "nulls": self.nulls,
            "distinct": self.distinct,
            "numeric": None if self.numeric is None else self.numeric.to_dict(),
            "frequencies": None if self.frequencies is None else dict(self.frequencies),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnProfile:
        """Build from :meth:`to_dict` output."""
        num = data.get("numeric")
        freq = data.get("frequencies")
        return cls(
            name=str(data["name"]),
            count=int(data["count"]),
            nulls=int(data["nulls"]),
            distinct=int(data["distinct"]),
            numeric=None if num is None else NumericSummary.from_dict(num),
            frequencies=None if freq is None else {str(k): int(v) for k, v in freq.items()},
        )


@dataclass(frozen=True)
class DatasetProfile:
    """Profile of a whole dataset: the reference statistics of every column."""

    rows: int
    columns: tuple[ColumnProfile, ...]

    def column(self, name: str) -> ColumnProfile:
        """Return one column's profile. Raises KeyError for an unknown name."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"rows": self.rows, "columns": [c.to_dict() for c in self.columns]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatasetProfile:
        """Build from :meth:`to_dict` output."""
        return cls(
            rows=int(data["rows"]),
            columns=tuple(ColumnProfile.from_dict(c) for c in data["columns"]),
        )


@dataclass(frozen=True)
class DatasetVersion:
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

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "name": self.name,
            "version": self.version,
            "content_hash": self.content_hash,
            "artifact_digest": self.artifact_digest,
            "rows": self.rows,
            "size_bytes": self.size_bytes,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "schema": self.schema.to_dict(),
            "profile": self.profile.to_dict(),
            "run_id": self.run_id,
            "description": self.description,
            "parents": list(self.parents),
            "split": self.split,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatasetVersion:
        """Build from :meth:`to_dict` output."""
        run_id = data.get("run_id")
        return cls(
            name=str(data["name"]),
            version=int(data["version"]),
            content_hash=str(data["content_hash"]),
            artifact_digest=str(data["artifact_digest"]),
            rows=int(data["rows"]),
            size_bytes=int(data["size_bytes"]),
            created_at=int(data["created_at"]),
            created_by=str(data["created_by"]),
            schema=DatasetSchema.from_dict(data["schema"]),
            profile=DatasetProfile.from_dict(data["profile"]),
            run_id=None if run_id is None else RunId(str(run_id)),
            description=str(data.get("description", "")),
            parents=tuple(str(p) for p in data.get("parents", ())),
            split=data.get("split"),
        )


Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Anomaly:
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

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "column": self.column,
            "kind": self.kind,
            "severity": self.severity,
            "observed": self.observed,
            "expected": self.expected,
            "rows": self.rows,
            "message": self.message,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Anomaly:
        """Build from :meth:`to_dict` output."""
        rows = data.get("rows")
        severity: Severity = "error" if data["severity"] == "error" else "warning"
        return cls(
            column=data.get("column"),
            kind=str(data["kind"]),
            severity=severity,
            observed=str(data["observed"]),
            expected=str(data["expected"]),
            rows=None if rows is None else int(rows),
            message=str(data["message"]),
        )


@dataclass(frozen=True)
class ValidationReport:
    """The result of validating a batch against a reference (a dataset version or a schema)."""

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

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "against": self.against,
            "rows": self.rows,
            "ok": self.ok,
            "anomalies": [a.to_dict() for a in self.anomalies],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ValidationReport:
        """Build from :meth:`to_dict` output."""
        return cls(
            against=str(data["against"]),
            rows=int(data["rows"]),
            anomalies=tuple(Anomaly.from_dict(a) for a in data.get("anomalies", ())),
        )


def _out(value: float) -> float | str:
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


@dataclass(frozen=True)
class DatasetDiff:
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

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "old": self.old,
            "new": self.new,
            "added_columns": list(self.added_columns),
            "removed_columns": list(self.removed_columns),
            "type_changes": {k: list(v) for k, v in self.type_changes.items()},
            "old_rows": self.old_rows,
            "new_rows": self.new_rows,
            "key": self.key,
            "rows_added": self.rows_added,
            "rows_removed": self.rows_removed,
            "rows_changed": self.rows_changed,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatasetDiff:
        """Build from :meth:`to_dict` output."""
        return cls(
            old=str(data["old"]),
            new=str(data["new"]),
            added_columns=tuple(data["added_columns"]),
            removed_columns=tuple(data["removed_columns"]),
            type_changes={k: (str(v[0]), str(v[1])) for k, v in data["type_changes"].items()},
            old_rows=int(data["old_rows"]),
            new_rows=int(data["new_rows"]),
            key=data.get("key"),
            rows_added=data.get("rows_added"),
            rows_removed=data.get("rows_removed"),
            rows_changed=data.get("rows_changed"),
        )
