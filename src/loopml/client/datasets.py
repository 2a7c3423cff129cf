"""``loopml.datasets``: register, load, validate, diff and split dataset versions.

Example:
    >>> import loopml
    >>> v = loopml.datasets.register("flights", frame, target="late")  # doctest: +SKIP
    >>> v.ref  # doctest: +SKIP
    'flights@1'
    >>> train = loopml.datasets.load("flights@latest")  # doctest: +SKIP
    >>> report = loopml.datasets.validate(new_batch, against="flights@1")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from loopml.client.fluent import _get_client, active_run
from loopml.core.entities import DatasetDiff, DatasetSchema, DatasetVersion, ValidationReport
from loopml.core.ids import RunId
from loopml.data.service import Output, SplitMethod, validate_batch


def register(
    name: str,
    data: Any,
    *,
    target: str | None = None,
    timestamp: str | None = None,
    key: str | None = None,
    description: str = "",
) -> DatasetVersion:
    """Register ``data`` as a new immutable version of dataset ``name``.

    The rows are stored once as Parquet in the artifact store; the schema (types, roles,
    known categories) and profile (reference statistics) are computed now and kept with the
    version. Registering the same rows again returns the existing version. Inside an active
    run, the version records that run.

    Args:
        name: Dataset name (letters, digits, ``_ - .``).
        data: A pandas or polars DataFrame, a pyarrow Table, or a path to a CSV file, a Parquet
            file or a folder of Parquet files.
        target: The label column, if any.
        timestamp: The event-time column, if any (time splits use it).
        key: The column that identifies a row (hash splits and diffs use it).
        description: Free text.

    Returns:
        The version (``version.ref`` is ``name@N``).

    Raises:
        InvalidArgumentError: Empty table, duplicate or missing declared columns, mixed types,
            nested types, a broken CSV row; the message names the column or line.
        NotFoundError: A path that does not exist.
    """
    run = active_run()
    return _get_client().datasets.register(
        name,
        data,
        target=target,
        timestamp=timestamp,
        key=key,
        description=description,
        run_id=run.run_id if run is not None else None,
    )


def get(ref: str) -> DatasetVersion:
    """Return a version by ``name``, ``name@3`` or ``name@latest``."""
    return _get_client().datasets.get(ref)


def list_datasets() -> list[DatasetVersion]:
    """Return the latest version of every dataset."""
    return _get_client().datasets.latest_versions()


def versions(name: str) -> list[DatasetVersion]:
    """Return every version of a dataset, oldest first."""
    return _get_client().datasets.versions(name)


def load(ref: str, *, output: Output = "pandas") -> Any:
    """Return a version's rows (verified against its hash) as pandas, ``"arrow"`` or
    ``"polars"``."""
    return _get_client().datasets.load(ref, output=output)


def iter_batches(ref: str, *, batch_size: int = 65_536, output: Output = "arrow") -> Iterator[Any]:
    """Yield a version's rows in batches, without loading the whole dataset."""
    return _get_client().datasets.iter_batches(ref, batch_size=batch_size, output=output)


def validate(
    batch: Any, *, against: str | Path | DatasetVersion | DatasetSchema, expectations: Any = None
) -> ValidationReport:
    """Validate a new batch against a version (``credit@3``: schema and profile checks), a
    :class:`DatasetSchema` or a saved ``.json`` file; see the report's ``ok`` and
    ``anomalies``. Against anything but a reference (``credit@3``) no store is opened, so
    none is created."""
    if isinstance(against, str) and not against.endswith(".json"):
        return _get_client().datasets.validate(batch, against=against, expectations=expectations)
    return validate_batch(batch, against=against, expectations=expectations)


def diff(old: str, new: str) -> DatasetDiff:
    """Compare two versions: schema changes, row counts, rows added/removed/changed by key."""
    return _get_client().datasets.diff(old, new)


def split(
    ref: str,
    *,
    method: SplitMethod = "random",
    fractions: Mapping[str, float] | None = None,
    seed: int = 0,
    column: str | None = None,
    cutoff: Any = None,
    names: tuple[str, str] = ("train", "test"),
) -> dict[str, DatasetVersion]:
    """Split a version deterministically into new versions ``<name>-<split>`` that record
    their parent; see :meth:`loopml.data.DatasetService.split`."""
    run = active_run()
    return _get_client().datasets.split(
        ref,
        method=method,
        fractions=fractions,
        seed=seed,
        column=column,
        cutoff=cutoff,
        names=names,
        run_id=run.run_id if run is not None else None,
    )


def runs_using(ref: str) -> list[tuple[RunId, str]]:
    """Return the runs that used a dataset version, with their roles."""
    return _get_client().datasets.runs_using(ref)


def inputs_of(run_id: str) -> list[tuple[DatasetVersion, str]]:
    """Return the dataset versions a run used, with their roles."""
    return _get_client().datasets.inputs_of(RunId(run_id))


__all__ = [
    "diff",
    "get",
    "inputs_of",
    "iter_batches",
    "list_datasets",
    "load",
    "register",
    "runs_using",
    "split",
    "validate",
    "versions",
]
