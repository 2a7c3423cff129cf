"""Run artifact paths that could point outside a download folder are refused by the server's
routes (a real ``loopml server`` per backend), naming the path, and nothing is indexed."""

from __future__ import annotations

import httpx
import pytest

from loopml.core.entities import Role
from loopml.store.remote import RemoteArtifactStore
from tests.rest.live_server import LiveServer

ESCAPING = [
    "../escape.txt",
    "/etc/passwd",
    "a/../../b.txt",
    "..",
    "..\\..\\evil.txt",
    "C:/Windows/evil.txt",
    "nul\x00byte.txt",
    "a//b.txt",
]


@pytest.mark.parametrize("path", ESCAPING)
def test_registering_an_escaping_path_is_refused_and_nothing_is_indexed(
    live_server: LiveServer, unique: str, path: str
) -> None:
    api = f"{live_server.url}/api/v1"
    headers = live_server.headers(Role.EDITOR)
    run = httpx.post(f"{api}/runs", json={"experiment": unique}, headers=headers).json()
    with RemoteArtifactStore(live_server.url, live_server.tokens[Role.EDITOR]) as store:
        blob = store.put_bytes(b"weights")
    entries = [
        {"path": "fine/model.bin", "digest": blob.digest, "size": blob.size},
        {"path": path, "digest": blob.digest, "size": blob.size},
    ]
    answer = httpx.post(
        f"{api}/runs/{run['run_id']}/artifacts", json={"entries": entries}, headers=headers
    )
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["type"] == "InvalidArgumentError"
    assert f"Artifact path {path!r} is not valid" in body["error"]
    listed = httpx.get(f"{api}/runs/{run['run_id']}/artifacts", headers=headers)
    assert listed.json() == []  # not even the good entry sent with it
