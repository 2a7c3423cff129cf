"""The model card through a real ``loopml server`` (SQLite and PostgreSQL): composed by the
SDK's remote mode from the server's answers, it equals the card composed on the server's own
store; ``loopml models card`` works unchanged with LOOPML_SERVER_URL set."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

import loopml
from loopml.cli import main
from loopml.client import fluent
from loopml.core.entities import Role
from loopml.evaluation import EvaluationService
from loopml.governance import ModelCard, compose_card
from loopml.registry import ModelRegistry
from tests.rest.live_server import LiveServer
from tests.rest.registry_seed import Clients, seed, server_store


@pytest.fixture
def remote_env(
    live_server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """The process's SDK pointed at ``live_server`` with the viewer's token."""
    monkeypatch.setenv("LOOPML_SERVER_URL", live_server.url)
    monkeypatch.setenv("LOOPML_TOKEN", live_server.tokens[Role.VIEWER])
    monkeypatch.setenv("LOOPML_HOME", str(tmp_path / ".loopml"))
    yield
    fluent.reset_client()
    from loopml.client.remote.connection import close_shared_transports

    close_shared_transports()


def _undated(card: ModelCard) -> ModelCard:
    return dataclasses.replace(card, generated_at=0)


def test_card_through_the_server_equals_the_stores(
    live_server: LiveServer,
    unique: str,
    clients: Clients,
    remote_env: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seeded = seed(live_server, unique)
    backend = server_store(live_server)
    evaluations = EvaluationService(backend)
    evaluation = evaluations.evaluate(
        seeded.versions[0].ref,
        datasets=[seeded.dataset.ref],
        baseline=None,
        slices=[{"column": "mean radius", "bins": [0, 12, 15, 40]}],
        resamples=50,
        costs=False,
    )
    policy = {"name": "remote-gate", "rules": [{"metric": "auc", "min": 0.5}]}
    evaluations.gate(seeded.versions[0].ref, policy, evaluation=evaluation)
    approver = clients(Role.APPROVER)
    approver.models.approve(f"{unique}@1", comment="approved through the server")
    approver.models.set_alias(unique, "champion", 1, reason="remote release")

    remote = loopml.models.card(f"{unique}@champion")  # the SDK's remote mode
    local = compose_card(
        f"{unique}@1",
        models=ModelRegistry(backend),
        evaluations=evaluations,
        events=lambda subject: backend.events.list_events(subject=subject),
    )
    assert _undated(remote) == _undated(local)
    assert remote.evaluations[0].evaluation_id == evaluation.evaluation_id
    assert [(r.status, r.actor) for r in remote.reviews] == [("approved", "approver-user")]
    assert remote.gates[0].policy == "remote-gate" and remote.gates[0].passed
    kinds = {item.kind for item in remote.limitations}
    assert "evaluation" in kinds  # evaluated on its own training data: the card says so
    target = tmp_path / "card.md"
    capsys.readouterr()
    assert main(["models", "card", f"{unique}@1", "--output", str(target)]) == 0
    text = target.read_text(encoding="utf-8")
    assert text.startswith(f"# Model card: {unique}@1\n") and "approved through the server" in text
