from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from loopml.cli import main
from loopml.client import fluent
from loopml.core.settings import Settings

Invoke = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    env = {
        "LOOPML_HOME": str(settings.home),
        "LOOPML_DB_URL": settings.db_url,
        "LOOPML_ARTIFACTS_URL": settings.artifacts_url,
        "LOOPML_CAPTURE_ENV": "false",
        "COLUMNS": "250",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield env
    while fluent.active_run() is not None:
        fluent.end_run()
    fluent.reset_client()


@pytest.fixture
def invoke(cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> Invoke:
    """Run ``loopml ARGS`` in-process; returns (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run
