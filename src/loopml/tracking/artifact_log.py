"""Log files, folders, bytes and in-memory objects as a run's artifacts, and read them back.

Bytes go to the content-addressed artifact store (stored once, verified on read); the run's
artifact index maps each run-relative path to a digest.

A folder is logged file by file. A symbolic link inside it is stored as the file it points to
when that file lies inside the folder too (the same bytes the folder holds anyway); a link
that leads out of the folder, or nowhere, is refused before anything is stored, so that
logging a folder never copies a file from elsewhere on the machine (``/etc/passwd``, a key).
Links to folders inside the folder are followed, once each (a loop is refused).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from loopml.core.entities import ArtifactEntry
from loopml.core.errors import InvalidArgumentError, NotFoundError
from loopml.core.ids import RunId
from loopml.store.artifacts.cas import check_digest
from loopml.store.protocols import ArtifactStore, TrackingStore
from loopml.tracking import payloads
from loopml.tracking.keys import check_artifact_path


def _join(artifact_path: str | None, name: str) -> str:
    """``artifact_path/name``, checked (a leading ``/`` is refused, never dropped)."""
    return check_artifact_path(f"{artifact_path.rstrip('/')}/{name}" if artifact_path else name)


class ArtifactLog:
    """Writes and reads the artifacts of runs."""

    def __init__(self, tracking: TrackingStore, artifacts: ArtifactStore) -> None:
        self._tracking = tracking
        self._artifacts = artifacts

    def log(
        self,
        run_id: RunId,
        source: Any,
        *,
        name: str | None = None,
        artifact_path: str | None = None,
    ) -> list[ArtifactEntry]:
        """Log ``source`` (see :data:`payloads.SUPPORTED`) and return the index entries."""
        if isinstance(source, str | os.PathLike):
            return self._log_path(run_id, Path(source), name=name, artifact_path=artifact_path)
        kind = payloads.object_kind(source)
        if kind is None:
            raise InvalidArgumentError(
                f"Cannot log an object of type {type(source).__name__} as an artifact; "
                f"supported: {payloads.SUPPORTED}. For a dict use log_dict."
            )
        if kind == "bytes" and not name:
            raise InvalidArgumentError(
                "Logging bytes needs a file name: log_artifact(data, name='model.bin')."
            )
        filename = name or payloads.DEFAULT_NAMES[kind]
        return [
            self.log_bytes(run_id, payloads.to_bytes(source, kind), _join(artifact_path, filename))
        ]

    def log_bytes(self, run_id: RunId, data: bytes, path: str) -> ArtifactEntry:
        """Store bytes at a run-relative path."""
        path = check_artifact_path(path)
        blob = self._artifacts.put_bytes(data)
        entry = ArtifactEntry(path=path, digest=blob.digest, size=blob.size)
        self._tracking.add_artifacts(run_id, [entry])
        return entry

    def _log_path(
        self, run_id: RunId, path: Path, *, name: str | None, artifact_path: str | None
    ) -> list[ArtifactEntry]:
        if not path.exists():
            raise NotFoundError(
                f"Cannot log artifact {str(path)!r}: no such file or folder. Check the path "
                f"(relative paths start at {Path.cwd()})."
            )
        if path.is_file():
            files = [(path, _join(artifact_path, name or path.name))]
        else:
            base = name or path.name
            files = [(f, _join(artifact_path, f"{base}/{rel}")) for f, rel in _folder_files(path)]
        entries = []
        for file, rel in files:
            blob = self._artifacts.put_file(file)
            entries.append(ArtifactEntry(path=rel, digest=blob.digest, size=blob.size))
        self._tracking.add_artifacts(run_id, entries)
        return entries

    def register(self, run_id: RunId, entries: Sequence[ArtifactEntry]) -> list[ArtifactEntry]:
        """Index blobs that are stored already (uploaded through a server's artifact proxy)
        at run-relative paths: what the server does for the remote SDK's ``log_artifact``.

        Raises:
            InvalidArgumentError: A path that could leave the run's folder, a malformed
                digest, or a size other than the stored blob's (nothing is indexed).
            NotFoundError: A blob that is not stored (upload it first; nothing is indexed).
        """
        checked = []
        for entry in entries:
            path = check_artifact_path(entry.path)
            size = self._stored_size(check_digest(entry.digest))
            if size is None:
                raise NotFoundError(
                    f"Artifact {path!r} names blob {entry.digest}, which the artifact store "
                    f"{self._artifacts.url} does not hold. Upload the bytes first (the artifact "
                    "proxy, RemoteArtifactStore.put_file), then register them."
                )
            if size != entry.size:
                raise InvalidArgumentError(
                    f"Artifact {path!r}: blob {entry.digest} is {size} bytes, not {entry.size} "
                    "as given. Register the size the upload answered."
                )
            checked.append(ArtifactEntry(path=path, digest=entry.digest, size=size))
        self._tracking.add_artifacts(run_id, checked)
        return checked

    def _stored_size(self, digest: str) -> int | None:
        sized = getattr(self._artifacts, "stored_size", None)  # the content store's, no read
        if callable(sized):
            found = sized(digest)
            return None if found is None else int(found)
        if not self._artifacts.exists(digest):
            return None
        return len(self._artifacts.get_bytes(digest))

    def find(self, run_id: RunId, path: str) -> ArtifactEntry:
        """Return the index entry of one artifact."""
        check_artifact_path(path)
        entries = self._tracking.list_artifacts(run_id)
        for entry in entries:
            if entry.path == path:
                return entry
        from loopml.core.errors import did_you_mean

        raise NotFoundError(
            f"Run {run_id} has no artifact {path!r}."
            f"{did_you_mean(path, [e.path for e in entries])}"
            " List them with `loopml runs show RUN_ID`."
        )

    def read_bytes(self, run_id: RunId, path: str) -> bytes:
        """Return an artifact's bytes, verified against its digest."""
        return self._artifacts.get_bytes(self.find(run_id, path).digest)

    def download(self, run_id: RunId, path: str, dest: Path) -> Path:
        """Copy one artifact, or every artifact under a folder path, into ``dest``."""
        check_artifact_path(path.rstrip("/") or path)
        entries = self._tracking.list_artifacts(run_id)
        prefix = path.rstrip("/") + "/"
        selected = [e for e in entries if e.path == path or e.path.startswith(prefix)]
        if not selected:
            self.find(run_id, path)  # raises the helpful NotFoundError
        for entry in selected:
            target = dest / check_artifact_path(entry.path)  # never outside dest
            target.parent.mkdir(parents=True, exist_ok=True)
            self._artifacts.get_file(entry.digest, target)
        return dest / path


def _folder_files(folder: Path) -> list[tuple[Path, str]]:
    """Return ``(file to read, path relative to folder)`` for every regular file in
    ``folder``, in path order, following links only where they stay inside the folder.

    Raises:
        InvalidArgumentError: A link leads out of the folder, nowhere, or into a loop; the
            message lists the links and says how to log them.
    """
    root = folder.resolve()
    found: list[tuple[Path, str]] = []
    refused: list[str] = []

    def walk(real: Path, rel: str, visiting: frozenset[Path]) -> None:
        for entry in sorted(os.scandir(real), key=lambda e: e.name):
            name = f"{rel}{entry.name}"
            if entry.is_symlink():
                target = Path(os.path.realpath(entry.path))
                shown = f"{name} -> {os.readlink(entry.path)}"
                if not target.is_relative_to(root):
                    refused.append(f"{shown} (outside the folder)")
                elif not target.exists():
                    refused.append(f"{shown} (points to nothing)")
                elif target.is_dir():
                    if target in visiting:
                        refused.append(f"{shown} (a loop)")
                    else:
                        walk(target, f"{name}/", visiting | {target})
                elif target.is_file():
                    found.append((target, name))
            elif entry.is_dir(follow_symlinks=False):
                path = Path(entry.path)
                walk(path, f"{name}/", visiting | {path})
            elif entry.is_file(follow_symlinks=False):
                found.append((Path(entry.path), name))

    walk(root, "", frozenset({root}))
    if refused:
        shown = "; ".join(refused[:5]) + (
            f"; and {len(refused) - 5} more" if len(refused) > 5 else ""
        )
        raise InvalidArgumentError(
            f"Cannot log the folder {folder}: {len(refused)} symbolic link(s) in it lead out "
            f"of it or nowhere ({shown}), and a logged folder stores only what lies inside "
            "it. Nothing was stored. Copy the files the links point to into the folder, log "
            "them on their own with log_artifact(path), or remove the links."
        )
    return found
