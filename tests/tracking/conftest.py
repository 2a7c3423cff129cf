from __future__ import annotations

from collections.abc import Iterator

import pytest

from loopml.core.settings import Settings
from loopml.store.backend import open_backend
from loopml.tracking import TrackingService


@pytest.fixture
def service(settings: Settings) -> Iterator[TrackingService]:
    """A tracking service on a fresh store (SQLite and PostgreSQL)."""
    yield TrackingService(open_backend(settings))
