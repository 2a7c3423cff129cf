"""Tracking through a real ``loopml server`` (SQLite and PostgreSQL): the actor and origin of
a run's events, roles per route, errors as the embedded SDK's, metric batches applied once
(a batch sent again, across a kill -9 of the server too), concurrent writers of one run, and
the remote SDK standing for the tracking service method for method."""

from __future__ import annotations

import inspect
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from loopml.client import LoopmlClient
from loopml.client.remote.connection import close_shared_transports
from loopml.client.remote.experiments import RemoteExperiments
from loopml.client.remote.tracking import RemoteTracking
from loopml.core.entities import MetricPoint, Role, Run, RunStatus
from loopml.core.errors import AccessDeniedError, ConflictError, FilterSyntaxError, LoopmlError
from loopml.core.ids import RunId
from loopml.core.settings import Settings, resolve_settings
from loopml.store.backend import Backend, open_backend
from loopml.store.remote import Transport
from loopml.tracking import ExperimentCatalog, TrackingService
from tests.rest.live_server import LiveServer


def _client(server: LiveServer, role: Role, settings: Settings | None = None) -> LoopmlClient:
    base = settings or resolve_settings({"capture_env": False, "flush_interval": 0.05})
    return LoopmlClient(settings=replace(base, server_url=server.url, token=server.tokens[role]))


def _store_of(server: LiveServer) -> Backend:
    """The server's own store, opened as its host would (to check what it recorded)."""
    return open_backend(resolve_settings({"home": server.home, "db_url": server.db_url}))


@pytest.fixture(autouse=True)
def _close_transports() -> Iterator[None]:
    yield
    close_shared_transports()


def _public(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    }


@pytest.mark.parametrize(
    ("service", "proxy"),
    [(TrackingService, RemoteTracking), (ExperimentCatalog, RemoteExperiments)],
)
def test_the_proxy_has_every_method_of_the_service(service: type, proxy: type) -> None:
    wanted, found = _public(service), _public(proxy)
    assert set(wanted) <= set(found), f"missing on {proxy.__name__}: {set(wanted) - set(found)}"
    for name, signature in wanted.items():
        assert str(found[name]) == str(signature), name


def test_a_run_through_the_server_records_its_user_client_and_address(
    live_server: LiveServer, unique: str
) -> None:
    client = _client(live_server, Role.EDITOR)
    with client.start_run(unique, name="remote", tags={"team": "risk"}) as run:
        run.log_param("lr", 0.1)
        run.log_metric("auc", 0.9)
    stored = client.get_run(run.run_id)
    assert stored.status is RunStatus.FINISHED and stored.params == {"lr": "0.1"}
    assert stored.metrics == {"auc": 0.9} and stored.tags == {"team": "risk"}
    events = _store_of(live_server).events.list_events(subject=f"run:{run.run_id}")
    assert [e.kind for e in events] == ["run.created", "run.ended"]
    for event in events:
        assert event.actor == "editor-user"  # the token's user, never a name the client sends
        assert event.client.startswith("loopml-sdk/") and event.address == "127.0.0.1"


def test_roles_are_checked_before_anything_is_written(live_server: LiveServer, unique: str) -> None:
    viewer = _client(live_server, Role.VIEWER)
    with pytest.raises(AccessDeniedError, match="editor"):
        viewer.start_run(unique)
    assert viewer.search_runs(output="runs", filter=f"name = '{unique}'") == []
    editor = _client(live_server, Role.EDITOR)
    with editor.start_run(unique) as run:
        pass
    assert viewer.get_run(run.run_id).run_id == run.run_id  # reading is the viewer's right
    with pytest.raises(AccessDeniedError, match="admin"):
        editor.delete_run(run.run_id)
    admin = _client(live_server, Role.ADMIN)
    admin.delete_run(run.run_id)
    assert admin.get_run(run.run_id).deleted
    assert admin.restore_run(run.run_id).deleted is False


def test_errors_come_back_as_the_embedded_ones(live_server: LiveServer, unique: str) -> None:
    client = _client(live_server, Role.EDITOR)
    with client.start_run(unique) as run:
        run.log_param("depth", 6)
        with pytest.raises(ConflictError, match="write-once"):
            run.log_param("depth", 8)
    with pytest.raises(FilterSyntaxError, match="Expected a value") as info:
        client.search_runs(unique, filter="metrics.auc >> 0.8")
    assert "^" in str(info.value)
    answer = httpx.get(
        f"{live_server.url}/api/v1/runs",
        params={"filter": "metrics.auc >> 0.8"},
        headers=live_server.headers(Role.VIEWER),
    )
    assert answer.status_code == 422 and answer.json()["type"] == "FilterSyntaxError"
    assert client.service.resolve_run_id(run.run_id[:8]) == run.run_id
    with pytest.raises(LoopmlError, match="needs the store itself"):
        _ = client.backend


def test_a_batch_sent_again_is_applied_once(live_server: LiveServer, unique: str) -> None:
    client = _client(live_server, Role.EDITOR)
    run = client.start_run(unique)
    points = [(run.run_id, MetricPoint("m", float(i), i, 1_000 + i)) for i in range(500)]
    assert client.service.log_metric_batch(points, batch_key=f"{unique}-k1") is True
    assert client.service.log_metric_batch(points, batch_key=f"{unique}-k1") is False
    assert client.service.log_metric_batch(points[:10], batch_key=f"{unique}-k2") is True
    history = client.get_metric_history(run.run_id, "m")
    assert len(history) == 510
    run.end()


def test_search_pages_through_the_server(live_server: LiveServer, unique: str) -> None:
    client = _client(live_server, Role.EDITOR)
    for i in range(5):
        with client.start_run(unique, name=f"r{i}") as run:
            run.log_metric("auc", i / 10)
    pages = [
        client.service.search_runs(unique, order_by=["metrics.auc desc"], limit=2, offset=o)
        for o in (0, 2, 4)
    ]
    assert [[r.name for r in page] for page in pages] == [["r4", "r3"], ["r2", "r1"], ["r0"]]
    assert client.service.experiments.count_runs(client.get_experiment(unique)) == 5
    frame = client.search_runs(unique, filter="metrics.auc >= 0.3")
    assert sorted(frame["name"]) == ["r3", "r4"]


# -- a server of the test's own, killed mid-run -----------------------------------------------


def test_a_server_killed_mid_run_loses_and_duplicates_no_point(
    own_server: LiveServer, settings: Settings
) -> None:
    own_server.start()
    client = _client(own_server, Role.EDITOR, replace(settings, flush_interval=0.01))
    run = client.start_run("killed")
    n = 3000
    for i in range(n):
        run.log_metric("m", float(i), step=i)
        if i == 1000:  # kill -9 while the writer sends batches every 10 ms
            own_server.kill()
        if i == 2000:  # points logged meanwhile wait in memory; the same port again
            own_server.start()
    run.end()
    history = client.get_metric_history(run.run_id, "m")
    assert [p.step for p in history] == list(range(n))
    assert client.get_run(run.run_id).status is RunStatus.FINISHED


def test_a_batch_applied_before_a_kill_is_not_applied_again(
    own_server: LiveServer, settings: Settings
) -> None:
    """The answer to a batch is lost when the server dies after its commit: the key, written
    in the same transaction as the points, makes the resent batch a no-op."""
    own_server.start()
    token = own_server.tokens[Role.EDITOR]
    client = _client(own_server, Role.EDITOR, settings)
    run_id = client.start_run("resend").run_id
    rows = [[run_id, "m", float(i), i, 1_000 + i] for i in range(100)]
    with Transport(own_server.url, token) as transport:
        first = transport.request(
            "POST", "/metric-batches", json={"points": rows}, idempotency_key="resend-1"
        )
        assert first.json() == {"applied": True, "points": 100}
        own_server.kill()
        own_server.start()
        again = transport.request(
            "POST", "/metric-batches", json={"points": rows}, idempotency_key="resend-1"
        )
        assert again.json() == {"applied": False, "points": 100}
    assert len(client.get_metric_history(run_id, "m")) == 100


# -- many writers of one run ------------------------------------------------------------------

WRITER = """
import sys, loopml
index, run_id = int(sys.argv[1]), sys.argv[2]
client = loopml.LoopmlClient()
client.log_param(run_id, f"p{index}", index)
client.set_tag(run_id, f"t{index}", "yes")
for step in range(500):
    client.log_metric(run_id, "m", float(index * 1000 + step), step=index * 1000 + step)
client.flush()
"""


def test_concurrent_clients_writing_one_run_lose_no_update(
    live_server: LiveServer, unique: str, tmp_path: Path
) -> None:
    client = _client(live_server, Role.EDITOR)
    run = client.start_run(unique)
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    env = live_server.env() | {
        "LOOPML_SERVER_URL": live_server.url,
        "LOOPML_TOKEN": live_server.tokens[Role.EDITOR],
        "LOOPML_HOME": str(tmp_path / "client-home"),  # never used: the client is remote
    }
    env.pop("LOOPML_DB_URL", None)
    writers = [
        subprocess.Popen(
            [sys.executable, str(script), str(i), run.run_id],
            env=env,
            cwd=tmp_path,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    for proc in writers:
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
    run.end()
    stored: Run = client.get_run(run.run_id)
    assert stored.metrics == {"m": 3499.0}  # the latest point of all four writers
    assert stored.params == {f"p{i}": str(i) for i in range(4)}
    assert {f"t{i}": "yes" for i in range(4)}.items() <= stored.tags.items()
    steps = [p.step for p in client.get_metric_history(RunId(run.run_id), "m")]
    assert steps == sorted(i * 1000 + s for i in range(4) for s in range(500))
    assert not (tmp_path / "client-home").exists()  # a remote client opens no store


def test_nul_bytes_and_lone_surrogates_are_refused_or_kept_never_a_500(
    live_server: LiveServer, unique: str
) -> None:
    """PostgreSQL holds no NUL in text, not even to compare: a filter holding one is a 422 (its
    caret on it), an experiment name holding one is no experiment (404), a run's error keeps
    it as an escape, and a lone surrogate in a body is a 422 naming the field."""
    api, headers = f"{live_server.url}/api/v1", live_server.headers(Role.EDITOR)
    run = httpx.post(f"{api}/runs", json={"experiment": unique}, headers=headers).json()
    for params in ({"filter": "params.a = 'x\x00'"}, {"order_by": "metrics.`a\x00`"}):
        answer = httpx.get(f"{api}/runs", params=params, headers=headers)
        assert answer.status_code == 422, answer.text
        assert "NUL" in answer.json()["error"]
    for path in ("/runs", "/runs/count"):
        answer = httpx.get(f"{api}{path}", params={"experiments": f"{unique}\x00"}, headers=headers)
        assert answer.status_code == 404, answer.text  # no stored name holds a NUL
        assert f"Did you mean '{unique}'" in answer.json()["error"]
    end, json_body = (
        f"{api}/runs/{run['run_id']}/end",
        {**headers, "Content-Type": "application/json"},
    )
    lone = httpx.post(end, content=b'{"status": "FAILED", "error": "\\ud800"}', headers=json_body)
    assert lone.status_code == 422 and lone.json()["field"] == "body.error"
    body = b'{"status": "FAILED", "error": "bad\\u0000 end"}'
    answer = httpx.post(end, content=body, headers=json_body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["error"] == "bad\\x00 end"
