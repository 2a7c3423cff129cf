"""Blobs sent in chunks to the artifact proxy of ``loopml server``: staged, checked, stored.

An upload is named by what it sends, ``<digest>-<size>``, so every client sending the same
bytes continues the same upload: after a dropped connection, a client restarted, or a server
restarted (the staged bytes are a file on disk). Its life:

1. :meth:`ChunkedUploads.start`: when the store holds the blob already, it is answered
   ``stored`` and nothing is sent (dedupe); else the staged file is created (or found) and
   its size is the offset to send from.
2. :meth:`ChunkedUploads.append`: one chunk written at an offset that must be the staged
   size (else :class:`~loopml.core.errors.ConflictError` naming the right one); a chunk over
   the limit, or past the announced size, leaves the staged file as it was.
3. :meth:`ChunkedUploads.complete`: the staged bytes are hashed; a mismatch with the digest
   removes them and raises :class:`~loopml.core.errors.ArtifactIntegrityError` (nothing
   stored); else the file is moved into the store (one rename on a local store).

Staged files live in ``<root>/uploads/`` of a local store (the same filesystem, so the move is
a rename), or in a local folder for an object store. Each operation holds an exclusive
``flock`` on the staged file, so concurrent clients and server workers never interleave
writes; an upload untouched for :data:`STALE_UPLOAD_S` is removed when the staging is opened.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from loopml.core.entities import ArtifactUpload, Blob
from loopml.core.errors import (
    ArtifactIntegrityError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    PayloadTooLargeError,
    StoreError,
)
from loopml.core.hashing import CHUNK_SIZE
from loopml.store.artifacts.cas import ContentAddressedStore, check_digest

__all__ = ["STALE_UPLOAD_S", "UPLOADS_DIR", "ChunkedUploads", "upload_id"]

#: The folder of staged uploads under a local store's root.
UPLOADS_DIR = "uploads"
#: An upload nobody wrote to for this long (seconds) is removed when the staging opens.
STALE_UPLOAD_S = 7 * 24 * 3600.0
_UPLOAD_ID = re.compile(r"(?P<digest>[0-9a-f]{64})-(?P<size>[0-9]{1,16})")


def upload_id(digest: str, size: int) -> str:
    """The name of the upload of ``size`` bytes hashing to ``digest``."""
    return f"{digest}-{size}"


def _parse(text: str) -> tuple[str, int]:
    match = _UPLOAD_ID.fullmatch(text)
    if match is None:
        raise InvalidArgumentError(
            f"{text[:80]!r} is not an upload id: an upload id is '<digest>-<size>', as "
            "returned when the upload was started (POST /artifacts/uploads)."
        )
    return match["digest"], int(match["size"])


class ChunkedUploads:
    """The staged uploads of one artifact store (see the module docstring).

    Args:
        store: Where completed uploads go.
        folder: Where staged files live (default: ``<root>/uploads`` of a local store).

    Raises:
        InvalidArgumentError: ``folder`` is missing and the store is not a local folder.
    """

    def __init__(self, store: ContentAddressedStore, folder: Path | None = None) -> None:
        if folder is None:
            if store.local_root is None:
                raise InvalidArgumentError(
                    f"The artifact store at {store.url} is not a local folder: give "
                    "ChunkedUploads a local folder to stage uploads in."
                )
            folder = store.local_root / UPLOADS_DIR
        self.store = store
        self.folder = folder
        #: The abandoned uploads removed when this staging was opened.
        self.swept = self.sweep()

    # -- the steps of an upload --------------------------------------------------------

    def start(self, digest: str, size: int) -> ArtifactUpload:
        """Start (or find) the upload of ``size`` bytes hashing to ``digest``.

        Raises:
            InvalidArgumentError: A malformed digest, or a negative size.
        """
        check_digest(digest)
        if not isinstance(size, int) or size < 0:
            raise InvalidArgumentError(f"An upload's size is a byte count >= 0; got {size!r}.")
        name = upload_id(digest, size)
        if self.store.stored_size(digest) == size:
            return ArtifactUpload(name, digest, size, size, stored=True)
        with self._errors(name):
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(self._path(name), "ab"):  # created when missing, kept when resumed
                pass
        return self.state(name)

    def state(self, name: str) -> ArtifactUpload:
        """Where the upload ``name`` stands: its offset, or ``stored`` once complete.

        Raises:
            NotFoundError: No such upload (never started, aborted or expired).
        """
        digest, size = _parse(name)
        try:
            offset = self._path(name).stat().st_size
        except FileNotFoundError:
            if self.store.stored_size(digest) == size:
                return ArtifactUpload(name, digest, size, size, stored=True)
            raise self._missing(name) from None
        return ArtifactUpload(name, digest, size, offset, stored=False)

    def append(
        self, name: str, offset: int, chunk: Iterable[bytes], *, limit: int
    ) -> ArtifactUpload:
        """Write the pieces of one chunk at ``offset`` of the upload ``name``.

        The chunk is streamed to disk as it arrives. A chunk over ``limit`` bytes, or
        reaching past the announced size, is refused and the staged file cut back to
        ``offset``. A client that drops mid-chunk keeps what arrived (a prefix of its bytes):
        :meth:`state` tells it where to go on.

        Raises:
            NotFoundError: No such upload.
            ConflictError: ``offset`` is not the bytes received so far (the message says
                which offset to send from), or the upload completed meanwhile.
            PayloadTooLargeError: The chunk is over ``limit`` bytes (nothing written).
            InvalidArgumentError: The chunk reaches past the announced size (nothing written).
        """
        digest, size = _parse(name)
        with self._locked(name) as staged:
            have = os.fstat(staged.fileno()).st_size
            if offset != have:
                raise ConflictError(
                    f"The upload {name[:16]}... holds {have:,} bytes; a chunk sent at offset "
                    f"{offset:,} would leave a gap or overwrite bytes. Send it from offset "
                    f"{have:,} (GET the upload to ask again)."
                )
            staged.seek(have)
            written = 0
            try:
                for piece in chunk:
                    written += len(piece)
                    if written > limit:
                        raise PayloadTooLargeError(
                            f"The chunk is over the limit of {limit:,} bytes per request; send "
                            "smaller chunks (or start the server with a larger --max-body-mb)."
                        )
                    if have + written > size:
                        raise InvalidArgumentError(
                            f"The chunk reaches past the {size:,} bytes announced for the "
                            f"upload of {digest}; send exactly those bytes."
                        )
                    with self._errors(name):
                        staged.write(piece)
            except (PayloadTooLargeError, InvalidArgumentError):
                staged.truncate(have)  # nothing of a refused chunk stays
                raise
            finally:
                with self._errors(name):
                    staged.flush()
                    os.fsync(staged.fileno())
            return ArtifactUpload(name, digest, size, have + written, stored=False)

    def complete(self, name: str) -> ArtifactUpload:
        """Check the staged bytes against the digest and move them into the store.

        Completing an upload that already completed answers ``stored`` again.

        Raises:
            NotFoundError: No such upload.
            ConflictError: Bytes are still missing (the message says from which offset).
            ArtifactIntegrityError: The bytes received do not hash to the digest; they are
                removed and nothing is stored.
        """
        digest, size = _parse(name)
        try:
            with self._locked(name) as staged:
                have = os.fstat(staged.fileno()).st_size
                if have != size:
                    raise ConflictError(
                        f"The upload {name[:16]}... holds {have:,} of its {size:,} bytes; "
                        f"send the rest from offset {have:,}, then complete it."
                    )
                staged.seek(0)
                actual = hashlib.sha256()
                while piece := staged.read(CHUNK_SIZE):
                    actual.update(piece)
                if actual.hexdigest() != digest:
                    self._path(name).unlink()
                    raise ArtifactIntegrityError(
                        f"The {size:,} bytes received for the upload of {digest} hash to "
                        f"{actual.hexdigest()}: they were changed on the way, or the file "
                        "changed while it was sent. Nothing was stored; send it again."
                    )
                self.store.adopt_file(self._path(name), Blob(digest, size))
        except NotFoundError:
            if self.store.stored_size(digest) == size:  # a repeated complete
                return ArtifactUpload(name, digest, size, size, stored=True)
            raise
        return ArtifactUpload(name, digest, size, size, stored=True)

    def abort(self, name: str) -> None:
        """Remove the staged bytes of the upload ``name`` (a no-op when there are none)."""
        _parse(name)
        with self._errors(name):
            self._path(name).unlink(missing_ok=True)

    def sweep(self, *, now: float | None = None) -> int:
        """Remove the uploads nobody wrote to for :data:`STALE_UPLOAD_S`; return how many."""
        now = time.time() if now is None else now
        removed = 0
        with contextlib.suppress(OSError):
            for entry in os.scandir(self.folder):
                with contextlib.suppress(OSError):
                    if _UPLOAD_ID.fullmatch(entry.name) and (
                        now - entry.stat().st_mtime > STALE_UPLOAD_S
                    ):
                        os.unlink(entry.path)
                        removed += 1
        return removed

    # -- internals ---------------------------------------------------------------------

    def _path(self, name: str) -> Path:
        return self.folder / name

    def _missing(self, name: str) -> NotFoundError:
        return NotFoundError(
            f"No upload {name[:16]}... in progress: it was never started, was aborted, or "
            "expired. Start it again (POST /artifacts/uploads); a blob already stored is "
            "answered as such."
        )

    @contextlib.contextmanager
    def _locked(self, name: str) -> Iterator[BinaryIO]:
        """The staged file, open for update under an exclusive lock, still the upload's."""
        import fcntl

        path = self._path(name)
        try:
            staged: BinaryIO = open(path, "r+b")  # noqa: SIM115 (closed below)
        except FileNotFoundError:
            raise self._missing(name) from None
        with staged:
            fcntl.flock(staged.fileno(), fcntl.LOCK_EX)
            try:
                current = os.stat(path)
            except FileNotFoundError:
                current = None
            if current is None or current.st_ino != os.fstat(staged.fileno()).st_ino:
                # completed (moved into the store) or aborted while this request waited
                raise self._missing(name)
            yield staged

    @contextlib.contextmanager
    def _errors(self, name: str) -> Iterator[None]:
        try:
            yield
        except OSError as exc:
            full = exc.errno == errno.ENOSPC
            raise StoreError(
                f"Could not stage the upload {name[:16]}... in {self.folder}: "
                f"{exc.strerror or exc}."
                + (" Free some space there." if full else " Check that folder.")
            ) from exc
