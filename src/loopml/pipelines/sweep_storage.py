"""Where a sweep's Optuna study lives: Optuna's own tables, kept apart from loopml's.

Optuna distributes a study through its relational storage (``RDBStorage``): every worker that
runs a trial opens the same database, so samplers and pruners see every other trial. loopml
gives that storage its own place beside the metadata store, never loopml's own tables, since
both Optuna and loopml keep their Alembic revision in a table named ``alembic_version``:

- embedded (SQLite ``.../loopml.db``): the file ``optuna.db`` in the same folder;
- PostgreSQL: the schema ``optuna`` of the same database (created when missing), reached with
  ``options=-csearch_path=optuna`` in the URL itself, so Optuna's own tools (``optuna-dashboard
  URL``, ``optuna storage upgrade --storage URL``) find the same tables.

:func:`optuna_storage_url` says which; :func:`prepare_storage` creates the place;
:func:`open_storage` returns the ``RDBStorage`` (one per URL per process, so a worker process
that runs many trials keeps one connection pool).
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

from loopml.core.errors import StoreError
from loopml.core.settings import Settings

#: The PostgreSQL schema of Optuna's tables.
OPTUNA_SCHEMA = "optuna"
#: The SQLite file of Optuna's tables, beside the embedded store's ``loopml.db``.
OPTUNA_FILE = "optuna.db"
INSTALL_HINT = "pip install 'loopml[sweeps]'"
#: Seconds a SQLite connection waits for another process's write lock.
SQLITE_TIMEOUT_S = 60

_lock = threading.Lock()
_storages: dict[str, Any] = {}


def import_optuna() -> Any:
    """The ``optuna`` module, or an ImportError that says how to install it."""
    try:
        import optuna
    except ImportError as exc:
        raise ImportError(
            f"loopml.sweep needs Optuna, which is not installed ({exc}). Install it with "
            f"`{INSTALL_HINT}`."
        ) from None
    return optuna


def optuna_storage_url(settings: Settings) -> str:
    """The SQLAlchemy URL of the Optuna storage that goes with ``settings``' metadata store.

    Raises:
        StoreError: The metadata store is an in-memory SQLite database (workers could not
            reach it), or its URL is not a store URL.
    """
    from loopml.store.sql.engine import normalize_url, sqlite_path

    url = normalize_url(settings.db_url)
    if url.get_backend_name() == "sqlite":
        path = sqlite_path(url)
        if path is None:
            raise StoreError(
                f"A sweep keeps its Optuna study in a file beside the metadata store, but the "
                f"store {settings.db_url!r} is an in-memory SQLite database. Use a file "
                "(LOOPML_HOME or LOOPML_DB_URL='sqlite:///path/loopml.db') or PostgreSQL."
            )
        return f"sqlite:///{path.with_name(OPTUNA_FILE)}?timeout={SQLITE_TIMEOUT_S}"
    query = dict(url.query)
    query["options"] = f"-csearch_path={OPTUNA_SCHEMA}"
    return url.set(query=query).render_as_string(hide_password=False)


def prepare_storage(settings: Settings) -> str:
    """Create the place of the Optuna storage when missing; returns its URL.

    SQLite: the file, in WAL mode (workers write trials at the same time). PostgreSQL: the
    schema ``optuna``. Optuna creates its tables itself on first open.

    Raises:
        StoreError: The database cannot be reached or the schema cannot be created.
    """
    from loopml.store.sql.engine import normalize_url, sqlite_path

    storage_url = optuna_storage_url(settings)
    url = normalize_url(settings.db_url)
    if url.get_backend_name() == "sqlite":
        path = sqlite_path(url)
        assert path is not None  # optuna_storage_url refused in-memory stores
        target = path.with_name(OPTUNA_FILE)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with sqlite3.connect(target, timeout=SQLITE_TIMEOUT_S) as conn:
                conn.execute("PRAGMA journal_mode = WAL")
            conn.close()
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(
                f"Cannot create the sweep storage {target} ({exc}); make its folder writable "
                "or point LOOPML_HOME / LOOPML_DB_URL at another place."
            ) from None
        return storage_url
    _create_schema(settings.db_url)
    return storage_url


def _create_schema(db_url: str) -> None:
    import sqlalchemy as sa

    from loopml.store.sql.engine import mask_url, normalize_url

    url = normalize_url(db_url)
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {OPTUNA_SCHEMA}")
    except sa.exc.IntegrityError:
        pass  # another process created it at the same moment
    except sa.exc.SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        raise StoreError(
            f"Cannot create the schema {OPTUNA_SCHEMA!r} for sweeps in {mask_url(url)} "
            f"({reason}). Grant the user CREATE on the database, or create the schema once "
            f"yourself: CREATE SCHEMA {OPTUNA_SCHEMA};"
        ) from None
    finally:
        engine.dispose()


def open_storage(url: str) -> Any:
    """Optuna's ``RDBStorage`` at ``url``, one per URL in this process.

    Raises:
        StoreError: The storage cannot be opened (with the reason).
    """
    with _lock:
        storage = _storages.get(url)
        if storage is None:
            optuna = import_optuna()
            try:
                storage = optuna.storages.RDBStorage(url)
            except Exception as exc:  # SQLAlchemy errors, Optuna's schema check
                raise StoreError(
                    f"Cannot open the sweep storage {mask_storage_url(url)} "
                    f"({type(exc).__name__}: {str(exc).strip().splitlines()[0]}). Workers need "
                    "to reach the metadata store's database (PostgreSQL on a cluster)."
                ) from None
            _storages[url] = storage
        return storage


def close_storage(url: str) -> None:
    """Close this process's storage at ``url`` (its connections), if it is open."""
    with _lock:
        storage = _storages.pop(url, None)
    if storage is not None:
        storage.engine.dispose()


def mask_storage_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for messages and tags)."""
    import sqlalchemy as sa

    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<unparsable URL>"
