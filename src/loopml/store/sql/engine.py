"""The database engine of a metadata store: URL handling, connection setup, transactions.

:class:`StoreEngine` wraps a SQLAlchemy :class:`~sqlalchemy.Engine` and gives the store two
ways in: :meth:`StoreEngine.read` (a connection in a plain transaction) and
:meth:`StoreEngine.write` (a write transaction, retried with backoff on lock contention).

SQLite files are opened in WAL mode with ``synchronous=NORMAL``, a 60 s busy timeout, foreign
keys on, case-sensitive ``LIKE`` and a 32 MiB page cache. Write transactions start with
``BEGIN IMMEDIATE`` so that concurrent processes queue on the write lock instead of failing
with ``database is locked`` when a read lock cannot be upgraded; reads keep ``BEGIN``
(deferred). Planner statistics are refreshed on open when the data has grown
(:meth:`StoreEngine.refresh_statistics`).

:meth:`StoreEngine.lock` serializes the write transactions that change one named thing (the
aliases and reviews of one model): on SQLite every write transaction already holds the
database's write lock from its first statement; on PostgreSQL it takes a transaction-scoped
advisory lock on the name.

Database errors that a user can act on (a folder that cannot be written, a server that cannot
be reached) become :class:`~loopml.core.errors.PermissionDeniedError` or
:class:`~loopml.core.errors.StoreError` with the place and the fix, never a raw traceback.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import sqlite3
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.pool import StaticPool

from loopml.core.errors import (
    InvalidArgumentError,
    LoopmlError,
    PermissionDeniedError,
    StoreError,
)

T = TypeVar("T")

#: Execution option that makes a SQLite transaction start with ``BEGIN IMMEDIATE``.
WRITE_OPTION = "loopml_write"
#: How many times a write transaction is tried when the database reports lock contention.
WRITE_ATTEMPTS = 6
SQLITE_BUSY_TIMEOUT_S = 60.0
PG_CONNECT_TIMEOUT_S = 10
#: Page cache of each SQLite connection, in KiB (SQLite's default is 2 MiB): searches that
#: read many runs' params and metrics revisit the same pages. Allocated only as pages are read.
SQLITE_CACHE_KIB = 32 * 1024
#: Rows per index that a SQLite ``ANALYZE`` samples (keeps it to milliseconds at any size).
ANALYSIS_LIMIT = 1000

_PG_RETRYABLE = {"40001", "40P01"}  # serialization_failure, deadlock_detected
_SQLITE_RETRYABLE = ("database is locked", "database is busy", "database table is locked")
_SQLITE_READONLY = ("readonly database", "unable to open database", "disk i/o error")
_FIX = "make it writable or set LOOPML_HOME / LOOPML_DB_URL to another place"
#: The password of a URL that does not parse, hidden before the URL is shown.
_URL_PASSWORD = re.compile(r"(://[^:/@]*:)[^@/]*@")


def normalize_url(url: str) -> sa.URL:
    """Parse a store URL; ``postgres://`` and ``postgresql://`` become ``postgresql+psycopg://``.

    Raises:
        StoreError: The URL does not parse or names a database loopml does not support.
    """
    try:
        parsed = sa.make_url(url)
    except (sa.exc.ArgumentError, ValueError, TypeError) as exc:  # ValueError: a bad port
        shown = _URL_PASSWORD.sub(r"\1***@", url) if isinstance(url, str) else repr(url)
        raise StoreError(
            f"The metadata store URL {shown!r} is not a valid database URL ({exc}). Use "
            "'sqlite:///path/to/loopml.db' or 'postgresql://user@host:5432/dbname' "
            "(LOOPML_DB_URL)."
        ) from None
    if parsed.drivername in {"postgres", "postgresql"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in {"sqlite", "postgresql"}:
        raise StoreError(
            f"The metadata store URL {mask_url(parsed)!r} names the database "
            f"{parsed.get_backend_name()!r}; loopml supports 'sqlite' and 'postgresql'. "
            "Set LOOPML_DB_URL to a SQLite file or a PostgreSQL database."
        )
    return parsed


def mask_url(url: sa.URL) -> str:
    """Render a URL with its password replaced by ``***``."""
    return url.render_as_string(hide_password=True)


def sqlite_path(url: sa.URL) -> Path | None:
    """Return the database file of a SQLite URL, or None for an in-memory database."""
    database = url.database or ""
    if database in {"", ":memory:"} or database.startswith("file:"):
        return None
    return Path(database).expanduser().resolve()


def _prepare_sqlite_folder(path: Path) -> None:
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PermissionDeniedError(
            f"The metadata store folder {folder} does not exist and cannot be created "
            f"({exc.strerror or exc}); {_FIX}."
        ) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionDeniedError(f"The metadata store folder {folder} is read-only; {_FIX}.")
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        raise PermissionDeniedError(f"The metadata store file {path} is read-only; {_FIX}.")


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take BEGIN away from the sqlite3 module; _on_sqlite_begin emits it.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        _enable_wal(cursor)
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA case_sensitive_like = ON")
        cursor.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
    finally:
        cursor.close()


def _enable_wal(cursor: Any) -> None:
    """Switch the file to WAL (a property of the file; a no-op once set).

    Several processes opening a fresh file at once can get ``database is locked`` from this
    switch at once, without SQLite's busy wait (seen in 7 of 30 trials of 8 processes), so it
    is retried here with a growing pause, for up to the busy timeout.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    delay = 0.01
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 0.25)


def _on_sqlite_begin(conn: sa.Connection) -> None:
    write = conn.get_execution_options().get(WRITE_OPTION, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def create_engine(url: sa.URL) -> sa.Engine:
    """Build the engine for a normalized URL (see :func:`normalize_url`).

    Raises:
        PermissionDeniedError: The SQLite file's folder is missing and cannot be created, or
            is read-only.
        ImportError: The PostgreSQL driver is not installed (with the pip line).
    """
    if url.get_backend_name() == "sqlite":
        path = sqlite_path(url)
        kwargs: dict[str, Any] = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}}
        if path is None:
            kwargs["poolclass"] = StaticPool
            kwargs["connect_args"]["check_same_thread"] = False
        else:
            _prepare_sqlite_folder(path)
        engine = sa.create_engine(url, **kwargs)
        event.listen(engine, "connect", _on_sqlite_connect)
        event.listen(engine, "begin", _on_sqlite_begin)
        return engine
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = PG_CONNECT_TIMEOUT_S
    try:
        return sa.create_engine(url, pool_pre_ping=True, connect_args=connect_args)
    except ImportError as exc:
        raise ImportError(
            f"The metadata store URL {mask_url(url)!r} needs the Python package "
            f"{exc.name!r}, which is not installed. Install the PostgreSQL driver with "
            "`pip install 'loopml[postgres]'` and use a 'postgresql://' URL (psycopg 3)."
        ) from None


def lock_key(scope: str, name: str) -> tuple[int, int]:
    """The two signed 32-bit keys of the advisory lock on ``name`` in ``scope`` (a stable hash:
    every process computes the same keys; two names that share keys only wait for each other)."""

    def key(text: str) -> int:
        return int.from_bytes(
            hashlib.blake2b(text.encode(), digest_size=4).digest(), "big", signed=True
        )

    return key(f"loopml.{scope}"), key(name)


def _is_environmental(exc: sa.exc.DBAPIError) -> bool:
    """Tell a database that cannot be reached, opened or written from a bad statement."""
    return isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError) or (
        type(exc) is sa.exc.DatabaseError  # e.g. SQLite's "file is not a database"
    )


def _is_retryable(exc: sa.exc.DBAPIError) -> bool:
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate in _PG_RETRYABLE:
        return True
    message = str(exc.orig).lower()
    return any(text in message for text in _SQLITE_RETRYABLE)


_engines: weakref.WeakSet[sa.Engine] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    """A forked child must not use its parent's pooled connections: give every engine a new
    pool (without closing the parent's connections), as SQLAlchemy recommends."""
    for engine in list(_engines):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_after_fork_in_child)


class StoreEngine:
    """An engine plus the store's transaction discipline and error translation.

    Args:
        url: The store URL as given by the user (normalized here).
        audit_key: The audit log's key (``LOOPML_AUDIT_KEY``): events appended through this
            engine are chained with HMAC-SHA-256 under it; None: plain SHA-256.

    Raises:
        StoreError: The URL is not a supported database URL.
        PermissionDeniedError: The SQLite folder cannot be created or written.
    """

    def __init__(self, url: str, *, audit_key: str | None = None) -> None:
        self.url = normalize_url(url)
        self.audit_key = audit_key
        self.dialect = self.url.get_backend_name()
        self.path = sqlite_path(self.url) if self.dialect == "sqlite" else None
        self.engine = create_engine(self.url)
        _engines.add(self.engine)

    @property
    def location(self) -> str:
        """The database file (SQLite) or the URL with its password masked."""
        return str(self.path) if self.path is not None else mask_url(self.url)

    def translate(self, exc: sa.exc.DBAPIError) -> LoopmlError:
        """Turn a database error a user can act on into a loopml error with the fix."""
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        if self.dialect == "sqlite":
            if any(text in reason.lower() for text in _SQLITE_READONLY):
                return PermissionDeniedError(
                    f"The metadata store {self.location} cannot be written ({reason}); {_FIX}."
                )
            if any(text in reason.lower() for text in _SQLITE_RETRYABLE):
                return StoreError(
                    f"The metadata store {self.location} stayed locked by another writer for "
                    f"more than {SQLITE_BUSY_TIMEOUT_S:.0f} s ({reason}). Retry when that "
                    "process is done, or move many concurrent writers to PostgreSQL "
                    "(LOOPML_DB_URL)."
                )
            return StoreError(
                f"The metadata store {self.location} failed ({reason}). If the file is damaged "
                "or is not a loopml database, move it away or set LOOPML_DB_URL to another file."
            )
        return StoreError(
            f"The PostgreSQL metadata store {self.location} cannot be reached or failed "
            f"({reason}). Check that the server is running and the URL (host, port, user, "
            "database) is right, or set LOOPML_DB_URL to another database."
        )

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        """Yield a connection in a (deferred) transaction that is rolled back at the end.

        A value PostgreSQL cannot hold in text (a NUL byte) matches nothing stored: reading
        with one raises InvalidArgumentError saying so, not the driver's error.
        """
        try:
            with self.engine.connect() as conn:
                yield conn
        except sa.exc.DBAPIError as exc:
            if _is_environmental(exc):
                raise self.translate(exc) from None
            if isinstance(exc, sa.exc.DataError) and "NUL" in str(exc.orig):
                raise InvalidArgumentError(
                    "A name, key or value given holds a NUL byte (\\x00), which no stored "
                    "text holds (PostgreSQL refuses it even in a comparison). Remove it."
                ) from None
            raise

    @contextmanager
    def connect(self, *, write: bool = False) -> Iterator[sa.Connection]:
        """Yield a bare connection (the caller manages transactions); errors are translated.

        Args:
            write: Start the connection's transactions with ``BEGIN IMMEDIATE`` on SQLite.
        """
        try:
            with self.engine.connect() as conn:
                if write:
                    conn.execution_options(**{WRITE_OPTION: True})  # in place
                yield conn
        except sa.exc.DBAPIError as exc:
            if _is_environmental(exc):
                raise self.translate(exc) from None
            raise

    def write(self, work: Callable[[sa.Connection], T]) -> T:
        """Run ``work`` in one write transaction and commit; roll back if it raises.

        The transaction is tried again with exponential backoff (and jitter) when the database
        reports lock contention (SQLite ``database is locked``, PostgreSQL serialization
        failure or deadlock), so ``work`` must only touch the database.

        Returns:
            What ``work`` returned.
        """
        delay = 0.05
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                with self.engine.connect() as conn:
                    conn.execution_options(**{WRITE_OPTION: True})  # in place
                    with conn.begin():
                        return work(conn)
            except sa.exc.DBAPIError as exc:
                if attempt < WRITE_ATTEMPTS and _is_retryable(exc):
                    time.sleep(delay * (1 + random.random()))
                    delay *= 2
                    continue
                if _is_environmental(exc):
                    raise self.translate(exc) from None
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def lock(self, conn: sa.Connection, scope: str, name: str) -> None:
        """Hold a lock on ``name`` (in ``scope``, e.g. ``model``) until ``conn``'s write
        transaction ends, so that write transactions that change the same thing run one after
        the other and each reads what the one before committed.

        On SQLite a write transaction (:meth:`write`) holds the database's write lock from
        ``BEGIN IMMEDIATE`` on, so there is nothing more to take. On PostgreSQL this takes a
        transaction-scoped advisory lock (``pg_advisory_xact_lock``), which needs no row to
        exist yet (a first insert is serialized too) and is released at commit or rollback.
        """
        if self.dialect != "postgresql":
            return
        space, key = lock_key(scope, name)
        conn.execute(
            sa.text("SELECT pg_advisory_xact_lock(:space, :key)"), {"space": space, "key": key}
        )

    def refresh_statistics(self) -> bool:
        """Keep SQLite's query-planner statistics in step with the data (PostgreSQL's
        autovacuum does this on its own).

        Search plans depend on them: with statistics, SQLite drives a filtered search from the
        most selective index. A sampled ``ANALYZE`` (a few milliseconds at any size) runs when
        there are none yet for 100 runs or more, or the number of runs has changed fourfold
        since the last one.

        Returns:
            Whether ``ANALYZE`` ran.
        """
        if self.dialect != "sqlite":
            return False
        with self.read() as conn:
            size = conn.exec_driver_sql("SELECT max(rowid) FROM runs").scalar() or 0
            has_table = conn.exec_driver_sql(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'"
            ).first()
            stat = None
            if has_table is not None:
                stat = conn.exec_driver_sql(
                    "SELECT stat FROM sqlite_stat1 WHERE tbl = 'runs' LIMIT 1"
                ).scalar()
        known = int(str(stat).split()[0]) if stat else 0
        stale = size >= 100 if not known else not known / 4 <= size <= known * 4
        if stale:

            def analyze(conn: sa.Connection) -> None:
                conn.exec_driver_sql(f"PRAGMA analysis_limit = {ANALYSIS_LIMIT}")
                conn.exec_driver_sql("ANALYZE")

            self.write(analyze)
        return stale

    def server_version(self) -> str:
        """Return the database server's version (SQLite library version for SQLite)."""
        with self.read():  # connects once so the dialect knows the version
            info = self.engine.dialect.server_version_info or ()
        return ".".join(str(part) for part in info)

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
