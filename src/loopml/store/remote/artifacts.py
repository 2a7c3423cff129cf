"""The artifact store of a ``loopml server``, over its artifact proxy: the
:class:`~loopml.store.protocols.ArtifactStore` protocol, so code that stores and reads blobs
works unchanged on a client with no storage credentials.

Uploads go in chunks of ``chunk_size`` bytes (never the whole file in memory): the file is
hashed first, the server answers ``stored`` when it has the blob already (nothing is sent),
else each chunk is sent at its offset. A dropped connection is retried by the transport; when
the server had already written the chunk, it answers with the offset to go on from, and the
upload resumes there (also across processes: an upload is named by its digest and size). The
server stores the blob only once the bytes it received hash to the digest.

Downloads stream the bytes (resumed with ``Range`` after a dropped connection) and check the
digest at the end: a mismatch raises :class:`~loopml.core.errors.ArtifactIntegrityError`,
with the server's own account when its stored copy is the one that changed (the server moves
that copy to quarantine, so logging the artifact again stores a good one).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import httpx

from loopml.core.entities import ArtifactUpload, Blob
from loopml.core.errors import (
    ArtifactIntegrityError,
    ConflictError,
    InvalidArgumentError,
    LoopmlError,
    NotFoundError,
    StoreError,
)
from loopml.core.hashing import CHUNK_SIZE, hash_bytes, hash_stream
from loopml.store.artifacts.cas import check_digest, copy_to_file, open_source
from loopml.store.remote.transport import Transport, decode, new_idempotency_key

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = ["DEFAULT_CHUNK_SIZE", "RemoteArtifactStore"]

#: Bytes per upload request (the server's ``--max-body-mb`` must allow it; 64 MiB by default).
DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024
_OCTETS = {"Content-Type": "application/octet-stream"}
_PIECE = 256 * 1024  # what a chunk is read and sent in


class RemoteArtifactStore:
    """An :class:`~loopml.store.protocols.ArtifactStore` over a ``loopml server``.

    Writing needs a token with the editor role, reading the viewer role, :meth:`delete` the
    admin role.

    Args:
        url: The server's URL (``http://host:5000``).
        token: An API token (None for a server running with ``--auth none``).
        chunk_size: Bytes per upload request.
        attempts: How many times an upload starts over from the server's offset (after a
            chunk the server refused as out of place, or an upload that vanished) before
            giving up.
        transport: An open transport to use instead of making one from ``url`` and ``token``
            (it is not closed by :meth:`close`).

    Example:
        >>> store = RemoteArtifactStore("http://127.0.0.1:5000", token)  # doctest: +SKIP
        >>> blob = store.put_file(Path("model.pkl"))  # doctest: +SKIP
        >>> store.get_file(blob.digest, Path("copy.pkl"))  # doctest: +SKIP
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        attempts: int = 5,
        transport: Transport | None = None,
    ) -> None:
        if not isinstance(chunk_size, int) or chunk_size < 1:
            raise InvalidArgumentError(
                f"chunk_size is a byte count >= 1; got {chunk_size!r}. Use for example "
                f"{DEFAULT_CHUNK_SIZE} (8 MiB)."
            )
        self._owned = transport is None
        self.transport = transport or Transport(url, token)
        self.url = self.transport.url
        self.chunk_size = chunk_size
        self.attempts = attempts

    def __repr__(self) -> str:
        return f"RemoteArtifactStore({self.url!r})"

    def close(self) -> None:
        """Close the connections (unless the transport was given)."""
        if self._owned:
            self.transport.close()

    def __enter__(self) -> RemoteArtifactStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- writes ------------------------------------------------------------------------

    def put_file(self, path: Path) -> Blob:
        """Send a local file (nothing when the server has it already); return its blob.

        Raises:
            NotFoundError: ``path`` does not exist.
            InvalidArgumentError: ``path`` is a folder.
            ConflictError: The file changed while it was sent (nothing is stored).
            AccessDeniedError: The token's role may not write.
            PayloadTooLargeError: ``chunk_size`` is over the server's limit per request.
            StoreError: The server could not be reached.
        """
        path = Path(path)
        with open_source(path) as stream:
            digest, size = hash_stream(stream)

        def changed() -> bool:
            with open_source(path) as again:
                return hash_stream(again) != (digest, size)

        with open_source(path) as source:
            self._upload(source, Blob(digest, size), str(path), changed)
        return Blob(digest, size)

    def put_bytes(self, data: bytes) -> Blob:
        """Send bytes (nothing when the server has them already); return their blob.

        Raises:
            InvalidArgumentError: ``data`` is not bytes-like.
            AccessDeniedError: The token's role may not write.
            StoreError: The server could not be reached.
        """
        if not isinstance(data, bytes | bytearray | memoryview):
            raise InvalidArgumentError(
                f"put_bytes takes bytes. Got {type(data).__name__} instead; encode text first "
                "(text.encode('utf-8')) or store a file with put_file."
            )
        data = bytes(data)
        blob = Blob(hash_bytes(data), len(data))
        self._upload(io.BytesIO(data), blob, "the bytes", lambda: False)
        return blob

    def delete(self, digest: str) -> None:
        """Remove a blob on the server (a no-op when it is not stored); needs the admin role.

        Raises:
            InvalidArgumentError: ``digest`` is not a SHA-256 hex digest.
            AccessDeniedError: The token's role is below admin.
        """
        self.transport.request("DELETE", f"/artifacts/{check_digest(digest)}")

    # -- reads -------------------------------------------------------------------------

    def exists(self, digest: str) -> bool:
        """Tell whether the server stores a blob (nothing is downloaded).

        Raises:
            InvalidArgumentError: ``digest`` is not a SHA-256 hex digest.
        """
        try:
            self.transport.request("GET", f"/artifacts/{check_digest(digest)}/info")
        except NotFoundError:
            return False
        return True

    def get_bytes(self, digest: str) -> bytes:
        """Download a blob's bytes, verified against ``digest``.

        Raises:
            InvalidArgumentError: ``digest`` is not a SHA-256 hex digest.
            NotFoundError: The server stores no such blob.
            ArtifactIntegrityError: The bytes do not hash to ``digest``.
        """
        with self.open(digest) as stream:
            return stream.read()

    def get_file(self, digest: str, dest: Path) -> Path:
        """Download a blob to ``dest``, verified before it appears there (a failure leaves
        ``dest`` as it was). Raises as :meth:`get_bytes`."""
        with self.open(digest) as stream:
            return copy_to_file(stream, Path(dest))

    def open(self, digest: str) -> BinaryIO:
        """Open a blob for streaming reads, verified as it is read: when the stream reaches
        its end and the bytes do not hash to ``digest``, ``read`` raises
        :class:`ArtifactIntegrityError`. A dropped connection is resumed where it stopped.
        Raises as :meth:`get_bytes`."""
        return io.BufferedReader(_Download(self, check_digest(digest)), CHUNK_SIZE)

    def describe(self) -> Mapping[str, str]:
        """Facts for ``loopml doctor``: this server, and its artifact store's facts
        (``server_protocol``, ``server_root``, ``writable``, ``error``)."""
        facts: dict[str, str] = {
            "protocol": self.url.split("://", 1)[0],
            "root": f"{self.url}/api/v1/artifacts",
            "layout": "sha256",
        }
        server = decode(dict[str, str], self.transport.request("GET", "/artifacts").json())
        for key, value in server.items():
            facts[key if key in ("writable", "error") else f"server_{key}"] = value
        return facts

    # -- internals ---------------------------------------------------------------------

    def _upload(self, source: BinaryIO, blob: Blob, what: str, changed: Callable[[], bool]) -> None:
        state = self._start(blob)
        stalls = 0
        while not state.stored:
            before = state.offset
            chunk: _Slice | None = None
            try:
                if state.offset < blob.size:
                    length = min(self.chunk_size, blob.size - state.offset)
                    chunk = _Slice(source, state.offset, length)
                    state = self._send(state, chunk)
                else:
                    state = self._post(f"/artifacts/uploads/{state.upload_id}/complete")
            except ConflictError as exc:  # the server holds more (or less): go on from its offset
                if chunk is not None and chunk.ended_early:
                    self._abort(state)
                    raise self._changed(what, blob) from exc
                state = decode(ArtifactUpload, self._get_state(state).json())
            except NotFoundError:  # completed by another client, aborted or expired
                state = self._start(blob)
            except ArtifactIntegrityError as exc:
                if changed():
                    raise self._changed(what, blob) from exc
                raise
            stalls = 0 if state.offset > before or state.stored else stalls + 1
            if stalls > self.attempts:
                raise StoreError(
                    f"The upload of {what} ({blob.digest}) to {self.url} made no progress "
                    f"in {stalls} attempts (the server stays at offset {state.offset:,}). "
                    "Try again; if it persists, check the server's log."
                )

    def _start(self, blob: Blob) -> ArtifactUpload:
        body = {"digest": blob.digest, "size": blob.size}
        return self._post("/artifacts/uploads", body)

    def _post(self, path: str, body: Any = None) -> ArtifactUpload:
        key = new_idempotency_key()  # safe to repeat: the server answers the same again
        return self.transport.post(path, ArtifactUpload, body, idempotency_key=key)

    def _get_state(self, state: ArtifactUpload) -> httpx.Response:
        return self.transport.request("GET", f"/artifacts/uploads/{state.upload_id}")

    def _send(self, state: ArtifactUpload, chunk: _Slice) -> ArtifactUpload:
        answer = self.transport.request(
            "PUT",
            f"/artifacts/uploads/{state.upload_id}",
            params={"offset": state.offset},
            content=chunk,
            headers=_OCTETS | {"Content-Length": str(chunk.length)},
        )
        return decode(ArtifactUpload, answer.json())

    def _abort(self, state: ArtifactUpload) -> None:
        """Drop what the server staged of an upload that cannot complete (best effort: it
        would be swept after a week anyway)."""
        with contextlib.suppress(LoopmlError):
            self.transport.request("DELETE", f"/artifacts/uploads/{state.upload_id}")

    def _changed(self, what: str, blob: Blob) -> ConflictError:
        return ConflictError(
            f"The file {what} changed while it was being stored: it first hashed to "
            f"{blob.digest} ({blob.size} bytes). Nothing was stored; log it again once "
            "nothing is writing to it."
        )

    def _mismatch(self, digest: str, actual: str, size: int) -> ArtifactIntegrityError:
        """The error of a download that did not hash to ``digest``: the server's own when
        its stored copy is what changed (it quarantines it), else a transfer error."""
        try:
            self.transport.request("POST", f"/artifacts/{digest}/verify")
        except ArtifactIntegrityError as exc:
            return exc
        except NotFoundError:
            return ArtifactIntegrityError(
                f"The artifact {digest} downloaded from {self.url} does not match its digest "
                f"({size} bytes hashing to {actual}), and the server no longer stores it (a "
                "copy that was changed or truncated is moved to quarantine). It must be "
                "re-logged."
            )
        return ArtifactIntegrityError(
            f"The artifact {digest} downloaded from {self.url} does not match its digest "
            f"({size} bytes hashing to {actual}), though the server's copy checks out: it "
            "was changed or truncated on the way. Download it again."
        )


class _Slice:
    """``length`` bytes of ``source`` from ``offset``, read in pieces as they are sent (a
    chunk is never whole in memory), again from the start on each iteration (a retry).

    Raises:
        ConflictError: The source ends early (it shrank while it was sent).
    """

    def __init__(self, source: BinaryIO, offset: int, length: int) -> None:
        self.source = source
        self.offset = offset
        self.length = length
        self.ended_early = False

    def __iter__(self) -> Iterator[bytes]:
        self.source.seek(self.offset)
        left = self.length
        while left > 0:
            piece = self.source.read(min(_PIECE, left))
            if not piece:
                self.ended_early = True
                raise ConflictError(
                    f"The source ended {left:,} bytes early while it was being sent: it "
                    "changed while it was being stored. Nothing was stored; log it again."
                )
            left -= len(piece)
            yield piece


class _Download(io.RawIOBase):
    """A blob's bytes from the server: resumed with ``Range`` after a dropped connection,
    their digest checked at the end (the error raised again on every later read)."""

    def __init__(self, store: RemoteArtifactStore, digest: str) -> None:
        super().__init__()
        self._store = store
        self._digest = digest
        self._hash = hashlib.sha256()
        self._position = 0
        self._left = b""
        self._resumes = 0
        self._failure: Exception | None = None
        self._verified = False
        self._response: httpx.Response | None = None
        self._pieces: Iterator[bytes] = iter(())
        self._connect()  # a missing blob raises here, before anything is read

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        if self._failure is not None:
            raise self._failure
        if self._verified:
            return 0
        while not self._left:
            try:
                self._left = next(self._pieces)
            except StopIteration:
                return self._finish()
            except httpx.TransportError as exc:
                self._resume(exc)
        view = memoryview(buffer).cast("B")
        taken = self._left[: len(view)]
        self._left = self._left[len(taken) :]
        view[: len(taken)] = taken
        self._hash.update(taken)
        self._position += len(taken)
        return len(taken)

    def close(self) -> None:
        if not self.closed:
            try:
                if self._response is not None:
                    self._response.close()
            finally:
                super().close()

    def _connect(self) -> None:
        headers = {"Range": f"bytes={self._position}-"} if self._position else {}
        path = f"/artifacts/{self._digest}"
        response = self._store.transport.request("GET", path, headers=headers, stream=True)
        self._response = response
        if self._position and response.status_code != 206:
            raise StoreError(
                f"The server at {self._store.url} ignored the range asked to resume the "
                f"download of {self._digest} at byte {self._position}; download it again."
            )
        self._pieces = response.iter_raw()  # pieces as they arrive

    def _resume(self, exc: httpx.TransportError) -> None:
        if self._response is not None:
            self._response.close()
        self._resumes += 1
        if self._resumes > self._store.attempts:
            raise StoreError(
                f"The download of {self._digest} from {self._store.url} broke off "
                f"{self._resumes} times (last at byte {self._position:,}: {exc}). Try again."
            ) from exc
        self._connect()

    def _finish(self) -> int:
        if self._response is not None:
            self._response.close()
        actual = self._hash.hexdigest()
        if actual != self._digest:
            self._failure = self._store._mismatch(self._digest, actual, self._position)
            raise self._failure
        self._verified = True
        return 0
