"""``loopml serve --auth token`` on a real model server (127.0.0.1): no token 401, too little
role 403 (neither changes anything), the right role 200; health and metrics stay open."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from loopml.cli import main
from loopml.core.settings import Settings
from loopml.governance import TokenService
from loopml.registry import ModelRegistry
from loopml.serving.config import is_loopback, resolve_auth
from loopml.store.backend import open_backend

from .conftest import NAME, Served, register, serve
from .real_server import make_home, server_env, start

ROWS = {"records": [{"mean radius": 14.0, "mean texture": 19.0, "mean perimeter": 92.0,
                     "mean area": 650.0, "mean smoothness": 0.1}]}  # fmt: skip


@pytest.fixture(scope="module")
def admin(store: Settings) -> TokenService:
    """Makes and revokes tokens in the server's store, as `loopml tokens` does."""
    return TokenService(open_backend(store))


@pytest.fixture(scope="module")
def server(
    store: Settings,
    fitted: dict[str, Pipeline],
    data: pd.DataFrame,
    admin: TokenService,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Served]:
    register(ModelRegistry(open_backend(store)), fitted["a"], data, champion=True)
    # cache_ms=0: the server reads each token every time, so a revocation shows at once
    served = serve(store, tmp_path_factory.mktemp("auth"), tokens=TokenService(admin.backend))
    yield served
    served.stop()


def bearer(text: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {text}"}


def test_no_token_is_401_and_nothing_is_done(server: Served) -> None:
    answer = server.client.post("/predict", json=ROWS)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith('Bearer realm="loopml"')
    assert "needs an API token: send the header `Authorization: Bearer" in answer.json()["error"]
    for path in ("/openapi.json", f"/v2/models/{NAME}", "/v2"):
        assert server.client.get(path).status_code == 401, path
    answer = server.client.post("/predict", json=ROWS, headers={"Authorization": "Basic eA=="})
    assert answer.status_code == 401 and "malformed" in answer.json()["error"]
    labels = server.client.post(f"/v2/models/{NAME}/labels", json={"ids": ["a"], "labels": [1]})
    assert labels.status_code == 401
    assert server.service.registry.backend.labels.count_labels(NAME) == 0


def test_health_and_metrics_stay_open(server: Served) -> None:
    for path in ("/v2/health/live", "/v2/health/ready", f"/v2/models/{NAME}/ready", "/metrics"):
        assert server.client.get(path).status_code == 200, path


def test_a_viewer_predicts_but_may_not_post_labels(server: Served, admin: TokenService) -> None:
    viewer = admin.create(user="vera", role="viewer")
    answer = server.client.post("/predict", json=ROWS, headers=bearer(viewer.text))
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["predictions"]) == 1
    assert server.client.get("/openapi.json", headers=bearer(viewer.text)).status_code == 200
    body = {"ids": answer.json()["prediction_ids"], "labels": [1]}
    refused = server.client.post(
        f"/v2/models/{NAME}/labels", json=body, headers=bearer(viewer.text)
    )
    assert refused.status_code == 403
    assert refused.json()["error"].startswith("User 'vera' (token")
    assert "may not log labels: that needs the role editor or above" in refused.json()["error"]
    assert server.service.registry.backend.labels.count_labels(NAME) == 0

    editor = admin.create(user="ed", role="editor")
    stored = server.client.post(f"/v2/models/{NAME}/labels", json=body, headers=bearer(editor.text))
    assert stored.status_code == 200, stored.text
    assert server.service.registry.backend.labels.count_labels(NAME) == 1
    used = {t.user: t.last_used_at for t in admin.list_tokens()}
    assert used["vera"] is not None and used["ed"] is not None


def test_revoked_expired_and_unknown_tokens_are_401(server: Served, admin: TokenService) -> None:
    token = admin.create(user="rita", role="admin")
    assert server.client.post("/predict", json=ROWS, headers=bearer(token.text)).status_code == 200
    admin.revoke(token.token.token_id)
    answer = server.client.post("/predict", json=ROWS, headers=bearer(token.text))
    assert answer.status_code == 401 and "of user 'rita' is revoked" in answer.json()["error"]
    expired = TokenService(admin.backend, clock=lambda: 1_000).create(
        user="old", role="viewer", expires="1h"
    )
    answer = server.client.post("/predict", json=ROWS, headers=bearer(expired.text))
    assert answer.status_code == 401 and "is expired" in answer.json()["error"]
    forged = f"lml_{token.token.token_id}_{'A' * 43}"
    answer = server.client.post("/predict", json=ROWS, headers=bearer(forged))
    assert answer.status_code == 401 and "not known to this server" in answer.json()["error"]
    assert "A" * 43 not in answer.text


def test_the_auth_mode_of_a_host() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.5")
    assert not is_loopback("models.internal")
    assert resolve_auth(None, "127.0.0.1") == "none"  # as before tokens existed
    assert resolve_auth(None, "0.0.0.0") == "token"
    assert resolve_auth("token", "127.0.0.1") == "token"
    with pytest.raises(ValueError, match=r"--auth none is refused on --host 0\.0\.0\.0"):
        resolve_auth("none", "0.0.0.0")
    with pytest.raises(ValueError, match=r"--auth must be one of none, token\. Got 'basic'"):
        resolve_auth("basic", "127.0.0.1")


def test_serve_refuses_auth_none_on_another_host(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["serve", "cancer@champion", "--host", "0.0.0.0", "--auth", "none"])
    assert code == 2
    assert "--auth none is refused on --host 0.0.0.0" in capsys.readouterr().err


@pytest.mark.slow
def test_loopml_serve_auth_token_as_a_subprocess(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    made = subprocess.run(
        [sys.executable, "-m", "loopml", "tokens", "create", "--user", "ci", "--role", "viewer"],
        env=server_env(home),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    token = made.stdout.strip()
    server, url = start(home, "--auth", "token")
    try:
        assert httpx.post(f"{url}/predict", json=ROWS).status_code == 401
        answer = httpx.post(f"{url}/predict", json=ROWS, headers=bearer(token))
        assert answer.status_code == 200, answer.text
        labels = httpx.post(
            f"{url}/v2/models/{NAME}/labels",
            json={"ids": answer.json()["prediction_ids"], "labels": [1]},
            headers=bearer(token),
        )
        assert labels.status_code == 403
    finally:
        server.terminate()
        server.wait(timeout=60)
