"""Spool folders left behind: find them, report on them, adopt and compact them.

``loopml serve`` gives every worker process its own spool folder under one *spool root*
(``.loopml/spool/<model>-<pid>``). A process killed with ``kill -9`` never compacts its
folder, and its successor writes to another one: without adoption its last records would
never reach the log store. A folder is an *orphan* when no live process holds its owner lock
(:mod:`loopml.store.logs.owner`); :func:`adopt_orphans` (run by every server at start and at
each compaction, and by ``loopml logs compact``) takes such a folder under an exclusive lock,
compacts every segment in it (a torn last line is skipped and counted) and removes it. A
folder a live process holds is never touched by adoption.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from loopml.store.logs.compaction import CompactionReport, compact_spool
from loopml.store.logs.owner import OWNER_FILE, is_live, release_adopted, try_adopt
from loopml.store.logs.spool import (
    NEW_SUFFIX,
    OPEN_SUFFIX,
    SEALED_SUFFIX,
    SEGMENT_PREFIX,
)


@dataclass(frozen=True)
class SpoolFolder:
    """The state of one spool folder (for ``loopml logs status``).

    Attributes:
        path: The folder.
        live: Whether a live process holds it.
        open_segments: Segments being written (or left open by a dead writer).
        sealed_segments: Segments ready for compaction.
        bytes: Size of all its segments.
    """

    path: Path
    live: bool
    open_segments: int
    sealed_segments: int
    bytes: int


def is_spool(folder: Path) -> bool:
    """Whether ``folder`` is a prediction spool (has an owner lock or segments)."""
    try:
        if (folder / OWNER_FILE).exists():
            return True
        return folder.is_dir() and any(p.name.startswith(SEGMENT_PREFIX) for p in folder.iterdir())
    except OSError:  # not ours to read
        return False


def spool_folders(root: Path) -> list[Path]:
    """The spool folders directly under ``root`` (and ``root`` itself when it is one)."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [root] if is_spool(root) else []
    found += sorted(p for p in root.iterdir() if p.is_dir() and is_spool(p))
    return found


def describe(folder: Path) -> SpoolFolder:
    """The state of one spool folder."""
    opened = sealed = size = 0
    for path in folder.glob(f"{SEGMENT_PREFIX}*"):
        try:
            size += path.stat().st_size
        except FileNotFoundError:
            continue
        if path.name.endswith(OPEN_SUFFIX):
            opened += 1
        elif path.name.endswith(SEALED_SUFFIX) and not path.name.endswith(NEW_SUFFIX):
            sealed += 1
    return SpoolFolder(folder, is_live(folder), opened, sealed, size)


def adopt_orphans(
    root: Path, logs_url: str, *, skip: Path | None = None
) -> tuple[CompactionReport, list[Path]]:
    """Compact and remove every spool folder under ``root`` that no live process holds.

    Args:
        root: The spool root (``.loopml/spool``).
        logs_url: The log store.
        skip: A folder to leave alone (the caller's own, compacted by the caller).

    Returns:
        What was compacted (summed over the folders) and the folders adopted.

    Raises:
        StoreError: A segment cannot be read or the log store cannot be written; the failing
            segment stays in its folder (adopted again next time).
    """
    totals = CompactionReport()
    adopted: list[Path] = []
    own = None if skip is None else os.path.realpath(skip)
    for folder in spool_folders(root):
        if own is not None and os.path.realpath(folder) == own:
            continue
        fd = try_adopt(folder)
        if fd is None:
            continue  # a live process holds it
        empty = False
        try:
            report = compact_spool(folder, logs_url)
            totals = _add(totals, report)
            empty = report.busy_segments == 0 and not any(folder.glob(f"{SEGMENT_PREFIX}*"))
        finally:
            release_adopted(folder, fd, remove=empty and folder != Path(root))
        adopted.append(folder)
    return totals, adopted


def _add(a: CompactionReport, b: CompactionReport) -> CompactionReport:
    return CompactionReport(
        segments=a.segments + b.segments,
        rows=a.rows + b.rows,
        files=a.files + b.files,
        skipped_lines=a.skipped_lines + b.skipped_lines,
        busy_segments=a.busy_segments + b.busy_segments,
    )


def compact_with_orphans(spool_dir: Path, logs_url: str) -> int:
    """Compact a server's own spool folder, then adopt the orphans among its siblings (the
    folders of dead processes under the same root); return the rows moved."""
    rows = compact_spool(spool_dir, logs_url).rows
    report, _adopted = adopt_orphans(Path(spool_dir).parent, logs_url, skip=spool_dir)
    return rows + report.rows


def compact_sealed(root: Path, logs_url: str) -> CompactionReport:
    """Compact the closed segments of the folders live processes hold (the segments they
    still write are left alone, under their own locks)."""
    totals = CompactionReport()
    for folder in spool_folders(root):
        if is_live(folder):
            totals = _add(totals, compact_spool(folder, logs_url))
    return totals


def remove_if_done(folder: Path) -> bool:
    """Remove a spool folder once it holds no segment and no live process holds it (a
    server's or a batch's own, after its log was closed and compacted); True if removed."""
    fd = try_adopt(Path(folder))
    if fd is None:
        return False
    empty = not any(Path(folder).glob(f"{SEGMENT_PREFIX}*"))
    release_adopted(Path(folder), fd, remove=empty)
    return empty
