"""The dataset service: register, load, validate, diff and split dataset versions, and the
lineage between runs and them.

Registration computes everything first (clean table, schema, profile, Parquet bytes), then
stores the bytes (atomic, content-addressed), then writes the version in one transaction:
an error at any step leaves no half-registered version behind.
"""

from __future__ import annotations

import io
import re
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from loopml.core.clock import Clock, now_ms
from loopml.core.entities import (
    DatasetDiff,
    DatasetProfile,
    DatasetSchema,
    DatasetVersion,
    Event,
    ValidationReport,
)
from loopml.core.errors import InvalidArgumentError, NotFoundError, did_you_mean
from loopml.core.ids import RunId, new_event_id
from loopml.core.settings import current_user
from loopml.data import ingest, splits
from loopml.data.refs import check_name, parse_ref
from loopml.store.backend import Backend

if TYPE_CHECKING:
    import pyarrow as pa

    from loopml.store.protocols import ArtifactStore

Output = Literal["pandas", "arrow", "polars"]
_OUTPUTS = ("pandas", "arrow", "polars")
SplitMethod = Literal["random", "hash", "time"]


def registered_event(version: DatasetVersion) -> Event:
    """The audit event of a newly registered version (written in the same transaction)."""
    links: dict[str, str] = {"run": version.run_id} if version.run_id else {}
    for index, parent in enumerate(version.parents):
        links["parent" if index == 0 else f"parent{index + 1}"] = parent
    return Event(
        event_id=new_event_id(),
        kind="dataset.registered",
        subject=f"dataset:{version.ref}",
        actor=version.created_by,
        at=version.created_at,
        reason=version.description,
        links=links,
        data={
            "rows": version.rows,
            "size_bytes": version.size_bytes,
            "content_hash": version.content_hash,
            "split": version.split,
            "columns": len(version.schema.columns),
        },
    )


def parquet_bytes(table: pa.Table) -> bytes:
    """Serialize a normalized table to Parquet (zstd); the same rows give the same bytes."""
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def _check_output(output: str) -> None:
    if output not in _OUTPUTS:
        raise InvalidArgumentError(
            f"output must be one of {', '.join(_OUTPUTS)}; got {output!r}."
            f"{did_you_mean(str(output), _OUTPUTS)}"
        )


def _convert(table: pa.Table, output: str) -> Any:
    _check_output(output)
    if output == "arrow":
        return table
    if output == "pandas":
        return table.to_pandas()
    if output == "polars":
        try:
            import polars as pl
        except ImportError:
            raise ImportError(
                "Loading as polars needs polars: pip install 'loopml[polars]'."
            ) from None
        return pl.from_arrow(table)


def check_batch_size(batch_size: Any) -> int:
    """Return ``batch_size`` if it is a positive integer.

    Raises:
        InvalidArgumentError: It is not.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidArgumentError(f"batch_size must be a positive integer; got {batch_size!r}.")
    return batch_size


def stream_batches(
    artifacts: ArtifactStore, version: DatasetVersion, *, batch_size: int, output: str
) -> Iterator[Any]:
    """Yield a version's rows in batches: its Parquet file is copied (verified) from
    ``artifacts`` to a temporary file and streamed from there."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory(prefix="loopml-batches-") as tmp:
        path = artifacts.get_file(version.artifact_digest, Path(tmp) / "d.parquet")
        parquet = pq.ParquetFile(path)
        try:
            for batch in parquet.iter_batches(batch_size=batch_size):
                yield _convert(pa.Table.from_batches([batch]), output)
        finally:
            parquet.close()


class DatasetService:
    """Everything the SDK and CLI do with datasets, over one :class:`Backend`."""

    def __init__(self, backend: Backend, *, clock: Clock = now_ms) -> None:
        self.backend = backend
        self.store = backend.datasets
        self._clock = clock

    # -- versions ---------------------------------------------------------------------------

    def register(
        self,
        name: str,
        data: Any,
        *,
        target: str | None = None,
        timestamp: str | None = None,
        key: str | None = None,
        description: str = "",
        run_id: RunId | None = None,
        parents: tuple[str, ...] = (),
        split: str | None = None,
        max_categories: int = 50,
    ) -> DatasetVersion:
        """Register ``data`` as the next version of ``name`` (or return the existing version
        holding the same rows). See :func:`loopml.datasets.register`."""
        check_name(name)
        table = ingest.to_table(data)
        return self._register_table(
            name,
            table,
            target=target,
            timestamp=timestamp,
            key=key,
            description=description,
            run_id=run_id,
            parents=parents,
            split=split,
            max_categories=max_categories,
        )

    def _register_table(
        self,
        name: str,
        table: pa.Table,
        *,
        target: str | None,
        timestamp: str | None,
        key: str | None,
        description: str,
        run_id: RunId | None,
        parents: tuple[str, ...],
        split: str | None,
        max_categories: int,
    ) -> DatasetVersion:
        from loopml.data.profile import profile_table
        from loopml.data.schema import infer_schema

        ingest.check_declared(table, target=target, timestamp=timestamp, key=key)
        if not isinstance(description, str) or "\x00" in description:
            raise InvalidArgumentError(
                f"description must be text without NUL characters ('\\x00', which PostgreSQL "
                f"cannot store); got {description!r}."
            )
        schema: DatasetSchema = infer_schema(
            table, target=target, timestamp=timestamp, key=key, max_categories=max_categories
        )
        payload = parquet_bytes(table)
        blob = self.backend.artifacts.put_bytes(payload)
        draft = DatasetVersion(
            name=name,
            version=0,
            content_hash=blob.digest,
            artifact_digest=blob.digest,
            rows=table.num_rows,
            size_bytes=blob.size,
            created_at=self._clock(),
            created_by=current_user(self.backend.settings),
            schema=schema,
            profile=profile_table(table, schema),
            run_id=run_id,
            description=description,
            parents=parents,
            split=split,
        )
        version, _created = self.store.create_version(draft, on_created=registered_event)
        return version

    def get(self, ref: str) -> DatasetVersion:
        """Return the version named by ``name``, ``name@3`` or ``name@latest``."""
        parsed = parse_ref(ref)
        if parsed.version is None:
            return self.store.get_latest(parsed.name)
        return self.store.get_version(parsed.name, parsed.version)

    def latest_versions(self) -> list[DatasetVersion]:
        """Return the latest version of every dataset."""
        return self.store.list_datasets()

    def versions(self, name: str) -> list[DatasetVersion]:
        """Return every version of one dataset, oldest first."""
        return self.store.list_versions(check_name(name))

    # -- reading ----------------------------------------------------------------------------

    def read_table(self, ref: str | DatasetVersion) -> pa.Table:
        """Return a version's rows as an Arrow table, verified against its hash."""
        import pyarrow.parquet as pq

        version = ref if isinstance(ref, DatasetVersion) else self.get(ref)
        data = self.backend.artifacts.get_bytes(version.artifact_digest)
        return pq.read_table(io.BytesIO(data))

    def load(self, ref: str, *, output: Output = "pandas") -> Any:
        """Return a version's rows as pandas (default), Arrow or polars."""
        _check_output(output)  # before any read
        return _convert(self.read_table(ref), output)

    def iter_batches(
        self, ref: str, *, batch_size: int = 65_536, output: Output = "arrow"
    ) -> Iterator[Any]:
        """Yield a version's rows in batches without loading them all: the Parquet file is
        copied (verified) to a temporary file and streamed from there."""
        check_batch_size(batch_size)
        _check_output(output)
        version = self.get(ref)
        yield from stream_batches(
            self.backend.artifacts, version, batch_size=batch_size, output=output
        )

    # -- validation and diff ----------------------------------------------------------------

    def validate(
        self,
        batch: Any,
        *,
        against: str | Path | DatasetVersion | DatasetSchema,
        expectations: Any = None,
    ) -> ValidationReport:
        """Validate a batch against a reference.

        Args:
            batch: The new data (anything :func:`register` accepts; empty is reported).
            against: A version (``credit@3`` or a :class:`DatasetVersion`): schema and
                profile checks; a :class:`DatasetSchema`: schema checks only; or a path to a
                ``.json`` file holding either (as ``loopml data show NAME --json`` writes).
            expectations: Declarative pandera checks per column.
        """
        if isinstance(against, str) and not against.endswith(".json"):
            batch = ingest.to_table(batch, allow_empty=True, purpose="validate")  # first
            against = self.get(against)
        return validate_batch(batch, against=against, expectations=expectations)

    def diff(self, old: str, new: str) -> DatasetDiff:
        """Compare two versions: schema changes, row counts and, with a shared key, rows
        added, removed and changed (computed by DuckDB on the two tables)."""
        from loopml.data.diff import diff_versions

        a, b = self.get(old), self.get(new)
        return diff_versions(a, b, self.read_table(a), self.read_table(b))

    # -- splits -----------------------------------------------------------------------------

    def split(
        self,
        ref: str,
        *,
        method: SplitMethod = "random",
        fractions: Mapping[str, float] | None = None,
        seed: int = 0,
        column: str | None = None,
        cutoff: Any = None,
        names: tuple[str, str] = ("train", "test"),
        run_id: RunId | None = None,
    ) -> dict[str, DatasetVersion]:
        """Split a version into new versions named ``<name>-<split>``, each recording its
        parent. ``random``: a seeded permutation; ``hash``: by a stable hash of ``column`` (the
        dataset's key by default), so a row keeps its split in every version; ``time``: rows
        before ``cutoff`` (in ``column``, the dataset's timestamp by default) vs. the rest."""
        import pyarrow.compute as pc

        parent = self.get(ref)
        table = self.read_table(parent)
        schema = parent.schema
        if method == "random":
            shares = splits.check_fractions(fractions or {"train": 0.8, "test": 0.2})
            labels = splits.assign_random(table.num_rows, shares, seed)
        elif method == "hash":
            shares = splits.check_fractions(fractions or {"train": 0.8, "test": 0.2})
            col = self._split_column(column or schema.key, table, "hash", "key")
            labels = splits.assign_by_key(table.column(col), shares, col)
        elif method == "time":
            col = self._split_column(column or schema.timestamp, table, "time", "timestamp")
            if cutoff is None:
                raise InvalidArgumentError("A time split needs cutoff=, e.g. '2013-10-01'.")
            shares = splits.check_fractions({names[0]: 0.5, names[1]: 0.5})
            labels = splits.assign_by_time(table.column(col), cutoff, col)
        else:
            raise InvalidArgumentError(
                f"method must be 'random', 'hash' or 'time'; got {method!r}."
                f"{did_you_mean(str(method), ['random', 'hash', 'time'])}"
            )
        parts: dict[str, DatasetVersion] = {}
        for index, split_name in enumerate(shares):
            part = table.filter(pc.equal(labels, index))
            if part.num_rows == 0:
                raise InvalidArgumentError(
                    f"Split {split_name!r} of {parent.ref} would be empty; change the "
                    "fractions or the cutoff."
                )
            parts[split_name] = self._register_table(
                f"{parent.name}-{split_name}",
                part,
                target=schema.target,
                timestamp=schema.timestamp,
                key=schema.key,
                description=f"{split_name} split of {parent.ref} ({method})",
                run_id=run_id,
                parents=(parent.ref,),
                split=split_name,
                max_categories=50,
            )
        return parts

    @staticmethod
    def _split_column(column: str | None, table: pa.Table, method: str, role: str) -> str:
        if column is None:
            raise InvalidArgumentError(
                f"A {method} split needs column= (or a dataset registered with {role}=)."
            )
        ingest.check_declared(table, **{f"split {role}": column})
        return column

    # -- lineage ----------------------------------------------------------------------------

    def log_input(self, run_id: RunId, ref: str | DatasetVersion, role: str = "train") -> None:
        """Record that a run used a dataset version in a role (``train``, ``eval``, ...)."""
        version = ref if isinstance(ref, DatasetVersion) else self.get(ref)
        if not isinstance(role, str) or not role or len(role) > 64 or "\x00" in role:
            raise InvalidArgumentError(
                f"role must be text of 1-64 characters, without NUL ('\\x00'); got {role!r}."
            )
        self.store.log_input(run_id, version.name, version.version, role)

    def inputs_of(self, run_id: RunId) -> list[tuple[DatasetVersion, str]]:
        """Which dataset versions a run used, with roles."""
        return self.store.inputs_of(run_id)

    def runs_using(self, ref: str) -> list[tuple[RunId, str]]:
        """Which runs used a dataset version, with roles."""
        version = self.get(ref)
        return self.store.runs_using(version.name, version.version)


def validate_batch(
    batch: Any,
    *,
    against: str | Path | DatasetVersion | DatasetSchema,
    expectations: Any = None,
) -> ValidationReport:
    """Validate a batch against a version, a schema or a saved ``.json`` file; needs no store
    (see :meth:`DatasetService.validate`). The batch is read first, so a missing batch file
    is reported before anything else."""
    from loopml.data.validate import validate_table

    table = ingest.to_table(batch, allow_empty=True, purpose="validate")
    if isinstance(against, DatasetVersion):
        schema, profile, label = against.schema, against.profile, against.ref
    elif isinstance(against, DatasetSchema):
        schema, profile, label = against, DatasetProfile(rows=0, columns=()), "a saved schema"
    elif isinstance(against, Path) or against.endswith(".json"):
        schema, profile, label = _reference_file(Path(against))
    else:
        raise InvalidArgumentError(
            f"Validate against a dataset version, a schema or a .json file; got {against!r} "
            "(a reference like 'credit@3' needs DatasetService.validate)."
        )
    table = _with_reference_types(table, schema)
    return validate_table(table, schema, profile, against=label, expectations=expectations)


def _with_reference_types(table: pa.Table, schema: DatasetSchema) -> pa.Table:
    """Give all-null columns (no type of their own) the reference type, so that validation
    reports their nulls rather than a type change."""
    import pyarrow as pa

    dtypes = {c.name: c.dtype for c in schema.columns}
    for index, field in enumerate(table.schema):
        if field.name not in dtypes or table.column(index).null_count != table.num_rows:
            continue
        kind = _arrow_type(dtypes[field.name])
        if kind is not None and kind != field.type:
            table = table.set_column(index, field.name, pa.nulls(table.num_rows, type=kind))
    return table


_TIMESTAMP = re.compile(r"timestamp\[(s|ms|us|ns)(?:, tz=(.+))?\]")


def _arrow_type(text: str) -> pa.DataType | None:
    """Parse an Arrow type from its text form (``double``, ``timestamp[us, tz=UTC]``), or None."""
    import pyarrow as pa

    match = _TIMESTAMP.fullmatch(text)
    if match:
        return pa.timestamp(match.group(1), tz=match.group(2))
    try:
        return pa.type_for_alias(text)
    except ValueError:
        return None


def _reference_file(path: Path) -> tuple[DatasetSchema, DatasetProfile, str]:
    """Read a saved version (schema + profile) or a bare schema from a JSON file."""
    import orjson

    if not path.is_file():
        raise NotFoundError(f"The reference file {str(path)!r} does not exist.")
    try:
        data = orjson.loads(path.read_bytes())
        if "schema" in data and "profile" in data:
            version = DatasetVersion.from_dict(data)
            return version.schema, version.profile, f"{version.ref} ({path.name})"
        return DatasetSchema.from_dict(data), DatasetProfile(rows=0, columns=()), str(path)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise InvalidArgumentError(
            f"{str(path)!r} is not a saved dataset version or schema ({exc}). Write one with "
            "`loopml data show NAME@V --json > file.json`."
        ) from None
