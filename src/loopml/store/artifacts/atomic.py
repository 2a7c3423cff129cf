"""Local files that appear whole or not at all, and the cleanup after writers that died.

:func:`write_atomically` writes a temporary ``.part`` file, fsyncs it and renames it into
place. A writer killed before the rename (``kill -9``, a power cut) leaves its ``.part``
behind; :func:`sweep_partial_writes` removes those (the artifact store calls it when it is
opened, and ``loopml doctor`` reports what it found). It removes only files whose writer is
gone, by a rule chosen so that a live writer's file is never taken from under it:

- a writer holds an exclusive ``flock`` on its ``.part`` for as long as it writes (the kernel
  drops it when the process dies, ``kill -9`` included): a locked file is never removed;
- the name records the writer's host (a short hash) and pid: a file written on this host is
  kept while that pid runs, and removed (unlocked) as soon as it does not;
- a file from another host, or named by an older loopml, is removed (unlocked) once nothing
  has written to it for :data:`STALE_AFTER_S` (one hour).

A pid reused by another process keeps a dead writer's file until that process ends too: the
rule errs on the side of keeping.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

#: An unlocked ``.part`` whose writer cannot be checked is stale after this long untouched.
STALE_AFTER_S = 3600.0
#: ``.<name>.<host hash>-<pid>.<random>.part``: who is writing a temporary file.
_PART_NAME = re.compile(r"\.(?P<host>[0-9a-f]{8})-(?P<pid>\d+)\.[0-9a-f]{12}\.part$")


@dataclass(frozen=True)
class PartialWrites:
    """What :meth:`ObjectFS.sweep_partial_writes` found in ``<root>/tmp/``.

    Attributes:
        removed: Stale ``.part`` files removed (their writers are gone).
        removed_bytes: Their total size.
        in_progress: ``.part`` files kept (a writer holds them, or may still).
        in_progress_bytes: Their total size.
    """

    removed: int = 0
    removed_bytes: int = 0
    in_progress: int = 0
    in_progress_bytes: int = 0

    def __add__(self, other: PartialWrites) -> PartialWrites:
        """Removals add up; what is in progress is the later sweep's count."""
        return PartialWrites(
            self.removed + other.removed,
            self.removed_bytes + other.removed_bytes,
            other.in_progress,
            other.in_progress_bytes,
        )


def _host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def part_name(final_name: str) -> str:
    """The temporary name of a write of ``final_name``: it records this host and pid."""
    return f".{final_name[:40]}.{_host_tag()}-{os.getpid()}.{uuid.uuid4().hex[:12]}.part"


def _lock(fd: int, *, wait: bool) -> bool:
    """Take an exclusive ``flock`` on ``fd``; False when another holds it (and not waiting).

    Where ``flock`` does not exist (Windows) or the filesystem refuses it, True: the pid and
    age rules still protect live writers there.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    except OSError:  # a filesystem without locks
        return True
    return True


def _pid_is_running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it runs, as another user
        return True
    return True


def _remove_if_abandoned(path: Path, name: str, mtime: float, now: float) -> bool:
    """Remove one ``.part`` file if its writer is gone; return whether it was removed."""
    owner = _PART_NAME.search(name)
    if owner is not None and owner["host"] == _host_tag():
        if _pid_is_running(int(owner["pid"])):
            return False
    elif now - mtime < STALE_AFTER_S:  # a writer elsewhere: judged by its last write
        return False
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    try:
        if not _lock(fd, wait=False):
            return False  # a live writer holds it
        path.unlink()
        return True
    finally:
        os.close(fd)


def sweep_partial_writes(tmp_dir: Path, *, now: float | None = None) -> PartialWrites:
    """Remove the ``.part`` files in ``tmp_dir`` whose writer is gone; keep the others.

    Never raises: a file it cannot examine or remove is counted as in progress and left.

    Args:
        tmp_dir: The folder of temporary files (``<root>/tmp``).
        now: The current time in seconds since the epoch (default: the clock).
    """
    now = time.time() if now is None else now
    try:
        entries = list(os.scandir(tmp_dir))
    except OSError:  # no tmp/ yet (nothing was ever written), or unreadable
        return PartialWrites()
    removed = removed_bytes = kept = kept_bytes = 0
    for entry in entries:
        if not entry.name.endswith(".part"):
            continue
        size = 0
        try:
            info = entry.stat(follow_symlinks=False)
            size = info.st_size
            gone = _remove_if_abandoned(Path(entry.path), entry.name, info.st_mtime, now)
        except OSError:
            gone = False
        if gone:
            removed, removed_bytes = removed + 1, removed_bytes + size
        else:
            kept, kept_bytes = kept + 1, kept_bytes + size
    return PartialWrites(removed, removed_bytes, kept, kept_bytes)


def write_atomically(
    final: Path,
    tmp_dir: Path,
    fill: Callable[[BinaryIO], None],
    errors: Callable[[], contextlib.AbstractContextManager[None]],
) -> None:
    """Write a local file so that it appears whole or not at all.

    ``fill`` writes the content into a new temporary file in ``tmp_dir`` (which must be on
    the same filesystem as ``final``); the file is flushed and fsynced, then renamed onto
    ``final`` with :func:`os.replace`. On any failure, including one raised by ``fill``, the
    temporary file is removed and ``final`` is left as it was. The file gets the usual
    permissions (``0o666`` less the umask), unlike :func:`tempfile.mkstemp`. While it is
    written, the temporary file is locked and its name records this host and pid, so that
    :meth:`ObjectFS.sweep_partial_writes` never takes it from a live writer.

    Args:
        final: Where the file must end up.
        tmp_dir: Folder for the temporary file (created when missing).
        fill: Writes the content; it maps its own write errors.
        errors: Makes a context manager that maps this function's own OS errors.
    """
    with errors():
        tmp_dir.mkdir(parents=True, exist_ok=True)
        tmp_path = tmp_dir / part_name(final.name)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        fd = os.open(tmp_path, flags, 0o666)
    try:
        _lock(fd, wait=True)  # released when the file is closed, or the process dies
        with os.fdopen(fd, "wb") as sink:
            fill(sink)
            with errors():
                sink.flush()
                os.fsync(sink.fileno())
        with errors():
            os.replace(tmp_path, final)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise
    fsync_folder(final.parent)


def fsync_folder(folder: Path) -> None:
    """Make a rename durable by syncing its folder (POSIX only; best effort)."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
