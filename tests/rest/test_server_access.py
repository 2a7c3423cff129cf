"""The team server's front door, on a real ``loopml server`` per backend: tokens, roles,
errors as JSON naming the field, the actor recorded from the token."""

from __future__ import annotations

import httpx
import pytest

from loopml.core.entities import Experiment, Role
from loopml.core.errors import AccessDeniedError, NotFoundError, UnauthenticatedError
from loopml.store.remote import Transport
from tests.rest.live_server import LiveServer


def test_health_and_openapi_need_no_token(live_server: LiveServer) -> None:
    assert httpx.get(f"{live_server.url}/api/v1/health").json()["status"] == "ok"
    doc = httpx.get(f"{live_server.url}/openapi.json").json()
    assert "/api/v1/experiments" in doc["paths"]


@pytest.mark.parametrize("token", [None, "lml_nope_nope", "garbage"])
def test_no_valid_token_is_401_and_writes_nothing(
    live_server: LiveServer, token: str | None, unique: str
) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = httpx.post(
        f"{live_server.url}/api/v1/experiments", json={"name": unique}, headers=headers
    )
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert answer.json()["type"] == "UnauthenticatedError"
    viewer = Transport(live_server.url, live_server.tokens[Role.VIEWER])
    with viewer, pytest.raises(NotFoundError):
        viewer.get(f"/experiments/{unique}", Experiment)


def test_viewer_reads_but_may_not_write(live_server: LiveServer, unique: str) -> None:
    viewer = Transport(live_server.url, live_server.tokens[Role.VIEWER])
    editor = Transport(live_server.url, live_server.tokens[Role.EDITOR])
    with viewer, editor:
        with pytest.raises(AccessDeniedError, match="editor"):
            viewer.post("/experiments", Experiment, {"name": unique})
        made = editor.post("/experiments", Experiment, {"name": unique})
        assert made.name == unique
        assert viewer.get(f"/experiments/{unique}", Experiment) == made
        assert unique in [e.name for e in viewer.get("/experiments", list[Experiment])]


def test_remote_errors_are_the_embedded_errors(live_server: LiveServer) -> None:
    with Transport(live_server.url, "lml_x_y") as stranger, pytest.raises(UnauthenticatedError):
        stranger.get("/experiments", list[Experiment])
    viewer = Transport(live_server.url, live_server.tokens[Role.VIEWER])
    with viewer, pytest.raises(NotFoundError, match="No experiment named"):
        viewer.get("/experiments/no-such-thing", Experiment)


def test_malformed_body_names_the_field(live_server: LiveServer) -> None:
    headers = live_server.headers(Role.EDITOR)
    answer = httpx.post(f"{live_server.url}/api/v1/experiments", json={"nam": 1}, headers=headers)
    assert answer.status_code == 422
    assert answer.json()["field"] == "body.name"
    answer = httpx.post(
        f"{live_server.url}/api/v1/experiments", content=b"{not json", headers=headers
    )
    assert answer.status_code == 422
