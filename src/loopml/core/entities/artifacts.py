"""Artifacts: content-addressed blobs and the run-relative paths that point at them."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Blob:
    """Bytes stored once in the artifact store under their SHA-256 digest."""

    digest: str
    size: int


@dataclass(frozen=True)
class ArtifactEntry:
    """One file logged on a run: its path inside the run, and the blob that holds its bytes."""

    path: str
    digest: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArtifactEntry:
        """Build from :meth:`to_dict` output."""
        return cls(path=str(data["path"]), digest=str(data["digest"]), size=int(data["size"]))
