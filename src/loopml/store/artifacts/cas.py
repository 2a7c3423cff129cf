"""The content-addressed artifact store: bytes stored once under their SHA-256 digest.

Layout under the root (a local folder or any fsspec URL, see :mod:`.fs`)::

    objects/<digest[:2]>/<digest[2:]>   one object per distinct content
    tmp/                                local writes in progress (renamed into objects/);
                                        those of writers that died are removed on open
    quarantine/<digest>.<ms>            objects that failed verification, kept for forensics

Writes are atomic and skipped when the object is already stored (a stored object of the
wrong size, a truncated one, is rewritten). Every read is verified:
bytes that no longer hash to their digest (changed or truncated after they were written)
raise :class:`~loopml.core.errors.ArtifactIntegrityError` and are never returned silently.
The failed object is moved to ``quarantine/`` so that logging the artifact again stores a
good copy, as the error message says.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from loopml.core.entities import Blob
from loopml.core.errors import (
    ArtifactIntegrityError,
    ConflictError,
    InvalidArgumentError,
    LoopmlError,
    NotFoundError,
    PermissionDeniedError,
)
from loopml.core.hashing import ALGORITHM, CHUNK_SIZE, hash_bytes, hash_stream, is_digest
from loopml.store.artifacts.atomic import PartialWrites, write_atomically
from loopml.store.artifacts.fs import DENIED_ERRNOS, ObjectFS

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

OBJECTS_DIR = "objects"
QUARANTINE_DIR = "quarantine"


class _HashCheckingReader(io.RawIOBase):
    """A raw stream that hashes what it passes through and checks the digest at the end.

    When the inner stream is exhausted and the bytes read do not hash to ``digest``,
    ``readinto`` raises the error built by ``on_mismatch(actual_digest, bytes_read)``, and
    keeps raising it on every later read.
    """

    def __init__(
        self,
        inner: BinaryIO,
        digest: str,
        on_mismatch: Callable[[str, int], Exception],
    ) -> None:
        super().__init__()
        self._inner = inner
        self._digest = digest
        self._on_mismatch = on_mismatch
        self._hash = hashlib.new(ALGORITHM)
        self._size = 0
        self._verified = False
        self._failure: Exception | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        if self._failure is not None:
            raise self._failure
        if self._verified:
            return 0
        view = memoryview(buffer).cast("B")
        data = self._inner.read(len(view))
        if data:
            view[: len(data)] = data
            self._hash.update(data)
            self._size += len(data)
            return len(data)
        actual = self._hash.hexdigest()
        if actual != self._digest:
            self._failure = self._on_mismatch(actual, self._size)
            raise self._failure
        self._verified = True
        return 0

    def close(self) -> None:
        if not self.closed:
            try:
                self._inner.close()
            finally:
                super().close()


class ContentAddressedStore:
    """An :class:`~loopml.store.protocols.ArtifactStore` over a local folder or fsspec URL.

    Args:
        url: A local folder (created on the first write) or an fsspec URL such as
            ``s3://bucket/loopml`` or ``memory://scratch``.

    Raises:
        InvalidArgumentError: ``url`` is empty or has an unknown scheme.
        PermissionDeniedError: A local root cannot be a folder (a file is in the way).

    Example:
        >>> store = ContentAddressedStore("memory://cas-doc-example")
        >>> blob = store.put_bytes(b"hello")
        >>> blob.digest[:12], blob.size
        ('2cf24dba5fb0', 5)
        >>> store.get_bytes(blob.digest)
        b'hello'
        >>> store.delete(blob.digest)
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._fs = ObjectFS(url)
        #: What the sweep of ``tmp/`` on open (and in :meth:`describe`) found and removed.
        self.partial_writes = self._fs.sweep_partial_writes()

    def __repr__(self) -> str:
        return f"ContentAddressedStore({self.url!r})"

    # -- writes ------------------------------------------------------------------------

    def put_file(self, path: Path) -> Blob:
        """Store a local file's bytes (a no-op when already stored) and return its blob.

        The file is hashed while streamed (never read whole into memory), then copied only
        when the store lacks it (or holds a copy of the wrong size, which is replaced); the
        copy is hashed again as it streams and discarded unless it matches.

        Raises:
            NotFoundError: ``path`` does not exist.
            InvalidArgumentError: ``path`` is a folder.
            ConflictError: The file changed while it was being stored (nothing is stored).
            PermissionDeniedError: The file cannot be read, or the store cannot be written.
            StoreError: The store failed for another reason.
        """
        path = Path(path)
        with open_source(path) as stream:
            digest, size = hash_stream(stream)
        key = _object_key(digest)
        if self._fs.size(key) == size:
            return Blob(digest, size)

        def changed(actual: str, read: int) -> Exception:
            return ConflictError(
                f"The file {path} changed while it was being stored: it first hashed to "
                f"{digest} ({size} bytes), then to {actual} ({read} bytes). Nothing was "
                "stored; log it again once nothing is writing to it."
            )

        with open_source(path) as stream, verifying_stream(stream, digest, changed) as checked:
            self._fs.write_stream(key, checked)
        return Blob(digest, size)

    def put_bytes(self, data: bytes) -> Blob:
        """Store bytes (a no-op when already stored) and return their blob.

        Raises:
            InvalidArgumentError: ``data`` is not bytes-like.
            PermissionDeniedError: The store cannot be written.
            StoreError: The store failed for another reason.
        """
        if not isinstance(data, bytes | bytearray | memoryview):
            raise InvalidArgumentError(
                f"put_bytes takes bytes. Got {type(data).__name__} instead; encode text first "
                "(text.encode('utf-8')) or store a file with put_file."
            )
        data = bytes(data)
        digest = hash_bytes(data)
        key = _object_key(digest)
        if self._fs.size(key) != len(data):
            self._fs.write_bytes(key, data)
        return Blob(digest, len(data))

    def delete(self, digest: str) -> None:
        """Remove a blob; a no-op when it is not stored.

        Raises:
            InvalidArgumentError: ``digest`` is not a SHA-256 hex digest.
        """
        self._fs.remove(_object_key(check_digest(digest)))

    # -- reads -------------------------------------------------------------------------

    def exists(self, digest: str) -> bool:
        """Tell whether a blob is stored.

        Raises:
            InvalidArgumentError: ``digest`` is not a SHA-256 hex digest.
        """
        return self._fs.exists(_object_key(check_digest(digest)))

    def get_bytes(self, digest: str) -> bytes:
        """Return a blob's bytes, verified against ``digest``.

        Raises:
            InvalidArgumentError: ``digest`` is not a SHA-256 hex digest.
            NotFoundError: No blob is stored under ``digest``.
            ArtifactIntegrityError: The stored bytes no longer hash to ``digest``.
        """
        key = _object_key(check_digest(digest))
        with self._missing(digest):
            data = self._fs.read_bytes(key)
        actual = hash_bytes(data)
        if actual != digest:
            raise self._integrity_error(digest, actual, len(data))
        return data

    def get_file(self, digest: str, dest: Path) -> Path:
        """Copy a blob to ``dest``, verified before it appears there.

        The bytes go to a temporary file beside ``dest``, are verified, and only then is the
        file renamed to ``dest``: ``dest`` never holds unverified bytes, and a failure leaves
        it as it was. Missing parent folders are created.

        Returns:
            ``dest``.

        Raises:
            InvalidArgumentError: ``digest`` is not a SHA-256 hex digest.
            NotFoundError: No blob is stored under ``digest``.
            ArtifactIntegrityError: The stored bytes no longer hash to ``digest``.
            PermissionDeniedError: ``dest`` cannot be written.
        """
        with self.open(digest) as source:
            return copy_to_file(source, Path(dest))

    def open(self, digest: str) -> BinaryIO:
        """Open a blob for streaming reads, verified as it is read.

        The stream hashes what it returns; when it reaches the end and the bytes do not hash
        to ``digest``, ``read`` raises :class:`ArtifactIntegrityError`. Read it to the end
        before trusting what it returned. It is not seekable.

        Raises:
            InvalidArgumentError: ``digest`` is not a SHA-256 hex digest.
            NotFoundError: No blob is stored under ``digest``.
        """
        key = _object_key(check_digest(digest))
        with self._missing(digest):
            inner = self._fs.open_read(key)

        def corrupted(actual: str, read: int) -> Exception:
            return self._integrity_error(digest, actual, read)

        return verifying_stream(inner, digest, corrupted)

    def describe(self) -> Mapping[str, str]:
        """Return facts for ``loopml doctor``: protocol, root, whether a write worked, and the
        partial writes of ``tmp/``.

        ``writable`` is ``"true"`` when a small probe object could be written and removed;
        otherwise it is ``"false"`` and ``error`` says why. ``partial_writes`` (local stores)
        says how many stale ``.part`` files of killed writers were removed since the store was
        opened (it sweeps ``tmp/`` again first), and how many are in progress now.
        """
        facts = {"protocol": self._fs.protocol, "root": self._fs.root, "layout": "sha256"}
        if self._fs.is_local:
            self.partial_writes += self._fs.sweep_partial_writes()
            facts["partial_writes"] = _describe_partial(self.partial_writes)
        problem = self._fs.probe()
        facts["writable"] = "false" if problem else "true"
        if problem:
            facts["error"] = problem
        return facts

    # -- for the artifact proxy of `loopml server` -------------------------------------

    @property
    def local_root(self) -> Path | None:
        """The root folder when the store is a local folder (None for an object store)."""
        return Path(self._fs.root) if self._fs.is_local else None

    def stored_size(self, digest: str) -> int | None:
        """The size of the stored blob, or None when it is not stored (nothing is read)."""
        return self._fs.size(_object_key(check_digest(digest)))

    def open_unverified(self, digest: str, start: int = 0) -> BinaryIO:
        """Open a blob's stored bytes from ``start``, NOT verified: for ranged reads whose
        reader checks the whole (the artifact proxy's downloads). Use :meth:`open` otherwise.

        Raises:
            InvalidArgumentError: ``digest`` is not a SHA-256 hex digest.
            NotFoundError: No blob is stored under ``digest``.
        """
        key = _object_key(check_digest(digest))
        with self._missing(digest):
            stream = self._fs.open_read(key)
        if start:
            stream.seek(start)
        return stream

    def verify(self, digest: str) -> Blob:
        """Read a stored blob to its end and check its digest.

        Raises:
            InvalidArgumentError: ``digest`` is not a SHA-256 hex digest.
            NotFoundError: No blob is stored under ``digest``.
            ArtifactIntegrityError: The stored bytes no longer hash to ``digest`` (the object
                is moved to ``quarantine/``, as on any read).
        """
        size = 0
        with self.open(digest) as stream:
            while chunk := stream.read(CHUNK_SIZE):
                size += len(chunk)
        return Blob(digest, size)

    def adopt_file(self, path: Path, blob: Blob) -> Blob:
        """Store the local file ``path``, whose bytes the caller has checked against
        ``blob``, and remove it: one atomic rename when the store is a local folder on the
        same filesystem, else a streamed copy verified again.

        Raises:
            ArtifactIntegrityError: The copy did not hash to ``blob.digest`` (nothing stored).
            PermissionDeniedError: The store cannot be written.
            StoreError: The store failed for another reason.
        """
        key = _object_key(check_digest(blob.digest))
        if self._fs.size(key) != blob.size and not self._fs.adopt_local(key, path):

            def changed(actual: str, read: int) -> Exception:
                return ArtifactIntegrityError(
                    f"The staged file {path} no longer hashes to {blob.digest} ({read} bytes "
                    f"hashing to {actual}); nothing was stored. Send the artifact again."
                )

            with open_source(path) as stream, verifying_stream(stream, blob.digest, changed) as s:
                self._fs.write_stream(key, s)
        path.unlink(missing_ok=True)
        return blob

    # -- internals ---------------------------------------------------------------------

    @contextlib.contextmanager
    def _missing(self, digest: str) -> Iterator[None]:
        try:
            yield
        except NotFoundError as exc:
            raise NotFoundError(
                f"No artifact with digest {digest} in the artifact store at {self._fs.root}. "
                "Check the digest (it is the Blob.digest returned when the artifact was "
                "stored) and the store location, or log the artifact again."
            ) from exc

    def _integrity_error(self, digest: str, actual: str, read: int) -> ArtifactIntegrityError:
        key = _object_key(digest)
        location = self._fs.location(key)
        moved_to = self._quarantine(key, digest)
        if moved_to:
            fix = f"It was moved to {moved_to}; log the artifact again to store a good copy."
        else:
            fix = f"Delete {location} and log the artifact again to store a good copy."
        return ArtifactIntegrityError(
            f"The artifact {digest} stored at {location} does not match its digest: the "
            f"stored object was changed or truncated after it was written (it now reads as "
            f"{read} bytes hashing to {actual}), so it must be re-logged. {fix}"
        )

    def _quarantine(self, key: str, digest: str) -> str | None:
        """Move a failed object aside so a re-log stores a fresh copy; None if that failed."""
        target = f"{QUARANTINE_DIR}/{digest}.{time.time_ns() // 1_000_000}"
        try:
            self._fs.move(key, target)
        except Exception:  # the integrity error is what the caller must see
            return None
        return self._fs.location(target)


def _describe_partial(found: PartialWrites) -> str:
    def mib(size: int) -> str:
        return f"{size / 2**20:.1f} MiB"

    return (
        f"{found.removed} stale removed ({mib(found.removed_bytes)}), "
        f"{found.in_progress} in progress ({mib(found.in_progress_bytes)})"
    )


def verifying_stream(
    inner: BinaryIO, digest: str, on_mismatch: Callable[[str, int], Exception]
) -> BinaryIO:
    """Wrap ``inner`` in a buffered stream that checks ``digest`` when it reaches its end."""
    return io.BufferedReader(_HashCheckingReader(inner, digest, on_mismatch), CHUNK_SIZE)


def check_digest(digest: str) -> str:
    """Return ``digest`` when it is a SHA-256 hex digest.

    Raises:
        InvalidArgumentError: It is not (the message says what a digest is).
    """
    if not isinstance(digest, str) or not is_digest(digest):
        raise InvalidArgumentError(
            f"{digest!r} is not an artifact digest: a digest is 64 lowercase hex digits "
            "(SHA-256). Pass the Blob.digest returned when the artifact was stored."
        )
    return digest


def _object_key(digest: str) -> str:
    return f"{OBJECTS_DIR}/{digest[:2]}/{digest[2:]}"


def open_source(path: Path) -> BinaryIO:
    """Open a local file to store, naming it in the errors."""
    try:
        return path.open("rb")
    except FileNotFoundError as exc:
        raise NotFoundError(
            f"Cannot store {path}: there is no such file. Pass the path of an existing file."
        ) from exc
    except IsADirectoryError as exc:
        raise InvalidArgumentError(
            f"Cannot store {path}: it is a folder, and put_file stores one file. Store the "
            "files in it one by one."
        ) from exc
    except PermissionError as exc:
        raise PermissionDeniedError(
            f"Cannot store {path}: this process may not read it ({exc.strerror}). Give it "
            "read access to the file."
        ) from exc


def copy_to_file(source: BinaryIO, dest: Path) -> Path:
    """Copy a verifying stream to ``dest`` atomically: through a temporary file beside it,
    renamed into place only once the stream reached its end (and its check passed).

    Returns:
        ``dest``.

    Raises:
        ArtifactIntegrityError: The stream's check failed (``dest`` is left as it was).
        PermissionDeniedError: ``dest`` cannot be written.
    """

    def fill(sink: BinaryIO) -> None:
        while chunk := source.read(CHUNK_SIZE):  # verification raises at the end
            with _destination_errors(dest):
                sink.write(chunk)

    write_atomically(dest, dest.parent, fill, lambda: _destination_errors(dest))
    return dest


@contextlib.contextmanager
def _destination_errors(dest: Path) -> Iterator[None]:
    """Name the destination in errors writing it."""
    try:
        yield
    except LoopmlError:
        raise
    except OSError as exc:
        if isinstance(exc, PermissionError) or exc.errno in DENIED_ERRNOS:
            raise PermissionDeniedError(
                f"Cannot write the artifact to {dest}: {exc.strerror or exc}. Choose a "
                "destination in a folder this process can write."
            ) from exc
        raise
