from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from loopml.client import fluent
from loopml.core.settings import Settings


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
