"""Shared fixtures: real SQLite files and a real PostgreSQL database for every backend test.

PostgreSQL is required (never skipped): ``make test`` and ``.ci/run`` start it when it is down.
Set ``LOOPML_TEST_PG_URL`` to point the suite at another server (default: 127.0.0.1:5432, trust).

``make test`` runs pytest on two processes (pytest-xdist, ``-n 2 --dist loadgroup``): each
worker has its own session fixtures (its own PostgreSQL database, live servers and temporary
directories), and the tests of the heaviest ones (a local Ray, the demo's run, the UI's filled
store with chromium) are grouped onto one worker, so those start once per session overall.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from loopml.core.settings import Settings, resolve_settings

# the demo's store, once per session; its wall time (DEMO_SECONDS) is sent from the worker that
# ran it to the controller, which prints it in the summary
from tests.demo_run import DEMO_SECONDS, demo  # noqa: F401

if TYPE_CHECKING:
    from tests.rest.live_server import LiveServer

#: The session fixtures started once per session overall under ``pytest -n 2``: the tests that
#: need one are put in its xdist group (see :func:`pytest_collection_modifyitems`).
#: The demo's store is read by tests/examples/test_demo.py and by the UI's browser tests
#: (tests/ui/test_demo_pages.py), so they share one group with the UI's server and chromium.
HEAVY_MODULES = {"tests/examples/test_demo.py": "demo-ui"}
HEAVY_DIRECTORIES = {"tests/ui/": "demo-ui"}

# pytest-xdist's workers start with COLUMNS=80, which the CLI's Rich consoles (made when their
# modules are imported) would keep for good; without it they read the width when they print,
# as in one process, and the tests that set COLUMNS get the width they ask for
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.pop("COLUMNS", None)

# One OpenMP thread per process (unless set): the suite runs two workers on two cores, and
# the OpenMP teams scikit-learn's gradient boosting starts for every prediction mostly wait
# for each other on busy cores (a 1-row prediction measured 564 ms at p99 instead of ~10 ms).
# Set before any test module loads scikit-learn's OpenMP runtime; subprocesses inherit it.
os.environ.setdefault("OMP_NUM_THREADS", "1")

PG_SERVER = os.environ.get("LOOPML_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")
BACKENDS = ["sqlite", "postgresql"]


def _xdist_group(item: pytest.Item) -> str | None:
    """The xdist group of a test, None for a test any worker may run on its own.

    A test that needs a heavy session fixture is in that fixture's group. Ray is asked for
    with ``request.getfixturevalue("ray_local")`` by the tests parametrized over executors, so
    a test is in the Ray group when it names the fixture or has a "ray" parameter. The other
    tests of a module with a module-scoped fixture (a model server, a fitted model) are in the
    module's group, so that fixture is built once rather than once per worker.
    """
    path = item.nodeid.split("::", 1)[0]
    if path in HEAVY_MODULES:
        return HEAVY_MODULES[path]
    for folder, group in HEAVY_DIRECTORIES.items():
        if path.startswith(folder):
            return group
    callspec = getattr(item, "callspec", None)
    params = callspec.params.values() if callspec is not None else ()
    if "ray_local" in getattr(item, "fixturenames", ()) or any(
        isinstance(value, str) and value == "ray" for value in params
    ):
        return "ray"
    info = getattr(item, "_fixtureinfo", None)
    definitions = info.name2fixturedefs.values() if info is not None else ()
    if any(d.scope in ("module", "class") for defs in definitions for d in defs):
        return path
    return None


@pytest.hookimpl(tryfirst=True)  # before xdist's worker reads the groups into the test ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Put the tests of each group onto one worker (``--dist loadgroup``): see _xdist_group."""
    if not config.pluginmanager.hasplugin("xdist"):
        return  # -p no:xdist: no such marker (on a worker, the "dist" option reads "no")
    for item in items:
        group = _xdist_group(item)
        if group is None:
            continue
        item.add_marker(pytest.mark.xdist_group(group))
        # loadgroup schedules by an "@group" suffix of the test id, which xdist 3.8 writes into
        # a field pytest 9.2 no longer reads (the id is a NodeId now), so the groups would be
        # silently ignored (pytest-dev/pytest-xdist#1386): on a worker, write it into the id
        if getattr(config.option, "loadgroup", False) and hasattr(item, "_id"):
            item._id = type(item._id).parse(f"{item.nodeid}@{group}")


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On an xdist worker, hand the demo's wall time to the controller."""
    output = getattr(session.config, "workeroutput", None)
    seconds = session.config.stash.get(DEMO_SECONDS, None)
    if output is not None and seconds is not None:
        output["demo_seconds"] = seconds


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """On the xdist controller, take the demo's wall time from the worker that ran it."""
    seconds = getattr(node, "workeroutput", {}).get("demo_seconds")
    if seconds is not None:
        node.config.stash[DEMO_SECONDS] = seconds


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    """The demo's wall time, when the session ran it."""
    seconds = config.stash.get(DEMO_SECONDS, None)
    if seconds is not None:
        terminalreporter.write_sep("-", f"make demo's story ran in {seconds:.1f} s wall time")


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
    """Empty the session's database after a test: TRUNCATE the tables that have a row (each
    table truncated costs PostgreSQL a new file and a sync, ~10 ms; most tests fill a few of
    the ~30 tables, and checking them all is one query of a few ms)."""
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
            filled = (
                [
                    r[0]
                    for r in conn.exec_driver_sql(
                        " UNION ALL ".join(
                            f"SELECT '{t}' WHERE EXISTS (SELECT 1 FROM \"{t}\")" for t in tables
                        )
                    )
                ]
                if tables
                else []
            )
            if filled:
                conn.exec_driver_sql("TRUNCATE " + ", ".join(f'"{t}"' for t in filled) + " CASCADE")
    finally:
        engine.dispose()


@pytest.fixture(scope="session", autouse=True)
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A new SQLite store starts as a copy of one migrated once per test process.

    Creating a store runs every migration (~0.3 s here); the suite creates one in most of its
    SQLite tests. The first new store of the process is migrated for real and kept as the
    template; each later brand-new file (no file at the path yet) is a copy of it, then goes
    through the real :func:`~loopml.store.sql.migrate.ensure_schema`, which finds it at head.
    A store that exists already, an older revision, PostgreSQL, or a folder that cannot be
    written (the product's own error then) take the real path unchanged.
    """
    import shutil
    import sqlite3

    from loopml.store.sql import migrate

    real = migrate.ensure_schema
    template = tmp_path_factory.mktemp("sqlite-template") / "loopml.db"

    def ensure_schema(store: Any) -> str:
        path = store.path if store.dialect == "sqlite" else None
        if path is None or path.exists() or Path(f"{path}-wal").exists():
            return real(store)
        if not template.exists():
            revision = real(store)
            with sqlite3.connect(path) as conn:  # fold the WAL into the file, then copy it
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.close()
            shutil.copyfile(path, template)
            return revision
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(template, path)
        except OSError:
            path.unlink(missing_ok=True)
        return real(store)

    migrate.ensure_schema = ensure_schema
    try:
        yield
    finally:
        migrate.ensure_schema = real


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
    the executors, batch scoring and pipelines share its few seconds of start-up. Ray gives its
    raylet a fixed 30 s to register; on a loaded machine (both xdist workers busy, other jobs)
    it can miss that, so a start that timed out is tried again, up to three times.
    """
    import ray

    # workers import the tests' own modules (functions are pickled by reference): put the
    # repository on their path, whatever directory an earlier test left the process in
    root = str(Path(__file__).resolve().parent.parent)
    for attempt in range(1, 4):
        try:
            ray.init(
                num_cpus=2,
                include_dashboard=False,
                logging_level="WARNING",
                runtime_env={"env_vars": {"PYTHONPATH": root}},
            )
            break
        except Exception as exc:  # Ray raises a bare Exception for this
            ray.shutdown()
            if attempt == 3 or "timed out during startup" not in str(exc):
                raise
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
