"""Who owns a spool folder: a lock file that tells a live writer from a dead one.

Every :class:`~loopml.store.logs.PredictionLog` holds a *shared* ``flock`` on the
``owner.lock`` file of its spool folder from its first segment until it is closed; several
live processes may share one folder. The kernel drops the lock when its holder dies, even by
``kill -9``, so a folder whose lock an *exclusive* non-blocking ``flock`` can take has no
live writer: it is an orphan, and :mod:`loopml.store.logs.orphans` may compact and remove it.

A writer that finds the lock file removed under it (an adopter removed the folder at that
moment) creates it again: it checks, once locked, that the file it holds is still the one at
that path.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from loopml.core.errors import StoreError

#: The lock file of a spool folder.
OWNER_FILE = "owner.lock"
_ATTEMPTS = 20


def _flock(fd: int, *, exclusive: bool, wait: bool) -> bool:
    if sys.platform == "win32":  # pragma: no cover - no flock: the names say it all
        return True
    import fcntl

    flags = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
    try:
        fcntl.flock(fd, flags if wait else flags | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def try_lock(fd: int) -> bool:
    """Take an exclusive, non-blocking lock on ``fd``; False when another holder has it."""
    return _flock(fd, exclusive=True, wait=False)


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == path.stat().st_ino
    except FileNotFoundError:
        return False


def hold_owner(spool_dir: Path) -> int:
    """Create ``spool_dir`` if needed and take a shared lock on its owner file; return the
    descriptor (closing it releases the lock). Waits while an adopter holds the folder.

    Raises:
        StoreError: The folder or its lock file cannot be created.
    """
    path = spool_dir / OWNER_FILE
    for _ in range(_ATTEMPTS):
        try:
            spool_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
        except FileNotFoundError:
            continue  # the folder was removed between the two calls: make it again
        except OSError as exc:
            raise StoreError(
                f"Could not create the lock file {path} of the prediction spool: {exc}. Make "
                "the folder writable by this process or choose another one."
            ) from exc
        _flock(fd, exclusive=False, wait=True)
        if _same_file(fd, path):
            return fd
        os.close(fd)  # an adopter removed it while we waited: take the new one
    raise StoreError(
        f"Could not lock the prediction spool folder {spool_dir}: it kept being removed. Make "
        "sure only loopml processes manage that folder."
    )


def try_adopt(spool_dir: Path) -> int | None:
    """Take the exclusive lock of a spool folder when no live writer holds it; return its
    descriptor, or None when a live process owns the folder (or it is gone)."""
    path = spool_dir / OWNER_FILE
    if sys.platform == "win32":  # pragma: no cover - no flock: never adopt a folder
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
    except FileNotFoundError:
        return None
    if _flock(fd, exclusive=True, wait=False) and _same_file(fd, path):
        return fd
    os.close(fd)
    return None


def is_live(spool_dir: Path) -> bool:
    """Whether a live process holds the folder (without creating anything in it)."""
    path = spool_dir / OWNER_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        return not _flock(fd, exclusive=True, wait=False)
    finally:
        os.close(fd)  # also releases the lock taken to test


def release_adopted(spool_dir: Path, fd: int, *, remove: bool) -> None:
    """Release an adopted folder; with ``remove``, delete its lock file and the folder (when
    nothing else is in it), before unlocking so no writer takes the old lock."""
    try:
        if remove:
            with contextlib.suppress(OSError):
                (spool_dir / OWNER_FILE).unlink()
            with contextlib.suppress(OSError):
                spool_dir.rmdir()  # fails harmlessly if a writer made a segment meanwhile
    finally:
        os.close(fd)
