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


@dataclass(frozen=True)
class ArtifactUpload(Jsonable):
    """A blob being sent in chunks to the artifact proxy of ``loopml server``.

    Attributes:
        upload_id: ``<digest>-<size>``: every client sending the same bytes resumes the same
            upload, after a dropped connection or a restart of either end.
        digest: The SHA-256 digest the bytes must hash to.
        size: The number of bytes announced.
        offset: The bytes received so far: the next chunk starts here.
        stored: True once the blob is in the artifact store (it was already there, or the
            upload completed): nothing more to send.
    """

    upload_id: str
    digest: str
    size: int
    offset: int
    stored: bool
