""":class:`RemoteDatasets`: the datasets of a ``loopml server``, with the methods of
:class:`~loopml.data.DatasetService`.

Registering writes the rows as Parquet here (the same normalization as the embedded
service), uploads the file through the artifact proxy and asks the server to register it by
its digest; the server reads it back, computes the schema and profile and assigns the
version number under the name's lock. Reading downloads the version's Parquet file through
the proxy (verified against its digest). Validation runs here against the version the server
describes; diffs and splits run on the server.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml.client.remote.paths import needs_artifacts, seg
from loopml.core.entities import DatasetDiff, DatasetSchema, DatasetVersion, ValidationReport
from loopml.core.ids import RunId
from loopml.data.refs import check_name, parse_ref
from loopml.store.protocols import ArtifactStore
from loopml.store.remote import Transport, new_idempotency_key

if TYPE_CHECKING:
    import pyarrow as pa

    from loopml.data.service import Output, SplitMethod

__all__ = ["RemoteDatasets"]


def _version_path(ref: str) -> str:
    parsed = parse_ref(ref)
    selector = "latest" if parsed.version is None else str(parsed.version)
    return f"/datasets/{seg(parsed.name)}/versions/{seg(selector)}"


class RemoteDatasets:
    """The datasets of a ``loopml server`` (stands for :class:`~loopml.data.DatasetService`).

    Args:
        transport: The server.
        artifacts: The server's artifact proxy (registering and reading rows need it).
    """

    def __init__(self, transport: Transport, *, artifacts: ArtifactStore | None = None) -> None:
        self.transport = transport
        self.artifacts = artifacts

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
        """Register ``data`` as the next version of ``name`` on the server (or return the
        version already holding the same rows); see :func:`loopml.datasets.register`."""
        from loopml.data import ingest
        from loopml.data.service import parquet_bytes

        check_name(name)
        artifacts = needs_artifacts(self.artifacts, "DatasetService.register")
        table = ingest.to_table(data)
        ingest.check_declared(table, target=target, timestamp=timestamp, key=key)
        blob = artifacts.put_bytes(parquet_bytes(table))
        body = {
            "digest": blob.digest,
            "target": target,
            "timestamp": timestamp,
            "key": key,
            "description": description,
            "run_id": run_id,
            "parents": list(parents),
            "split": split,
            "max_categories": max_categories,
        }
        # Safe to repeat: the same rows registered again return the version holding them.
        return self.transport.post(
            f"/datasets/{seg(name)}/versions",
            DatasetVersion,
            body,
            idempotency_key=new_idempotency_key(),
        )

    def get(self, ref: str) -> DatasetVersion:
        """The version named by ``name``, ``name@3`` or ``name@latest``."""
        return self.transport.get(_version_path(ref), DatasetVersion)

    def latest_versions(self) -> list[DatasetVersion]:
        """The latest version of every dataset."""
        return self.transport.get("/datasets", list[DatasetVersion])

    def versions(self, name: str) -> list[DatasetVersion]:
        """Every version of one dataset, oldest first."""
        path = f"/datasets/{seg(check_name(name))}/versions"
        return self.transport.get(path, list[DatasetVersion])

    # -- reading ----------------------------------------------------------------------------

    def read_table(self, ref: str | DatasetVersion) -> pa.Table:
        """A version's rows as an Arrow table, downloaded and verified against its hash."""
        import pyarrow.parquet as pq

        artifacts = needs_artifacts(self.artifacts, "DatasetService.read_table")
        version = ref if isinstance(ref, DatasetVersion) else self.get(ref)
        return pq.read_table(io.BytesIO(artifacts.get_bytes(version.artifact_digest)))

    def load(self, ref: str, *, output: Output = "pandas") -> Any:
        """A version's rows as pandas (default), Arrow or polars."""
        from loopml.data.service import _check_output, _convert

        _check_output(output)
        return _convert(self.read_table(ref), output)

    def iter_batches(
        self, ref: str, *, batch_size: int = 65_536, output: Output = "arrow"
    ) -> Iterator[Any]:
        """A version's rows in batches: the Parquet file is downloaded (verified) to a
        temporary file and streamed from there."""
        from loopml.data.service import _check_output, check_batch_size, stream_batches

        check_batch_size(batch_size)
        _check_output(output)
        artifacts = needs_artifacts(self.artifacts, "DatasetService.iter_batches")
        version = self.get(ref)
        yield from stream_batches(artifacts, version, batch_size=batch_size, output=output)

    # -- validation and diff ----------------------------------------------------------------

    def validate(
        self,
        batch: Any,
        *,
        against: str | Path | DatasetVersion | DatasetSchema,
        expectations: Any = None,
    ) -> ValidationReport:
        """Validate a batch here against a reference (a version's schema and profile come
        from the server); see :meth:`DatasetService.validate`."""
        from loopml.data import ingest
        from loopml.data.service import validate_batch

        if isinstance(against, str) and not against.endswith(".json"):
            batch = ingest.to_table(batch, allow_empty=True, purpose="validate")
            against = self.get(against)
        return validate_batch(batch, against=against, expectations=expectations)

    def diff(self, old: str, new: str) -> DatasetDiff:
        """Compare two versions (computed on the server)."""
        return self.transport.get("/datasets/diff", DatasetDiff, old=old, new=new)

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
        """Split a version into new versions ``<name>-<split>``, on the server; see
        :meth:`DatasetService.split`."""
        if cutoff is not None and not isinstance(cutoff, str | int | float):
            cutoff = str(cutoff)  # a date or timestamp, as its ISO text
        body = {
            "method": method,
            "fractions": None if fractions is None else dict(fractions),
            "seed": seed,
            "column": column,
            "cutoff": cutoff,
            "names": list(names),
            "run_id": run_id,
        }
        return self.transport.post(_version_path(ref) + "/split", dict[str, DatasetVersion], body)

    # -- lineage ----------------------------------------------------------------------------

    def log_input(self, run_id: RunId, ref: str | DatasetVersion, role: str = "train") -> None:
        """Record that a run used a dataset version in a role."""
        text = ref.ref if isinstance(ref, DatasetVersion) else ref
        self.transport.post(f"/runs/{seg(run_id)}/inputs", type(None), {"ref": text, "role": role})

    def inputs_of(self, run_id: RunId) -> list[tuple[DatasetVersion, str]]:
        """Which dataset versions a run used, with roles."""
        return self.transport.get(f"/runs/{seg(run_id)}/inputs", list[tuple[DatasetVersion, str]])

    def runs_using(self, ref: str) -> list[tuple[RunId, str]]:
        """Which runs used a dataset version, with roles."""
        found = self.transport.get(_version_path(ref) + "/runs", list[tuple[str, str]])
        return [(RunId(run), role) for run, role in found]
