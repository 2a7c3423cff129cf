"""The backend: one engine (connection pool) per metadata database, shared by its stores."""

from __future__ import annotations

from loopml.core.settings import Settings
from loopml.store.backend import open_backend
from loopml.store.sql import SqlDatasetStore, SqlTrackingStore


def test_tracking_and_datasets_share_one_engine(settings: Settings) -> None:
    backend = open_backend(settings, cached=False)
    try:
        assert isinstance(backend.tracking, SqlTrackingStore)
        assert isinstance(backend.datasets, SqlDatasetStore)
        assert backend.tracking._db is backend.datasets._db
        assert backend.tracking.url == settings.db_url
        assert backend.datasets.list_datasets() == []
    finally:
        backend.close()
