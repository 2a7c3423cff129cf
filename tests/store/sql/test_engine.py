"""Engine setup: URLs, SQLite connection settings and locking, errors a user can act on."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from loopml.core.entities import Experiment, Run, RunStatus
from loopml.core.errors import PermissionDeniedError, StoreError
from loopml.core.ids import new_experiment_id, new_run_id
from loopml.store.sql import SqlTrackingStore
from loopml.store.sql.engine import StoreEngine, mask_url, normalize_url


@pytest.mark.parametrize(
    "url", ["postgres://u:secret@db:5432/ml", "postgresql://u:secret@db:5432/ml"]
)
def test_postgres_urls_use_psycopg3(url: str) -> None:
    parsed = normalize_url(url)
    assert parsed.drivername == "postgresql+psycopg"
    assert mask_url(parsed) == "postgresql+psycopg://u:***@db:5432/ml"


@pytest.mark.parametrize("url", ["mysql://u@h/db", "not a url"])
def test_unsupported_urls_are_refused(url: str) -> None:
    with pytest.raises(StoreError, match="sqlite.*postgresql"):
        normalize_url(url)


def _unwritable_folder(tmp_path: Path) -> Path:
    """A folder this process cannot create a store in.

    As root, ``chmod`` does not stop writes, so the folder is put under a regular file
    instead (the same failure a mistyped LOOPML_HOME pointing into a file gives).
    """
    if os.geteuid() == 0:
        blocker = tmp_path / "a-file"
        blocker.write_text("not a folder")
        return blocker / "meta"
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    return folder / "meta"


def test_unwritable_sqlite_folder_is_permission_denied(tmp_path: Path) -> None:
    folder = _unwritable_folder(tmp_path)
    with pytest.raises(PermissionDeniedError, match=rf"{folder}.*LOOPML_HOME / LOOPML_DB_URL"):
        SqlTrackingStore(f"sqlite:///{folder / 'loopml.db'}")


def test_read_only_sqlite_folder_is_permission_denied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() == 0:  # root ignores the mode bits: make the access check say no
        monkeypatch.setattr("loopml.store.sql.engine.os.access", lambda *_a, **_k: False)
    folder.chmod(0o500)
    try:
        with pytest.raises(PermissionDeniedError, match=rf"{folder} is read-only; make it"):
            SqlTrackingStore(f"sqlite:///{folder / 'loopml.db'}")
    finally:
        folder.chmod(0o700)


def test_unreachable_postgres_is_a_store_error_with_masked_password() -> None:
    url = "postgresql://loopml:hunter2@127.0.0.1:1/loopml"
    with pytest.raises(StoreError, match=r"127\.0\.0\.1:1.*Check that the server") as info:
        SqlTrackingStore(url)
    message = str(info.value)
    assert "hunter2" not in message and "***" in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_not_a_database_file_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "loopml.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match=str(path)):
        SqlTrackingStore(f"sqlite:///{path}")


def test_sqlite_connections_are_set_up(tmp_path: Path) -> None:
    db = StoreEngine(f"sqlite:///{tmp_path / 'new' / 'deep' / 'loopml.db'}")
    try:
        with db.read() as conn:
            pragmas = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
            }
        assert pragmas == {
            "journal_mode": "wal",
            "foreign_keys": 1,
            "busy_timeout": 60000,
            "synchronous": 1,
        }
    finally:
        db.dispose()


def test_sqlite_writes_begin_immediate_and_reads_deferred(tmp_path: Path) -> None:
    path = tmp_path / "loopml.db"
    db = StoreEngine(f"sqlite:///{path}")
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        with db.read() as conn:
            conn.exec_driver_sql("SELECT 1").all()
            other.execute("BEGIN IMMEDIATE")  # a reader holds no write lock
            other.execute("ROLLBACK")

        def try_to_write_elsewhere(conn: sa.Connection) -> None:
            # No statement has written yet, but the write lock is already held.
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")

        db.write(try_to_write_elsewhere)
    finally:
        other.close()
        db.dispose()


def test_write_retries_on_lock_contention(tmp_path: Path) -> None:
    db = StoreEngine(f"sqlite:///{tmp_path / 'loopml.db'}")
    calls: list[int] = []

    def flaky(conn: sa.Connection) -> str:
        calls.append(1)
        if len(calls) < 3:
            raise sa.exc.OperationalError(
                "INSERT", {}, sqlite3.OperationalError("database is locked")
            )
        return "done"

    try:
        assert db.write(flaky) == "done"
        assert len(calls) == 3
    finally:
        db.dispose()


def test_planner_statistics_follow_the_data(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'loopml.db'}"
    store = SqlTrackingStore(url)
    experiment = Experiment(new_experiment_id(), "e", 0)
    store.create_experiment(experiment)
    for i in range(120):
        store.create_run(
            Run(
                new_run_id(),
                experiment.experiment_id,
                f"r{i}",
                RunStatus.RUNNING,
                i,
                params={"p": str(i % 3)},
            )
        )
    store.close()
    db = StoreEngine(url)
    try:
        assert db.refresh_statistics()  # no statistics yet for 120 runs
        assert not db.refresh_statistics()  # fresh enough now
        with db.read() as conn:
            tables = {row[0] for row in conn.exec_driver_sql("SELECT tbl FROM sqlite_stat1")}
        assert {"runs", "params"} <= tables
    finally:
        db.dispose()


def test_missing_driver_names_the_extra() -> None:
    with pytest.raises(ImportError, match=r"'psycopg2'.*pip install 'loopml\[postgres\]'"):
        SqlTrackingStore("postgresql+psycopg2://u:pw@127.0.0.1/x")


def test_write_gives_up_after_a_few_tries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("loopml.store.sql.engine.time.sleep", lambda _s: None)
    db = StoreEngine(f"sqlite:///{tmp_path / 'loopml.db'}")

    def locked(conn: sa.Connection) -> None:
        raise sa.exc.OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))

    try:
        with pytest.raises(StoreError, match="stayed locked by another writer"):
            db.write(locked)
    finally:
        db.dispose()


def _open_and_read(args: tuple[str, Any]) -> str:
    url, barrier = args
    barrier.wait()
    try:
        store = StoreEngine(url)
        with store.read() as conn:
            conn.exec_driver_sql("SELECT 1").all()
        store.dispose()
        return "ok"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


@pytest.mark.slow
def test_many_processes_open_a_fresh_sqlite_file_at_once(tmp_path: Path) -> None:
    """Switching a fresh file to WAL answered 'database is locked' at once, without SQLite's
    busy wait, in 7 of 30 trials of 8 processes; every open must succeed."""
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, context.Pool(8) as pool:
        for trial in range(20):
            url = f"sqlite:///{tmp_path / f'trial-{trial}' / 'loopml.db'}"
            barrier = manager.Barrier(8)
            outcomes = pool.map(_open_and_read, [(url, barrier)] * 8)
            assert outcomes == ["ok"] * 8, (trial, outcomes)
