"""Where a monitor's data come from: a DataFrame or a dataset version, for the reference and the
current side alike, and the stored reference profile of a dataset version.

A :class:`Data` is read lazily: a dataset version's rows are loaded only when something needs
rows (the first profile of a version, model scores on the reference); a stored profile is
found without reading them. The prediction log (``current=None``) is one more source of a
current frame: it will build a :class:`Data` from the log's columns (typed inputs, scores,
labels joined, event time), and the window engine takes it as it takes any frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from loopml.core.entities import DatasetSchema, DatasetVersion, Event
from loopml.core.errors import InvalidArgumentError
from loopml.core.ids import new_event_id
from loopml.health.reference import PROFILED, Kind, ReferenceProfile, build_profile

if TYPE_CHECKING:
    from loopml.data.service import DatasetService


@dataclass
class Data:
    """One side of the comparison.

    Attributes:
        label: How reports name it (``flights@3``, ``a DataFrame``).
        version: The dataset version, or None for a DataFrame.
        frame_: The rows once read.
    """

    label: str
    version: DatasetVersion | None = None
    frame_: pd.DataFrame | None = None
    _datasets: DatasetService | None = field(default=None, repr=False)

    def frame(self) -> pd.DataFrame:
        """The rows (read once)."""
        if self.frame_ is None:
            assert self._datasets is not None and self.version is not None
            self.frame_ = self._datasets.load(self.version.ref)
        return self.frame_

    def schema(self) -> DatasetSchema:
        """The version's schema, or one inferred from the frame."""
        if self.version is not None:
            return self.version.schema
        import pyarrow as pa

        from loopml.data.schema import infer_schema

        return infer_schema(pa.Table.from_pandas(self.frame(), preserve_index=False))

    @property
    def timestamp(self) -> str | None:
        """The declared event-time column of a dataset version."""
        return None if self.version is None else self.version.schema.timestamp

    @property
    def target(self) -> str | None:
        """The declared label column of a dataset version."""
        return None if self.version is None else self.version.schema.target


def resolve(value: Any, role: str, datasets: DatasetService | None) -> Data:
    """A DataFrame, a dataset ref (``flights@3``) or a :class:`DatasetVersion` as :class:`Data`.

    Raises:
        InvalidArgumentError: Anything else (or a ref without a store to read it from).
    """
    if value is None and role == "current":
        raise InvalidArgumentError(
            "current=None (the model's own prediction log) is not supported yet: pass the "
            "current data as a DataFrame or a dataset ref such as 'flights@4'."
        )
    if isinstance(value, pd.DataFrame):
        odd = [c for c in value.columns if not isinstance(c, str)]
        if odd or value.columns.has_duplicates:
            raise InvalidArgumentError(
                f"The {role} DataFrame's column names must be unique text; got "
                + (
                    f"{odd[0]!r} ({type(odd[0]).__name__})"
                    if odd
                    else f"{value.columns[value.columns.duplicated()][0]!r} twice"
                )
                + ". Rename them, e.g. frame.columns = [f'c{i}' for i in ...]."
            )
        return Data(label="a DataFrame", frame_=value)
    if isinstance(value, DatasetVersion | str):
        if datasets is None:
            raise InvalidArgumentError(
                f"{role}={value!r} names a dataset version, which needs a loopml store; "
                "call loopml.monitor through a client, or pass a DataFrame."
            )
        version = value if isinstance(value, DatasetVersion) else datasets.get(value)
        return Data(label=version.ref, version=version, _datasets=datasets)
    raise InvalidArgumentError(
        f"{role} must be a pandas DataFrame or a dataset ref such as 'flights@3'; got "
        f"{type(value).__name__}."
    )


def reference_profile(
    data: Data,
    kinds: dict[str, Kind],
    datasets: DatasetService | None,
    *,
    actor: str,
    at: int,
) -> tuple[ReferenceProfile, bool]:
    """The profile of ``kinds`` columns: for a dataset version the stored one when it covers
    them, else computed (and stored). Returns ``(profile, reused)``."""
    version = data.version
    if version is None or datasets is None:
        return build_profile(data.frame(), kinds), False
    backend = datasets.backend
    subject = f"dataset:{version.ref}"
    for event in reversed(backend.events.list_events(subject=subject, kind=PROFILED)):
        if event.data.get("content_hash") != version.content_hash:
            continue
        digest = str(event.data.get("digest", ""))
        if not backend.artifacts.exists(digest):
            continue
        stored = ReferenceProfile.from_bytes(backend.artifacts.get_bytes(digest))
        if stored is not None and all(stored.kinds.get(c) == k for c, k in kinds.items()):
            return stored, True
    profile = build_profile(data.frame(), kinds, content_hash=version.content_hash)
    blob = backend.artifacts.put_bytes(profile.to_bytes())
    backend.events.append(
        Event(
            event_id=new_event_id(),
            kind=PROFILED,
            subject=subject,
            actor=actor,
            at=at,
            reason="reference statistics for monitoring, computed once per dataset version",
            links={"artifact": blob.digest},
            data={
                "digest": blob.digest,
                "content_hash": version.content_hash,
                "columns": sorted(kinds),
                "bytes": blob.size,
            },
        )
    )
    return profile, False
