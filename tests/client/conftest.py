from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from loopml.client import fluent
from loopml.client.remote.connection import close_shared_transports
from loopml.core.settings import Settings
from tests.rest.live_server import serve_in_thread


@pytest.fixture
def store_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Point the fluent SDK (and subprocesses) at the test store through the environment."""
    env = {
        "LOOPML_HOME": str(settings.home),
        "LOOPML_DB_URL": settings.db_url,
        "LOOPML_ARTIFACTS_URL": settings.artifacts_url,
        "LOOPML_CAPTURE_ENV": "false",
        "LOOPML_FLUSH_INTERVAL": "0.05",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield {**os.environ, **env}
    while fluent.active_run() is not None:
        fluent.end_run()
    fluent.reset_client()


@pytest.fixture(params=["embedded", "remote"])
def sdk_env(
    request: pytest.FixtureRequest,
    settings: Settings,
    store_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[dict[str, str]]:
    """The fluent SDK (and subprocesses) on the test store: directly (embedded), or through a
    real server over that store (remote: ``LOOPML_SERVER_URL`` and an admin token), each on
    SQLite and PostgreSQL. The same scenarios must hold for both."""
    if request.param == "embedded":
        yield store_env
        return
    with serve_in_thread(settings) as server:
        remote = {"LOOPML_SERVER_URL": server.url, "LOOPML_TOKEN": server.token}
        for key, value in remote.items():
            monkeypatch.setenv(key, value)
        fluent.reset_client()
        try:
            yield {**store_env, **remote}
        finally:
            while fluent.active_run() is not None:
                fluent.end_run()
            if fluent._state.client is not None:
                fluent._state.client.flush()
            fluent.reset_client()
            close_shared_transports()
