"""Bring a metadata store to the schema this loopml knows, on open.

Opening a store at the head revision costs one ``SELECT`` on ``alembic_version`` (Alembic is
not even imported). A fresh or older store is upgraded to head under a lock, so that many
processes opening a fresh store at once are safe: an ``fcntl`` lock on a file next to a
SQLite database, ``pg_advisory_lock`` on PostgreSQL. A store written by a newer loopml (an
unknown revision) is refused with :class:`~loopml.core.errors.SchemaVersionError`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from loopml.core.errors import SchemaVersionError
from loopml.store.sql.engine import StoreEngine

#: Revisions of the migration scripts, oldest first. Keep in step with ``migrations/versions``.
KNOWN_REVISIONS: tuple[str, ...] = (
    "0001",
    "0002",
    "0003",
    "0004",
    "0005",
    "0006",
    "0007",
    "0008",
    "0009",
    "0010",
    "0011",
    "0012",
    "0013",
    "0014",
    "0015",
    "0016",
)
#: The revision this loopml writes; a test checks it is Alembic's script head.
HEAD_REVISION = KNOWN_REVISIONS[-1]
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

#: Key of the PostgreSQL advisory lock held while migrating (any fixed 64-bit number).
_PG_LOCK_KEY = 0x6C6F6F706D6C  # "loopml"


def read_revision(store: StoreEngine) -> str | None:
    """Return the store's schema revision, or None for a store without loopml tables."""
    with store.read() as conn:
        try:
            rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
        except (sa.exc.OperationalError, sa.exc.ProgrammingError) as exc:
            message = str(exc.orig).lower()
            if "alembic_version" in message and (
                "no such table" in message or "does not exist" in message
            ):
                return None
            raise
    return str(rows[0][0]) if rows else None


def _check_known(store: StoreEngine, revision: str | None) -> None:
    if revision is not None and revision not in KNOWN_REVISIONS:
        raise SchemaVersionError(
            f"The metadata store {store.location} has schema revision {revision!r}, which "
            f"this loopml does not know (it knows {', '.join(KNOWN_REVISIONS)}); the store "
            "was written by a newer loopml. Upgrade loopml (`pip install -U loopml`) to open it."
        )


def alembic_config(connection: sa.Connection | None = None, *, audit_key: str | None = None) -> Any:
    """Build the Alembic config in code (no ``alembic.ini`` needed).

    Args:
        connection: The connection ``env.py`` migrates, inside the caller's transaction.
        audit_key: The audit log's key, for a migration that chains stored events
            (``config.attributes["audit_key"]``).
    """
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("file_template", "v%%(rev)s_%%(slug)s")
    if connection is not None:
        config.attributes["connection"] = connection
    config.attributes["audit_key"] = audit_key
    return config


def script_head() -> str | None:
    """Return the head revision of the migration scripts (imports Alembic)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    return None if head is None else str(head)


def run_alembic(
    conn: sa.Connection, command: str, revision: str, *, audit_key: str | None = None
) -> None:
    """Run ``alembic upgrade|downgrade|stamp <revision>`` on ``conn`` in one transaction
    (``audit_key``: the audit log's key, with which stored events are chained).

    On SQLite, foreign keys are switched off while the schema changes (a batch migration
    recreates tables, and dropping the old copy must not cascade into child rows).
    """
    from alembic import command as alembic_command

    sqlite = conn.dialect.name == "sqlite"
    if sqlite:
        conn.connection.driver_connection.execute("PRAGMA foreign_keys = OFF")  # type: ignore[union-attr]
    try:
        with conn.begin():
            config = alembic_config(conn, audit_key=audit_key)
            getattr(alembic_command, command)(config, revision)
    finally:
        if sqlite:
            conn.connection.driver_connection.execute("PRAGMA foreign_keys = ON")  # type: ignore[union-attr]


@contextmanager
def _sqlite_file_lock(database: Path) -> Iterator[None]:
    lock_path = database.with_name(database.name + ".lock")
    with open(lock_path, "a+b") as handle:
        if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
            import msvcrt

            msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)
            try:
                yield
            finally:
                msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextmanager
def _migration_connection(store: StoreEngine) -> Iterator[sa.Connection]:
    """A connection to migrate on, held under the store's migration lock."""
    if store.dialect == "sqlite":
        if store.path is None:  # in-memory: one process, nothing to lock against
            with store.connect(write=True) as conn:
                yield conn
            return
        with _sqlite_file_lock(store.path), store.connect(write=True) as conn:
            yield conn
        return
    with store.connect() as conn:
        conn.exec_driver_sql(f"SELECT pg_advisory_lock({_PG_LOCK_KEY})")
        conn.commit()
        try:
            yield conn
        finally:
            conn.rollback()
            conn.exec_driver_sql(f"SELECT pg_advisory_unlock({_PG_LOCK_KEY})")
            conn.commit()


def ensure_schema(store: StoreEngine) -> str:
    """Check the store's revision and upgrade a fresh or older store to head.

    Returns:
        The revision the store is at (always :data:`HEAD_REVISION`).

    Raises:
        SchemaVersionError: The store has a revision this loopml does not know.
        StoreError: The store cannot be reached.
        PermissionDeniedError: The store cannot be written.
    """
    revision = read_revision(store)
    _check_known(store, revision)
    if revision == HEAD_REVISION:
        return revision
    with _migration_connection(store) as conn:
        revision = read_revision(store)  # another process may have migrated meanwhile
        _check_known(store, revision)
        if revision != HEAD_REVISION:
            run_alembic(conn, "upgrade", HEAD_REVISION, audit_key=store.audit_key)
    return HEAD_REVISION


def open_store_engine(url: str, *, audit_key: str | None = None) -> StoreEngine:
    """Open the database at ``url``, bring it to the current schema and refresh its planner
    statistics: what every SQL store of a process shares (one connection pool per database).

    Args:
        url: The store URL as given by the user (``sqlite:///...`` or ``postgresql://...``).
        audit_key: ``LOOPML_AUDIT_KEY``: the audit log's entries written through this engine
            (and those chained by a migration) are HMACs under it. None: plain SHA-256.

    Returns:
        The engine, at :data:`HEAD_REVISION`.

    Raises:
        SchemaVersionError: The store has a revision this loopml does not know.
        StoreError: The URL is not supported, or the store cannot be reached.
        PermissionDeniedError: The store cannot be written.
    """
    db = StoreEngine(url, audit_key=audit_key)
    try:
        ensure_schema(db)
        db.refresh_statistics()
    except BaseException:
        db.dispose()
        raise
    return db
