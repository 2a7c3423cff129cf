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


def test_clients_share_stores_but_keep_their_own_settings(settings: Settings) -> None:
    import dataclasses

    first = open_backend(settings)
    alice = dataclasses.replace(settings, user="alice", allow_unapproved_champion=True)
    second = open_backend(alice)
    assert second.tracking is first.tracking and second.models is first.models
    assert (second.settings.user, second.settings.allow_unapproved_champion) == ("alice", True)
    assert first.settings.user is None and open_backend(settings).settings == settings
