"""Bad input to the registry's routes is a 4xx naming the problem, never a 5xx, and writes
nothing (NUL characters, which PostgreSQL cannot store; a blob that is not what it should be)."""

from __future__ import annotations

import httpx
import pytest

from loopml.core.entities import Role
from tests.rest.live_server import LiveServer
from tests.rest.registry_seed import seed, server_store


def test_nul_and_junk_are_4xx(live_server: LiveServer, unique: str) -> None:
    seed(live_server, unique)
    api = f"{live_server.url}/api/v1"
    approver = live_server.headers(Role.APPROVER)
    junk = server_store(live_server).artifacts.put_bytes(b"not parquet, not a manifest")
    requests = [
        ("GET", f"/events?subject=model:{unique}%00", None),
        ("GET", "/events?kind=a%00b", None),
        ("GET", f"/models/{unique}/alias-history?alias=x%00", None),
        ("GET", "/monitoring/runs/ab%00cd", None),
        ("GET", "/monitoring/results?model=a%00", None),
        ("GET", "/evaluations?model=a%00", None),
        ("GET", "/evaluations/ab%00cd", None),
        ("GET", "/datasets/diff?old=a%00&new=b", None),
        ("POST", f"/models/{unique}/aliases/challenger", {"version": 1, "reason": "a\x00"}),
        ("DELETE", f"/models/{unique}/aliases/challenger?reason=a%00", None),
        ("POST", f"/models/{unique}/versions/1/approve", {"comment": "a\x00"}),
        ("POST", f"/datasets/{unique}/versions", {"digest": junk.digest}),
        ("POST", f"/models/{unique}/versions", {"manifest_digest": junk.digest}),
        ("POST", "/deployments", {"name": unique, "champion": f"{unique}@1", "reason": "\x00"}),
        ("POST", f"/models/{unique}/versions/1/gate", {"policy": {"x": 1}, "evaluation": "abcd"}),
    ]
    with httpx.Client(base_url=api, headers=approver) as http:
        for method, path, body in requests:
            answer = http.request(method, path, json=body)
            assert 400 <= answer.status_code < 500, (method, path, answer.text)
            assert answer.json()["error"], (method, path)
        assert http.get(f"/models/{unique}/aliases").json() == {}
        assert http.get(f"/models/{unique}/versions/1").json()["approval"] == "pending"
        assert http.get(f"/deployments/{unique}").status_code == 404


@pytest.mark.parametrize("role", [Role.VIEWER, Role.EDITOR])
def test_deploy_needs_an_approver(live_server: LiveServer, unique: str, role: Role) -> None:
    answer = httpx.post(
        f"{live_server.url}/api/v1/deployments",
        json={"name": unique, "champion": f"{unique}@1"},
        headers=live_server.headers(role),
    )
    assert answer.status_code == 403 and answer.json()["type"] == "AccessDeniedError"


def test_champion_statuses_on_the_wire(live_server: LiveServer, unique: str) -> None:
    seed(live_server, unique)
    url = f"{live_server.url}/api/v1/models/{unique}/aliases/champion"
    editor = httpx.post(url, json={"version": 1}, headers=live_server.headers(Role.EDITOR))
    assert editor.status_code == 403 and editor.json()["type"] == "AccessDeniedError"
    approver = httpx.post(url, json={"version": 1}, headers=live_server.headers(Role.APPROVER))
    assert approver.status_code == 409
    assert approver.json()["type"] == "ApprovalRequiredError"
    assert f"{unique}" in approver.json()["error"]
    challenger = httpx.post(
        f"{live_server.url}/api/v1/models/{unique}/aliases/challenger",
        json={"version": 1},
        headers=live_server.headers(Role.EDITOR),
    )
    assert challenger.status_code == 200 and challenger.json()["actor"] == "editor-user"
