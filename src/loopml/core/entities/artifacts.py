"""Artifacts: content-addressed blobs and the run-relative paths that point at them."""

from __future__ import annotations

from dataclasses import dataclass

from loopml.core.jsonable import Jsonable


@dataclass(frozen=True)
class Blob:
    """Bytes stored once in the artifact store under their SHA-256 digest."""

    digest: str
    size: int


@dataclass(frozen=True)
class ArtifactEntry(Jsonable):
    """One file logged on a run: its path inside the run, and the blob that holds its bytes."""

    path: str
    digest: str
    size: int
