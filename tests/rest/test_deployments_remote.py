"""Deployment records, evaluations and gates, events and monitor results through a real
``loopml server`` (SQLite and PostgreSQL), by the SDK's remote mode."""

from __future__ import annotations

import dataclasses
import pathlib

import httpx
import numpy as np
import pandas as pd
import pytest

from loopml.core.entities import Role
from loopml.core.errors import (
    AccessDeniedError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
)
from loopml.evaluation import EvaluationService
from loopml.health import MonitorService
from tests.rest.live_server import LiveServer
from tests.rest.registry_seed import Clients, seed, server_store

GUARDRAILS = {"inputs": [{"column": "mean radius", "min": 0, "max": 50, "action": "clip"}]}


def test_deployments_need_an_approver_and_resolve_refs_on_the_server(
    live_server: LiveServer, unique: str, clients: Clients
) -> None:
    seed(live_server, unique)
    editor, approver = clients(Role.EDITOR), clients(Role.APPROVER)
    with pytest.raises(AccessDeniedError, match="deploy"):
        editor.deployments.create(unique, champion=f"{unique}@1")
    with pytest.raises(NotFoundError, match=f"{unique}.*9"):
        approver.deployments.create(unique, champion=f"{unique}@9")
    answer = httpx.post(
        f"{live_server.url}/api/v1/deployments",
        json={"name": unique, "champion": f"{unique}@9"},
        headers=live_server.headers(Role.APPROVER),
    )
    assert answer.status_code == 404
    assert f"Model '{unique}' has no version 9" in answer.json()["error"]
    with pytest.raises(NotFoundError):
        approver.deployments.get(unique)  # nothing was created
    made = approver.deployments.create(
        unique, champion=f"{unique}@1", guardrails=GUARDRAILS, reason="launch"
    )
    assert (made.version, made.created_by) == (1, "approver-user")
    assert made.guardrails is not None and made.guardrails["inputs"][0]["action"] == "clip"
    changed = approver.deployments.set(
        unique, canary=f"{unique}@2", canary_share=10, expected_version=1, reason="try 2"
    )
    assert changed.canary is not None and changed.canary.share == 10
    assert changed.champion == f"{unique}@1" and changed.guardrails == made.guardrails
    with pytest.raises(ConflictError, match="expected"):
        approver.deployments.set(unique, canary_share=20, expected_version=1)
    cleared = approver.deployments.set(unique, canary=None)
    assert cleared.canary is None
    viewer = clients(Role.VIEWER)
    assert viewer.deployments.get(unique) == cleared
    assert unique in [d.name for d in viewer.deployments.list_deployments()]
    history = viewer.deployments.history(unique)
    assert [e.actor for e in history] == ["approver-user"] * 3
    assert history[0].reason == "launch"
    with pytest.raises(AccessDeniedError, match="delete"):
        approver.deployments.delete(unique)
    gone = clients(Role.ADMIN).deployments.delete(unique, reason="retired")
    assert gone.version == 3
    with pytest.raises(NotFoundError):
        viewer.deployments.get(unique)


def test_evaluations_are_read_and_gated_on_the_server(
    live_server: LiveServer, unique: str, clients: Clients
) -> None:
    seeded = seed(live_server, unique)
    service = EvaluationService(server_store(live_server))
    stored = service.evaluate(
        seeded.versions[0].ref, datasets=[seeded.dataset.ref], resamples=50, costs=False
    )
    viewer, editor = clients(Role.VIEWER), clients(Role.EDITOR)
    assert viewer.evaluations.get(stored.evaluation_id[:8]) == stored
    assert viewer.evaluations.resolve_id(stored.evaluation_id[:8]) == stored.evaluation_id
    assert [r.evaluation_id for r in viewer.evaluations.list(unique)] == [stored.evaluation_id]
    assert viewer.evaluations.list(f"{unique}@2") == []
    policy = {"name": "release", "rules": [{"metric": "auc", "min": 0.5}]}
    with pytest.raises(AccessDeniedError, match="write"):
        viewer.evaluations.gate(seeded.versions[0].ref, policy, evaluation=stored.evaluation_id)
    decision = editor.evaluations.gate(
        seeded.versions[0].ref, policy, evaluation=stored.evaluation_id
    )
    assert decision.passed and decision.evaluation_id == stored.evaluation_id
    recorded = httpx.get(
        f"{live_server.url}/api/v1/models/{unique}/versions/1/gates",
        headers=live_server.headers(Role.VIEWER),
    ).json()
    assert [(e["kind"], e["actor"]) for e in recorded] == [("gate.passed", "editor-user")]


def test_events_filter_as_the_cli_does(
    live_server: LiveServer, unique: str, clients: Clients
) -> None:
    seeded = seed(live_server, unique)
    viewer = clients(Role.VIEWER)
    every = viewer.events(subject=f"model:{unique}@")
    assert [e.subject for e in every] == [f"model:{unique}@1", f"model:{unique}@2"]
    assert viewer.events(subject=f"model:{unique}@2") == every[1:]
    assert viewer.events(subject=f"model:{unique}@", limit=1) == every[1:]
    assert viewer.events(subject=f"model:{unique}@", since=every[1].at)[-1] == every[1]
    kinds = {e.kind for e in viewer.events(subject=f"dataset:{seeded.dataset.name}@")}
    assert kinds == {"dataset.registered"}


def test_monitor_results_are_read_through_the_server(
    live_server: LiveServer, clients: Clients
) -> None:
    rng = np.random.default_rng(5)
    reference = pd.DataFrame({"amount": rng.lognormal(size=1000)})
    current = pd.DataFrame({"amount": rng.lognormal(size=1000) * 3})
    report = MonitorService(server_store(live_server)).monitor(
        current=current, reference=reference, window=500, multivariate=False
    )
    viewer = clients(Role.VIEWER)
    results = viewer.monitoring.results  # type: ignore[attr-defined]
    windows = results.list_results(run_id=report.run_id)
    assert [w.window.index for w in windows] == [1, 0]
    assert windows[0].window == report.windows[1]
    listed = results.list_results(subject="data:a DataFrame", limit=50)
    assert {w.run_id for w in listed} >= {report.run_id}
    with pytest.raises(NotFoundError, match="No monitor run"):
        results.list_results(run_id="0" * 32)
    here = viewer.monitoring.monitor(
        current=current, reference=reference, window=500, multivariate=False, store=False
    )
    assert here.run_id is None and len(here.windows) == 2
    with pytest.raises(Exception, match="runs only against the store"):
        viewer.monitoring.monitor(current=current, reference=reference)


def test_evaluate_here_and_store_on_the_server(
    live_server: LiveServer, unique: str, clients: Clients
) -> None:
    seeded = seed(live_server, unique)
    editor = clients(Role.EDITOR)
    ref = seeded.versions[1].ref
    made = editor.evaluations.evaluate(ref, datasets=[seeded.dataset.ref], resamples=50)
    assert (made.model, made.created_by) == (ref, "editor-user")
    embedded = EvaluationService(server_store(live_server))
    again = embedded.evaluate(ref, datasets=[seeded.dataset.ref], resamples=50, costs=False)
    ours = {m.name: m.value for m in made.datasets[0].metrics}
    theirs = {m.name: m.value for m in again.datasets[0].metrics}
    assert ours == theirs  # the same numbers as the server's own evaluation
    assert embedded.get(made.evaluation_id) == made
    created = editor.events(subject=f"model:{ref}", kind="evaluation.created")
    assert created[0].actor == "editor-user"
    policy = {"name": "strict", "rules": [{"metric": "auc", "min": 0.9999}]}
    decision = editor.evaluations.gate(ref, policy, datasets=[seeded.dataset.ref], resamples=50)
    assert not decision.passed
    assert len(editor.evaluations.list(ref)) == 3
    with pytest.raises(NotFoundError, match="no version 7"):
        editor.evaluations.record(dataclasses.replace(made, model=f"{unique}@7"))


def test_a_guardrails_file_is_read_and_checked_by_the_client_as_embedded(
    live_server: LiveServer, unique: str, clients: Clients, tmp_path: pathlib.Path
) -> None:
    seed(live_server, unique)
    approver = clients(Role.APPROVER)
    missing = tmp_path / "missing.yaml"
    with pytest.raises(InvalidArgumentError, match="field 'guardrails': there is no file"):
        approver.deployments.create(unique, champion=f"{unique}@1", guardrails=missing)
    listed = tmp_path / "list.yaml"
    listed.write_text("- 1\n- 2\n", encoding="utf-8")
    with pytest.raises(InvalidArgumentError, match="must be a mapping.*Got list"):
        approver.deployments.create(unique, champion=f"{unique}@1", guardrails=listed)
    with pytest.raises(NotFoundError):
        approver.deployments.get(unique)  # nothing was sent
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "inputs:\n  - {column: mean radius, min: 0, max: 50, action: clip}\n", encoding="utf-8"
    )
    made = approver.deployments.create(unique, champion=f"{unique}@1", guardrails=rules)
    assert made.guardrails == GUARDRAILS
