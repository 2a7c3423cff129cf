"""Explanations through ``loopml server``: computed by the remote SDK where the model is
loaded, recorded on the server (which never loads it) with the token's user as the author;
read back by any reader; bad uploads refused with the reason."""

from __future__ import annotations

import httpx

from loopml.core.entities import Role
from tests.rest.conftest import Clients
from tests.rest.live_server import LiveServer
from tests.rest.registry_seed import frame, seed, server_store


def test_explain_here_and_record_it_there(
    live_server: LiveServer, unique: str, clients: Clients
) -> None:
    seeded = seed(live_server, unique, versions=1)
    editor = clients(Role.EDITOR)
    found = editor.models.explain(f"{unique}@1", data=seeded.dataset.ref, rows=300, repeats=2)
    assert [e.method for e in found] == ["permutation", "shap"]
    assert all(e.created_by == "editor-user" and e.dataset == seeded.dataset.ref for e in found)
    inputs = set(frame().drop(columns="target").columns)
    assert {f.feature for f in found[0].features} == inputs
    # a reader sees them, newest first, as the server's store holds them
    viewer = clients(Role.VIEWER)
    assert viewer.models.explanations(f"{unique}@1") == found[::-1]
    assert viewer.models.explanations(f"{unique}@latest", method="shap") == [found[1]]
    events = editor.events(subject=f"model:{unique}@1", kind="model.explained")
    assert [e.actor for e in events] == ["editor-user", "editor-user"]
    stored = server_store(live_server).models.list_explanations(unique, 1)
    assert [e.explanation_id for e in stored] == [e.explanation_id for e in found]
    # an upload naming features the version does not take is refused, whole
    body = {
        "explanation_id": "a" * 32,
        "method": "permutation",
        "rows": 10,
        "features": [{"feature": "not-an-input", "importance": 1.0}],
    }
    path = f"{live_server.url}/api/v1/models/{unique}/versions/1/explanations"
    answer = httpx.post(path, json=body, headers=live_server.headers(Role.EDITOR))
    assert (
        answer.status_code == 422
        and "must give each of its input columns" in answer.json()["error"]
    )
    answer = httpx.post(path, json=body, headers=live_server.headers(Role.VIEWER))
    assert answer.status_code == 403
    assert len(viewer.models.explanations(f"{unique}@1")) == 2
