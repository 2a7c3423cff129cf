"""What a retry guarantees, through a real ``loopml server`` (SQLite and PostgreSQL): a write
whose answer is lost (the connection cut after the server committed, or the server killed
with ``kill -9`` after its commit) is sent again with its key, and the client gets the
original answer: one run, one end, one version, one alias move, one evaluation, no error. A
run ended by one worker of ``loopml server --workers 2`` takes no point sent to the other.
Old metric batch keys are pruned when runs end, recent ones kept."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sklearn.linear_model import LogisticRegression

from loopml.client import LoopmlClient
from loopml.client.remote.connection import close_shared_transports
from loopml.core.clock import now_ms
from loopml.core.entities import MetricPoint, Role, RunStatus
from loopml.core.settings import Settings, resolve_settings
from loopml.store.backend import open_backend
from loopml.tracking import TrackingService
from tests.rest.cutting_proxy import AnswerCutter
from tests.rest.live_server import LiveServer
from tests.rest.registry_seed import frame, server_store


@pytest.fixture(autouse=True)
def _close_transports() -> Iterator[None]:
    yield
    close_shared_transports()


def _client(url: str, token: str, home: Path) -> LoopmlClient:
    """An SDK client in remote mode talking to ``url`` (the server, or a proxy before it)."""
    overrides: dict[str, Any] = {
        "home": home / ".client",
        "server_url": url,
        "token": token,
        "capture_env": False,
        "flush_interval": 0.05,
    }
    return LoopmlClient(settings=resolve_settings(overrides))


def _kinds(server: LiveServer, subject: str) -> list[str]:
    return [e.kind for e in server_store(server).events.list_events(subject=subject)]


def test_writes_whose_answers_are_cut_are_applied_once(
    live_server: LiveServer, unique: str, tmp_path: Path
) -> None:
    editor, approver = live_server.tokens[Role.EDITOR], live_server.tokens[Role.APPROVER]

    def through_cut(marker: str, token: str, write: Any) -> Any:
        with AnswerCutter(live_server.port, marker.encode()) as cutter:
            answer = write(_client(cutter.url, token, tmp_path))
            assert cutter.cuts == 1, f"no answer was cut: {marker}"
        return answer

    run = through_cut(
        "POST /api/v1/runs ", editor, lambda c: c.service.create_run(experiment=unique, name="cut")
    )
    assert run.name == "cut" and run.status is RunStatus.RUNNING
    through_cut(
        f"POST /api/v1/runs/{run.run_id}/end ",
        editor,
        lambda c: c.service.end_run(run.run_id, status=RunStatus.FAILED, error="boom"),
    )
    [stored] = _runs(live_server, unique)
    assert (stored.run_id, stored.status, stored.error) == (run.run_id, RunStatus.FAILED, "boom")
    assert _kinds(live_server, f"run:{run.run_id}") == ["run.created", "run.ended"]

    data = frame()
    X, y = data.drop(columns="target"), data["target"]
    direct = _client(live_server.url, editor, tmp_path)
    dataset = direct.datasets.register(f"{unique}-data", data, target="target")
    model = LogisticRegression(max_iter=3000).fit(X, y)
    version = through_cut(
        f"POST /api/v1/models/{unique}/versions ",
        editor,
        lambda c: c.models.register(model, unique, training_data=dataset.ref),
    )
    assert version.ref == f"{unique}@1"
    assert [v.version for v in direct.models.versions(unique)] == [1]
    assert _kinds(live_server, f"model:{unique}@1") == ["model.registered"]

    through_cut(
        f"POST /api/v1/models/{unique}/versions/1/approve ",
        approver,
        lambda c: c.models.approve(version.ref, comment="good"),
    )
    move = through_cut(
        f"POST /api/v1/models/{unique}/aliases/champion ",
        approver,
        lambda c: c.models.set_alias(unique, "champion", 1, reason="first"),
    )
    assert (move.alias, move.from_version, move.to_version) == ("champion", None, 1)
    assert [m.event_id for m in direct.models.alias_history(unique)] == [move.event_id]
    assert _kinds(live_server, f"model:{unique}@1") == ["model.registered", "model.approved"]

    evaluation = through_cut(
        "POST /api/v1/evaluations ",
        editor,
        lambda c: c.evaluations.evaluate(
            version.ref, datasets=[dataset.ref], baseline=None, resamples=20
        ),
    )
    records = direct.evaluations.list(unique)
    assert [r.evaluation_id for r in records] == [evaluation.evaluation_id]


def _runs(server: LiveServer, experiment: str) -> list[Any]:
    tracking = TrackingService(server_store(server))
    return tracking.search_runs(experiment)


def _wait_for(condition: Any, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_writes_committed_by_a_server_killed_before_it_answered_are_applied_once(
    own_server: LiveServer, tmp_path: Path
) -> None:
    """kill -9 between the commit and the answer: the client retries into the restarted
    server (same port) with the same key and gets the run and the version it made."""
    own_server.start()
    token = own_server.tokens[Role.EDITOR]
    data = frame()
    X, y = data.drop(columns="target"), data["target"]
    dataset = _client(own_server.url, token, tmp_path).datasets.register(
        "killed-data", data, target="target"
    )
    model = LogisticRegression(max_iter=3000).fit(X, y)
    writes = {
        "POST /api/v1/runs ": lambda c: c.start_run("killed", name="once").run_id,
        "POST /api/v1/models/killed/versions ": lambda c: (
            c.models.register(model, "killed", training_data=dataset.ref).ref
        ),
    }
    answers = []
    for marker, write in writes.items():
        with (
            AnswerCutter(own_server.port, marker.encode(), on_cut=own_server.kill) as cutter,
            ThreadPoolExecutor(1) as pool,
        ):
            client = _client(cutter.url, token, tmp_path)
            answer = pool.submit(write, client)
            _wait_for(lambda: cutter.cuts == 1, "the answer to be cut")
            own_server.start()  # the client keeps retrying meanwhile
            answers.append(answer.result(timeout=60))
    run_id, ref = answers
    assert [r.run_id for r in _runs(own_server, "killed")] == [run_id]
    assert ref == "killed@1"
    registry_versions = server_store(own_server).models.list_versions("killed")
    assert [v.version for v in registry_versions] == [1]


def test_a_run_ended_by_one_worker_takes_no_point_from_another(own_server: LiveServer) -> None:
    """Every request on a new connection, so the two workers of the server share them."""
    own_server.start("--workers", "2")
    headers = own_server.headers(Role.EDITOR)
    api = f"{own_server.url}/api/v1"

    def post(path: str, body: Any) -> httpx.Response:
        with httpx.Client(headers=headers) as fresh:  # a new connection: either worker
            return fresh.post(f"{api}{path}", json=body)

    refused = 0
    for i in range(4):
        run_id = post("/runs", {"experiment": "workers", "name": f"r{i}"}).json()["run_id"]
        for step in range(4):  # both workers see the run RUNNING
            batch = {"points": [[run_id, "m", 1.0, step, 1_000 + step]]}
            assert post("/metric-batches", batch).status_code == 200
        assert post(f"/runs/{run_id}/end", {"status": "FINISHED"}).status_code == 200
        for step in range(4, 8):
            late = post("/metric-batches", {"points": [[run_id, "m", 1.0, step, 1_000 + step]]})
            assert late.status_code == 409, late.text
            assert late.json()["type"] == "ConflictError"
            assert f"Run {run_id} is FINISHED" in late.json()["error"]
            refused += 1
        params = post(f"/runs/{run_id}/params", {"params": {"late": "1"}})
        assert params.status_code == 409
        history = server_store(own_server).tracking.get_metric_history(run_id, "m")
        assert [p.step for p in history] == [0, 1, 2, 3]
    assert refused == 16


def test_old_batch_keys_are_pruned_when_a_run_ends_and_recent_ones_kept(
    settings: Settings,
) -> None:
    backend = open_backend(settings)
    start = now_ms()
    tracking = TrackingService(backend)
    run = tracking.create_run(experiment="keys", capture=False)
    points = [(run.run_id, MetricPoint("m", 1.0, 0, start))]
    for key in ("k1", "k2", "k3"):
        assert tracking.log_metric_batch(points, batch_key=key) is True
    hours = 3_600_000

    def end_a_run_at(at: int) -> None:
        later = TrackingService(backend, clock=lambda: at)
        other = later.create_run(experiment="keys", capture=False)
        later.end_run(other.run_id)

    end_a_run_at(start + 23 * hours)  # within the day: kept, a resent batch is applied once
    assert tracking.log_metric_batch(points, batch_key="k1") is False
    end_a_run_at(start + 25 * hours)  # past it: pruned, so the key is applied again
    assert tracking.log_metric_batch(points, batch_key="k1") is True
    assert len(tracking.get_metric_history(run.run_id, "m")) == 4
