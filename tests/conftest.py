"""Shared fixtures: real SQLite files and a real PostgreSQL database for every backend test.

PostgreSQL is required (never skipped): ``make test`` and ``.ci/run`` start it when it is down.
Set ``LOOPML_TEST_PG_URL`` to point the suite at another server (default: 127.0.0.1:5432, trust).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa

from loopml.core.settings import Settings, resolve_settings
from tests.demo_run import demo  # noqa: F401  (the demo's store, once per session)

if TYPE_CHECKING:
    from tests.rest.live_server import LiveServer

PG_SERVER = os.environ.get("LOOPML_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")
BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """Create a fresh PostgreSQL database for this test session and drop it afterwards."""
    name = f"loopml_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as exc:  # pragma: no cover - environment problem
        pytest.fail(
            f"PostgreSQL is not reachable at {PG_SERVER} ({exc}). Start it with "
            "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`."
        )
    try:
        yield f"{PG_SERVER}/{name}"
    finally:
        from loopml.store.backend import close_cached_backends

        close_cached_backends()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _truncate_pg(url: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            tables = [
                r[0]
                for r in conn.exec_driver_sql(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename <> 'alembic_version'"
                )
            ]
            if tables:
                conn.exec_driver_sql("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE")
    finally:
        engine.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A metadata-store URL for each backend: a new SQLite file, or the session's PostgreSQL
    database emptied after the test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'meta' / 'loopml.db'}"
        return
    url = request.getfixturevalue("pg_database")
    yield url
    _truncate_pg(url)


@pytest.fixture
def settings(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings for an isolated store (a temporary home) on each backend."""
    for var in [k for k in os.environ if k.startswith("LOOPML_") and k != "LOOPML_TEST_PG_URL"]:
        monkeypatch.delenv(var)
    monkeypatch.chdir(tmp_path)
    home = tmp_path / ".loopml"
    yield resolve_settings(
        {
            "home": home,
            "db_url": db_url,
            "artifacts_url": str(home / "artifacts"),
            "capture_env": False,
            "flush_interval": 0.05,
        },
        cwd=tmp_path,
    )
    from loopml.store.backend import close_cached_backends

    close_cached_backends()


@pytest.fixture(scope="session")
def ray_local() -> Iterator[None]:
    """One real local Ray for the whole test session (two CPUs), shut down at its end.

    ``get_executor("ray")`` reuses it (an initialized Ray is never started again), so tests of
    the executors, batch scoring and pipelines share its few seconds of start-up.
    """
    import ray

    # workers import the tests' own modules (functions are pickled by reference): put the
    # repository on their path, whatever directory an earlier test left the process in
    root = str(Path(__file__).resolve().parent.parent)
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        logging_level="WARNING",
        runtime_env={"env_vars": {"PYTHONPATH": root}},
    )
    try:
        yield
    finally:
        ray.shutdown()


# One real ``loopml server`` per backend for the whole session (SQLite and PostgreSQL), with a
# token per role, shared by tests/rest and tests/e2e.


def _serve(backend: str, factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    from tests.rest.live_server import LiveServer, create_pg_database, drop_pg_database

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
