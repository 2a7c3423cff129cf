"""The storage seam under the artifact store: whole objects by key, over fsspec.

:class:`ObjectFS` resolves a local path or any fsspec URL (``file://``, ``s3://``,
``gs://``, ``memory://``, ...) to a filesystem and a root, and offers the few operations the
content-addressed store needs: write an object atomically, open or read it, ask whether it
exists and how big it is, move and remove it. Keys are relative ``/``-separated paths such as
``objects/ab/cdef...``.

Atomicity, the one promise that matters here:

- on a local folder an object is written to a temporary file in ``<root>/tmp/`` (the same
  filesystem), flushed and fsynced, then renamed into place with :func:`os.replace`, so a
  reader sees the whole object or none of it, and a failed write leaves no file behind;
- on an object store (S3, GCS, Azure, ...) a PUT (single or multipart) only becomes visible
  when it completes, so objects are written straight to their final key: objects up to
  :attr:`ObjectFS.single_put_limit` in one PUT, larger ones as a streamed upload that is
  discarded (and anything partial removed) when the write fails.

Local writes go through :mod:`.atomic`, which also cleans up after writers that were killed.

fsspec is imported inside methods, so importing this module stays cheap. A plain path never
imports it at all.
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

from loopml.core.errors import (
    InvalidArgumentError,
    LoopmlError,
    NotFoundError,
    PermissionDeniedError,
    StoreError,
    did_you_mean,
)
from loopml.core.hashing import CHUNK_SIZE
from loopml.store.artifacts.atomic import (
    PartialWrites,
    fsync_folder,
    sweep_partial_writes,
    write_atomically,
)

TMP_DIR = "tmp"
#: OS error numbers that mean "this process may not write here".
DENIED_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EEXIST})
_FIX_LOCAL = (
    "Make the folder writable by this process, or point the artifact store elsewhere: set "
    "LOOPML_ARTIFACTS_URL (or LOOPML_HOME) to a folder this process can write."
)
_FIX_REMOTE = (
    "Check the credentials and permissions for that location, or set LOOPML_ARTIFACTS_URL "
    "to a location this process can write."
)


class ObjectFS:
    """Whole objects under one root: a local folder or an fsspec URL.

    Args:
        url: A local path (``~`` is expanded) or an fsspec URL such as ``file:///data/a``,
            ``s3://bucket/prefix`` or ``memory://name``.

    Raises:
        InvalidArgumentError: ``url`` is empty or names an unknown URL scheme.
        PermissionDeniedError: The local root cannot be a folder (a file is in the way).
        ImportError: The fsspec implementation for the scheme is not installed.

    Example:
        >>> store = ObjectFS("memory://doc-example")
        >>> store.write_bytes("objects/hello", b"hi")
        >>> store.read_bytes("objects/hello"), store.size("objects/hello")
        (b'hi', 2)
        >>> store.remove("objects/hello")
    """

    #: Remote writes up to this many bytes go in one PUT (read into memory first).
    single_put_limit: int = 16 * 1024 * 1024

    def __init__(self, url: str) -> None:
        if not url.strip():
            raise InvalidArgumentError(
                f"The artifact store location must be a folder path or an fsspec URL such as "
                f"'s3://bucket/prefix'. Got {url!r} instead."
            )
        self.url = url
        self._fs: Any = None
        self._local: Path | None = None
        self._remote_root = ""
        self._made_dirs: set[str] = set()
        self._lock = threading.Lock()
        if "://" in url:
            fs, path = _resolve_url(url)
            if "file" in _protocols(fs):
                self._local = Path(path)
            else:
                self._fs, self._remote_root = fs, str(path).rstrip("/")
        else:
            self._local = Path(url).expanduser().absolute()
        if self._local is not None:
            _check_local_root(self._local)

    # -- facts -------------------------------------------------------------------------

    @property
    def is_local(self) -> bool:
        """True when the root is a folder on this machine."""
        return self._local is not None

    @property
    def protocol(self) -> str:
        """``file`` for a local folder, else the fsspec protocol (``s3``, ``memory``, ...)."""
        return "file" if self._fs is None else _protocols(self._fs)[0]

    @property
    def root(self) -> str:
        """The root as a local path or a full URL."""
        if self._local is not None:
            return str(self._local)
        return str(self._fs.unstrip_protocol(self._remote_root or "/"))

    def location(self, key: str) -> str:
        """Return where ``key`` is stored, as a local path or a full URL (for messages)."""
        if self._local is not None:
            return str(self._local_path(key))
        return str(self._fs.unstrip_protocol(self._remote_path(key)))

    # -- reads -------------------------------------------------------------------------

    def exists(self, key: str) -> bool:
        """Tell whether an object is stored under ``key``."""
        return self.size(key) is not None

    def size(self, key: str) -> int | None:
        """Return the size in bytes of the object under ``key``, or None when there is none."""
        with self._read_errors(key):
            try:
                if self._local is not None:
                    path = self._local_path(key)
                    return path.stat().st_size if path.is_file() else None
                info = self._fs.info(self._remote_path(key))
            except (FileNotFoundError, NotADirectoryError):
                return None
            return int(info["size"]) if info.get("type", "file") == "file" else None

    def open_read(self, key: str) -> BinaryIO:
        """Open the object under ``key`` for reading.

        Raises:
            NotFoundError: No object is stored under ``key``.
            PermissionDeniedError: The object cannot be read by this process.
        """
        with self._read_errors(key):
            if self._local is not None:
                return self._local_path(key).open("rb")
            return cast(BinaryIO, self._fs.open(self._remote_path(key), "rb"))

    def read_bytes(self, key: str) -> bytes:
        """Return the whole object under ``key``. Raises as :meth:`open_read`."""
        with self._read_errors(key):
            if self._local is not None:
                return self._local_path(key).read_bytes()
            return bytes(self._fs.cat_file(self._remote_path(key)))

    # -- writes ------------------------------------------------------------------------

    def write_bytes(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` atomically (replacing any object there).

        Raises:
            PermissionDeniedError: The root cannot be written.
            StoreError: The write failed for another reason (a full disk, a lost connection).
        """
        if self._local is not None:
            self._write_local(key, lambda sink: self._write_chunk(key, sink, data))
            return
        path = self._remote_path(key)
        with self._write_errors(key):
            self._make_remote_parent(path)
            self._fs.pipe_file(path, bytes(data))  # one PUT: the object appears whole or not

    def write_file(self, key: str, source: Path) -> None:
        """Store the bytes of the local file ``source`` under ``key`` atomically."""
        with source.open("rb") as stream:
            self.write_stream(key, stream)

    def write_stream(self, key: str, source: BinaryIO) -> None:
        """Store everything ``source`` yields until its end under ``key``, atomically.

        An exception raised by ``source.read`` aborts the write: it propagates unchanged and
        no object (and, locally, no temporary file) is left behind.

        On a remote store, a stream of at most :attr:`single_put_limit` bytes is sent in one
        PUT; a longer one is streamed as an upload that the store only shows once complete
        (multipart on S3), and is removed if anything fails before that.

        Raises:
            PermissionDeniedError: The root cannot be written.
            StoreError: The write failed for another reason.
        """
        if self._local is not None:
            self._write_local(key, lambda sink: self._copy(key, source, sink))
            return
        head = _read_up_to(source, self.single_put_limit + 1)
        if len(head) <= self.single_put_limit:
            self.write_bytes(key, head)
            return
        path = self._remote_path(key)
        with self._write_errors(key):
            self._make_remote_parent(path)
            sink = self._fs.open(path, "wb")
        try:
            self._write_chunk(key, sink, head)
            self._copy(key, source, sink)
            with self._write_errors(key):
                sink.close()  # completes the upload; until now nothing is visible on S3/GCS
        except BaseException:
            _abandon(sink)
            self._remove_quietly(path)
            raise

    def move(self, key: str, new_key: str) -> None:
        """Move the object under ``key`` to ``new_key`` (replacing any object there)."""
        with self._write_errors(key):
            if self._local is not None:
                target = self._local_path(new_key)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(self._local_path(key), target)
            else:
                self._fs.mv(self._remote_path(key), self._remote_path(new_key))

    def adopt_local(self, key: str, source: Path) -> bool:
        """Move the local file ``source`` to ``key`` with one rename (atomic, replacing any
        object there); False, and nothing moved, when the root is not a local folder on the
        same filesystem as ``source``."""
        if self._local is None:
            return False
        target = self._local_path(key)
        with self._write_errors(key):
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.replace(source, target)
            except OSError as exc:
                if exc.errno == errno.EXDEV:  # another filesystem: the caller copies instead
                    return False
                raise
        fsync_folder(target.parent)
        return True

    def remove(self, key: str) -> None:
        """Remove the object under ``key``; a no-op when there is none."""
        with self._write_errors(key):
            if self._local is not None:
                with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                    self._local_path(key).unlink()
            else:
                with contextlib.suppress(FileNotFoundError):
                    self._fs.rm_file(self._remote_path(key))

    def sweep_partial_writes(self, *, now: float | None = None) -> PartialWrites:
        """Remove the ``.part`` files of local writes whose writer is gone, and keep those of
        live writers (the rule is in :mod:`.atomic`). Nothing to do for a remote root.

        Args:
            now: The current time in seconds since the epoch (default: the clock).
        """
        if self._local is None:
            return PartialWrites()
        return sweep_partial_writes(self._local_path(TMP_DIR), now=now)

    def probe(self) -> str | None:
        """Write and remove a small object; return None when that worked, else the error."""
        key = f"{TMP_DIR}/probe-{os.getpid()}-{threading.get_ident()}"
        try:
            self.write_bytes(key, b"loopml write probe")
            self.remove(key)
        except (PermissionDeniedError, StoreError) as exc:
            return str(exc)
        return None

    # -- internals ---------------------------------------------------------------------

    def _local_path(self, key: str) -> Path:
        assert self._local is not None, "only called for a local root"
        return self._local.joinpath(*key.split("/"))

    def _remote_path(self, key: str) -> str:
        return posixpath.join(self._remote_root, key) if self._remote_root else key

    def _write_local(self, key: str, fill: Callable[[BinaryIO], None]) -> None:
        """Write through a temp file in ``<root>/tmp/``: fill, fsync, then rename into place."""
        final = self._local_path(key)
        with self._write_errors(key):
            final.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(final, self._local_path(TMP_DIR), fill, lambda: self._write_errors(key))

    def _copy(self, key: str, source: BinaryIO, sink: Any) -> None:
        while chunk := source.read(CHUNK_SIZE):  # errors reading the source propagate as-is
            self._write_chunk(key, sink, chunk)

    def _write_chunk(self, key: str, sink: Any, chunk: bytes) -> None:
        with self._write_errors(key):
            sink.write(chunk)

    def _make_remote_parent(self, path: str) -> None:
        parent = posixpath.dirname(path)
        if not parent or parent in self._made_dirs:
            return
        self._fs.makedirs(parent, exist_ok=True)
        with self._lock:
            self._made_dirs.add(parent)

    def _remove_quietly(self, path: str) -> None:
        with contextlib.suppress(Exception):
            if self._fs.exists(path):
                self._fs.rm_file(path)

    @contextlib.contextmanager
    def _write_errors(self, key: str) -> Iterator[None]:
        """Turn OS errors of the destination into loopml errors naming the place and fix."""
        try:
            yield
        except LoopmlError:
            raise  # already says what went wrong (PermissionDeniedError is an OSError too)
        except OSError as exc:
            reason = exc.strerror or str(exc) or type(exc).__name__
            fix = _FIX_LOCAL if self.is_local else _FIX_REMOTE
            if isinstance(exc, PermissionError) or exc.errno in DENIED_ERRNOS:
                raise PermissionDeniedError(
                    f"The artifact store at {self.root} cannot be written: {reason} "
                    f"(writing {self.location(key)}). {fix}"
                ) from exc
            raise StoreError(
                f"Could not write {self.location(key)} in the artifact store at {self.root}: "
                f"{reason}. Check that the store is reachable and has free space."
            ) from exc

    @contextlib.contextmanager
    def _read_errors(self, key: str) -> Iterator[None]:
        """Turn OS errors of a read into loopml errors (never swallows an error)."""
        try:
            yield
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise NotFoundError(f"No object {key!r} in the artifact store at {self.root}.") from exc
        except PermissionError as exc:
            raise PermissionDeniedError(
                f"The artifact store at {self.root} cannot be read: {exc.strerror or exc} "
                f"(reading {self.location(key)}). Give this process read access to it."
            ) from exc


def _resolve_url(url: str) -> tuple[Any, str]:
    import fsspec

    try:
        fs, path = fsspec.core.url_to_fs(url)
    except ValueError as exc:
        scheme = url.split("://", 1)[0]
        known = sorted(fsspec.available_protocols())
        raise InvalidArgumentError(
            f"Unknown scheme {scheme!r} in the artifact store URL {url!r}. Use a folder path "
            f"or an fsspec URL such as file://, s3://, gs://, az:// or memory://."
            f"{did_you_mean(scheme, known)}"
        ) from exc
    except ImportError as exc:
        raise ImportError(
            f"The artifact store URL {url!r} needs an fsspec implementation that is not "
            f"installed: {exc}. Install it next to loopml (for example pip install s3fs)."
        ) from exc
    return fs, str(path)


def _protocols(fs: Any) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)


def _check_local_root(root: Path) -> None:
    """Fail early when a file sits where the root folder (or one of its parents) must be."""
    for path in (root, *root.parents):
        try:
            found = path.exists()
        except PermissionError as exc:
            raise PermissionDeniedError(
                f"The artifact store folder {root} cannot be reached: {exc.strerror} "
                f"({path}). {_FIX_LOCAL}"
            ) from exc
        if found:
            if not path.is_dir():
                what = "the root itself" if path == root else f"{path}"
                raise PermissionDeniedError(
                    f"The artifact store folder {root} cannot be created: {what} is a file, "
                    f"not a folder. {_FIX_LOCAL}"
                )
            return


def _read_up_to(source: BinaryIO, limit: int) -> bytes:
    """Read from ``source`` until ``limit`` bytes or its end, whichever comes first."""
    parts: list[bytes] = []
    remaining = limit
    while remaining > 0 and (chunk := source.read(min(CHUNK_SIZE, remaining))):
        parts.append(chunk)
        remaining -= len(chunk)
    return b"".join(parts)


def _abandon(sink: Any) -> None:
    """Drop a failed remote upload: discard it, and stop it from committing when collected."""
    discard = getattr(sink, "discard", None)
    if callable(discard):
        with contextlib.suppress(Exception):
            discard()
    with contextlib.suppress(AttributeError, TypeError):
        sink.closed = True  # fsspec's buffered files flush on close or __del__ unless closed
