"""What the REST tests share beside the session's servers (``live_server`` and the two
session servers are in tests/conftest.py, so tests/e2e reuses them). Tests make their own names
(experiments, datasets, models) so they can share the servers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from loopml.core.settings import Settings
from tests.rest.live_server import LiveServer
from tests.rest.registry_seed import Clients


@pytest.fixture
def own_server(settings: Settings) -> Iterator[LiveServer]:
    """A ``loopml server`` over the test's own store (SQLite or PostgreSQL), with its tokens
    made, for a test to start (with its options), kill and start again; killed after it."""
    backend = "postgresql" if settings.db_url.startswith("postgresql") else "sqlite"
    assert settings.home is not None
    server = LiveServer(backend=backend, home=Path(settings.home), db_url=settings.db_url)
    server.make_tokens()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def unique() -> str:
    """A short name no other test of the session uses."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def clients(live_server: LiveServer, tmp_path: Path) -> Iterator[Clients]:
    """SDK clients in remote mode against ``live_server``, closed after the test."""
    made = Clients(live_server, tmp_path)
    try:
        yield made
    finally:
        made.close()
