"""The CLI unchanged against a real ``loopml server`` (LOOPML_SERVER_URL and LOOPML_TOKEN set):
models, aliases, reviews, events, deployments and monitor results, on both backends."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loopml.cli import main
from loopml.client import fluent
from loopml.core.entities import Role
from loopml.health import MonitorService
from tests.rest.live_server import LiveServer
from tests.rest.registry_seed import seed, server_store

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def as_role(
    live_server: LiveServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Run]:
    """``as_role(role, *args)``: run ``loopml ARGS`` in-process with ``role``'s token."""

    def run(role: Role, *args: str) -> tuple[int, str, str]:
        monkeypatch.setenv("LOOPML_SERVER_URL", live_server.url)
        monkeypatch.setenv("LOOPML_TOKEN", live_server.tokens[role])
        monkeypatch.setenv("LOOPML_HOME", str(tmp_path / ".loopml"))
        monkeypatch.setenv("COLUMNS", "250")
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    yield run
    fluent.reset_client()
    from loopml.client.remote.connection import close_shared_transports

    close_shared_transports()


def test_models_and_events_commands_through_the_server(
    live_server: LiveServer, unique: str, as_role: Run, tmp_path: Path
) -> None:
    run = as_role
    seed(live_server, unique)
    code, out, _ = run(Role.VIEWER, "models", "versions", unique)
    assert code == 0 and f"{unique}" in out
    code, out, err = run(Role.EDITOR, "models", "approve", f"{unique}@1")
    assert code != 0 and "approver" in err
    code, out, _ = run(Role.APPROVER, "models", "approve", f"{unique}@1")
    assert code == 0 and "approved by approver-user" in out
    code, out, err = run(
        Role.APPROVER, "models", "alias", unique, "champion", "1", "--reason", "go"
    )
    assert code == 0, err
    code, out, _ = run(Role.VIEWER, "events", "list", "--subject", f"model:{unique}@", "--json")
    kinds = [(e["kind"], e["actor"]) for e in json.loads(out)]
    assert ("model.approved", "approver-user") in kinds
    assert not (tmp_path / ".loopml").exists()  # the CLI opened no store of its own


def test_monitor_show_through_the_server(live_server: LiveServer, as_role: Run) -> None:
    rng = np.random.default_rng(9)
    frame = pd.DataFrame({"x": rng.normal(size=600)})
    report = MonitorService(server_store(live_server)).monitor(
        current=frame, reference=frame, window=300, multivariate=False
    )
    code, out, err = as_role(
        Role.VIEWER, "monitor", "show", "data:a DataFrame", "--json", "--limit", "200"
    )
    assert code == 0, err
    assert report.run_id in {row["run_id"] for row in json.loads(out)}


def test_doctor_checks_the_server_and_the_token(
    live_server: LiveServer,
    as_role: Run,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = as_role(Role.VIEWER, "doctor")
    assert code == 0, err
    assert f"server: {live_server.url} (LOOPML_SERVER_URL)" in out
    assert "No loopml store here" not in out and "version=" in out
    monkeypatch.setenv("LOOPML_TOKEN", "lml_" + "0" * 32 + "_" + "x" * 43)  # no such token
    code = main(["doctor"])
    out = capsys.readouterr().out
    assert code == 1 and "FAILED" in out and "UnauthenticatedError" in out
    assert not (tmp_path / ".loopml").exists()  # no store was opened or created here
