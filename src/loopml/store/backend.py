"""Open the stores named by the settings. One backend per (metadata URL, artifacts URL) per
process, so every client in a process shares one connection pool and one writer.

A write creates the store on first use (``.loopml/`` in the project, or the tables of an
empty PostgreSQL database). A read must not: ``open_backend(settings, create=False)`` raises
:class:`~loopml.core.errors.NotFoundError` when there is no store yet, saying where it looked
and how to point at one. :func:`store_location` says which store the settings name and why.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from pathlib import Path

from loopml.core.errors import NotFoundError
from loopml.core.settings import HOME_DIRNAME, PROJECT_FILE, Settings
from loopml.store.protocols import (
    ArtifactStore,
    DatasetStore,
    DeploymentStore,
    EvaluationStore,
    EventStore,
    LabelStore,
    LoopStore,
    ModelStore,
    MonitorResultStore,
    TokenStore,
    TrackingStore,
)


@dataclass(frozen=True)
class Backend:
    """The stores a client talks to."""

    tracking: TrackingStore
    datasets: DatasetStore
    events: EventStore
    artifacts: ArtifactStore
    models: ModelStore
    evaluations: EvaluationStore
    labels: LabelStore
    monitor_results: MonitorResultStore
    deployments: DeploymentStore
    loops: LoopStore
    tokens: TokenStore
    settings: Settings

    def close(self) -> None:
        """Release the metadata store's connections (shared by tracking and datasets)."""
        self.tracking.close()


_lock = threading.Lock()
_cache: dict[tuple[str, str, str | None], Backend] = {}


@dataclass(frozen=True)
class StoreLocation:
    """Which store some settings name, said for a person.

    Attributes:
        where: The store: its ``.loopml`` folder, or the metadata URL (password masked)
            when that is set on its own.
        why: How it was chosen, e.g. ``LOOPML_HOME``, ``found in a parent folder``.
        obvious: True for ``.loopml/`` in the working folder with default URLs, the store a
            person expects without being told.
    """

    where: str
    why: str
    obvious: bool

    def __str__(self) -> str:
        return f"{self.where} ({self.why})"


def store_location(settings: Settings, *, cwd: Path | None = None) -> StoreLocation:
    """Say which store ``settings`` name and how it was chosen."""
    from loopml.store.sql.engine import mask_url, normalize_url

    sources = settings.sources
    cwd = (cwd or Path.cwd()).resolve()
    if sources.get("db_url", "default") != "default":
        where = mask_url(normalize_url(settings.db_url))
        why = _origin("LOOPML_DB_URL", sources["db_url"], settings)
        return StoreLocation(where, why, obvious=False)
    where = str(settings.home)
    origin = sources.get("home", "default")
    if origin != "default":
        return StoreLocation(where, _origin("LOOPML_HOME", origin, settings), obvious=False)
    if settings.project_root.resolve() != cwd:
        return StoreLocation(where, "found in a parent folder", obvious=False)
    obvious = sources.get("artifacts_url", "default") == "default"
    return StoreLocation(where, "this folder", obvious=obvious)


def _origin(variable: str, source: str, settings: Settings) -> str:
    if source == PROJECT_FILE and settings.project_file is not None:
        return f"{variable.removeprefix('LOOPML_').lower()} in {settings.project_file}"
    if source == "environment":
        return variable
    return f"{variable.removeprefix('LOOPML_').lower()} given as an argument"


def require_store(settings: Settings) -> None:
    """Raise unless the metadata store named by ``settings`` exists (creating nothing).

    A SQLite store exists when its file does; a PostgreSQL one when its database holds the
    loopml tables.

    Raises:
        NotFoundError: There is no store there yet; the message says where it looked and
            how to point at a store (``LOOPML_HOME``, ``LOOPML_DB_URL``) or create one.
        StoreError: The URL is not supported, or the server cannot be reached.
    """
    from loopml.store.sql.engine import StoreEngine, normalize_url, sqlite_path
    from loopml.store.sql.migrate import read_revision

    url = normalize_url(settings.db_url)
    if url.get_backend_name() == "sqlite":
        path = sqlite_path(url)
        if path is None or path.is_file():
            return
        missing = f"there is no {path.name} in {path.parent}"
    else:
        db = StoreEngine(settings.db_url)
        try:
            if read_revision(db) is not None:
                return
        finally:
            db.dispose()
        missing = "its database holds no loopml tables yet"
    location = store_location(settings)
    if location.why == "this folder":
        looked = (
            f"No loopml store here: no {HOME_DIRNAME}/ (or {PROJECT_FILE}) in "
            f"{settings.project_root} or any folder above it, and neither LOOPML_HOME nor "
            "LOOPML_DB_URL is set."
        )
    else:
        looked = f"No loopml store at {location}: {missing}."
    raise NotFoundError(
        f"{looked} Run the command in a project folder, point at a store with LOOPML_HOME "
        "(its .loopml folder) or LOOPML_DB_URL, or create one with `loopml init`. Nothing "
        "was created."
    )


def open_backend(settings: Settings, *, cached: bool = True, create: bool = True) -> Backend:
    """Open (or reuse) the backend for ``settings``.

    The metadata store is chosen by the URL scheme of ``settings.db_url`` (``sqlite`` or
    ``postgresql``); the artifact store by ``settings.artifacts_url`` (a path or any fsspec URL).
    A new or older metadata store is migrated to the current schema on open; the tracking and
    dataset stores share its engine (one connection pool).

    Args:
        settings: Where the stores are.
        cached: Share one backend per store in this process.
        create: Create the store when there is none yet (a write); False for a read, which
            must leave no trace where there is no store (see :func:`require_store`).

    Raises:
        NotFoundError: ``create`` is False and there is no store yet.
        StoreError: The store cannot be opened (with the reason and the fix).
        SchemaVersionError: The metadata store was written by a newer loopml.
        PermissionDeniedError: The store's folder cannot be written.
    """
    from loopml.store.artifacts import open_artifact_store
    from loopml.store.sql import (
        SqlDatasetStore,
        SqlDeploymentStore,
        SqlEvaluationStore,
        SqlEventStore,
        SqlLabelStore,
        SqlLoopStore,
        SqlModelStore,
        SqlMonitorResultStore,
        SqlTokenStore,
        SqlTrackingStore,
    )
    from loopml.store.sql.migrate import open_store_engine

    # The audit key is part of the key: events written through a backend are chained with it.
    key = (settings.db_url, settings.artifacts_url, settings.audit_key)
    with _lock:
        if cached and key in _cache:
            # The stores are shared; the settings (user, policies) are the caller's own.
            shared = _cache[key]
            return shared if shared.settings == settings else replace(shared, settings=settings)
        if not create:
            require_store(settings)
        db = open_store_engine(settings.db_url, audit_key=settings.audit_key)
        tracking = SqlTrackingStore.from_engine(db, url=settings.db_url)
        datasets = SqlDatasetStore(db)
        events = SqlEventStore(db)
        try:
            artifacts = open_artifact_store(settings.artifacts_url)
        except BaseException:
            tracking.close()
            raise
        backend = Backend(
            tracking=tracking,
            datasets=datasets,
            events=events,
            artifacts=artifacts,
            models=SqlModelStore(db),
            evaluations=SqlEvaluationStore(db),
            labels=SqlLabelStore(db),
            monitor_results=SqlMonitorResultStore(db),
            deployments=SqlDeploymentStore(db),
            loops=SqlLoopStore(db),
            tokens=SqlTokenStore(db),
            settings=settings,
        )
        if cached:
            _cache[key] = backend
        return backend


def close_cached_backends() -> None:
    """Close and forget every cached backend (tests and forked workers use this)."""
    with _lock:
        for backend in _cache.values():
            backend.close()
        _cache.clear()
