"""Open the stores named by the settings. One backend per (metadata URL, artifacts URL) per
process, so every client in a process shares one connection pool and one writer."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

from loopml.core.settings import Settings
from loopml.store.protocols import (
    ArtifactStore,
    DatasetStore,
    EvaluationStore,
    EventStore,
    ModelStore,
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
    settings: Settings

    def close(self) -> None:
        """Release the metadata store's connections (shared by tracking and datasets)."""
        self.tracking.close()


_lock = threading.Lock()
_cache: dict[tuple[str, str], Backend] = {}


def open_backend(settings: Settings, *, cached: bool = True) -> Backend:
    """Open (or reuse) the backend for ``settings``.

    The metadata store is chosen by the URL scheme of ``settings.db_url`` (``sqlite`` or
    ``postgresql``); the artifact store by ``settings.artifacts_url`` (a path or any fsspec URL).
    A new or older metadata store is migrated to the current schema on open; the tracking and
    dataset stores share its engine (one connection pool).

    Raises:
        StoreError: The store cannot be opened (with the reason and the fix).
        SchemaVersionError: The metadata store was written by a newer loopml.
        PermissionDeniedError: The store's folder cannot be written.
    """
    from loopml.store.artifacts import open_artifact_store
    from loopml.store.sql import (
        SqlDatasetStore,
        SqlEvaluationStore,
        SqlEventStore,
        SqlModelStore,
        SqlTrackingStore,
    )
    from loopml.store.sql.migrate import open_store_engine

    key = (settings.db_url, settings.artifacts_url)
    with _lock:
        if cached and key in _cache:
            # The stores are shared; the settings (user, policies) are the caller's own.
            shared = _cache[key]
            return shared if shared.settings == settings else replace(shared, settings=settings)
        db = open_store_engine(settings.db_url)
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
