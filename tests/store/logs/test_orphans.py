"""Orphaned spool folders: a live owner's folder is never adopted; a dead one's (killed with
SIGKILL, a real process) is compacted whole and removed. Backpressure: a full queue never
drops records appended with ``wait=True``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from loopml.store.logs import PredictionLog, PredictionRecord, read_predictions
from loopml.store.logs.orphans import adopt_orphans, compact_sealed, describe, spool_folders

HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from loopml.store.logs import PredictionLog, PredictionRecord

    plog = PredictionLog(Path(sys.argv[1]), flush_interval=0.05)
    for i in range(int(sys.argv[2])):
        plog.append(PredictionRecord(prediction_id=f"{i:032x}", model="churn", version=1,
            route="champion", at=1_700_000_000_000 + i, latency_ms=0.5,
            inputs={"x": i}, output=i))
    plog.flush()
    print("ready", flush=True)
    sys.stdin.read()  # hold the folder until killed
    """
)


def rec(i: int) -> PredictionRecord:
    return PredictionRecord(
        prediction_id=f"{i:032x}",
        model="churn",
        version=1,
        route="champion",
        at=1_700_000_000_000 + i,
        latency_ms=0.5,
        inputs={"x": i},
        output=i,
    )


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """A live process that wrote 300 records to ``spool/churn-1`` and holds it."""
    folder = tmp_path / "spool" / "churn-1"
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(folder), "300"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    yield proc, folder
    if proc.poll() is None:
        proc.kill()
    proc.communicate(timeout=30)  # also closes the pipes


def test_a_live_folder_is_never_adopted_a_killed_one_is(
    holder: tuple[subprocess.Popen[str], Path], tmp_path: Path
) -> None:
    proc, folder = holder
    root, store = folder.parent, str(tmp_path / "store")
    assert spool_folders(root) == [folder]
    assert describe(folder).live and describe(folder).open_segments == 1
    report, adopted = adopt_orphans(root, store)
    assert adopted == [] and report.rows == 0
    assert compact_sealed(root, store).busy_segments == 1  # its open segment is its own
    assert folder.exists()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert not describe(folder).live
    report, adopted = adopt_orphans(root, store)
    assert adopted == [folder] and report.rows == 300
    assert not folder.exists()  # compacted whole, then removed
    got = read_predictions(store).column("prediction_id").to_pylist()
    assert sorted(got) == [f"{i:032x}" for i in range(300)]
    assert adopt_orphans(root, store)[0].rows == 0  # nothing twice


def test_adoption_skips_the_callers_own_folder(tmp_path: Path) -> None:
    own, other = tmp_path / "spool" / "a-1", tmp_path / "spool" / "a-2"
    for folder in (own, other):
        plog = PredictionLog(folder)
        plog.append(rec(1 if folder == own else 2))
        plog.close()
    report, adopted = adopt_orphans(tmp_path / "spool", str(tmp_path / "store"), skip=own)
    assert adopted == [other] and report.rows == 1
    assert own.exists() and not other.exists()


def test_a_closed_log_releases_its_folder(tmp_path: Path) -> None:
    plog = PredictionLog(tmp_path / "spool")
    plog.append(rec(1))
    plog.flush()
    assert describe(tmp_path / "spool").live
    plog.close()
    assert not describe(tmp_path / "spool").live


def test_a_full_queue_drops_unless_the_caller_waits(tmp_path: Path) -> None:
    dropping = PredictionLog(tmp_path / "a", max_pending=10, flush_interval=60)
    assert dropping.append_many(rec(i) for i in range(1_000)) == 10
    assert dropping.stats()["dropped"] == 990
    dropping.close()
    waiting = PredictionLog(tmp_path / "b", max_pending=10, flush_interval=60)
    assert waiting.append_many((rec(i) for i in range(1_000)), wait=True) == 1_000
    waiting.close()
    stats = waiting.stats()
    assert (stats["dropped"], stats["written"], stats["appended"]) == (0, 1_000, 1_000)
