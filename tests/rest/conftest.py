"""One real ``loopml server`` per backend for the whole session (SQLite and PostgreSQL), with a
token per role. Tests make their own names (experiments, datasets, models) so they can share
it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from loopml.core.settings import Settings
from tests.conftest import BACKENDS, PG_SERVER
from tests.rest.live_server import LiveServer, create_pg_database, drop_pg_database
from tests.rest.registry_seed import Clients


def _serve(backend: str, factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = factory.mktemp(f"rest-{backend}")
    db_url = create_pg_database(PG_SERVER) if backend == "postgresql" else None
    server = LiveServer(backend=backend, home=root / ".loopml", db_url=db_url)
    try:
        server.make_tokens()
        server.start()
        yield server
    finally:
        server.kill()
        if db_url:
            from loopml.store.backend import close_cached_backends

            close_cached_backends()
            drop_pg_database(db_url)


@pytest.fixture(scope="session")
def sqlite_live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """``loopml server --auth token`` on 127.0.0.1 over an embedded (SQLite) store."""
    yield from _serve("sqlite", tmp_path_factory)


@pytest.fixture(scope="session")
def postgresql_live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """``loopml server --auth token`` on 127.0.0.1 over a PostgreSQL database of its own."""
    yield from _serve("postgresql", tmp_path_factory)


@pytest.fixture(params=BACKENDS)
def live_server(request: pytest.FixtureRequest) -> LiveServer:
    """The session's server on each backend (tests using it run once per backend)."""
    server: LiveServer = request.getfixturevalue(f"{request.param}_live_server")
    return server


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
