"""``loopml ui`` on 127.0.0.1: the same pages with no token, over the embedded store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

import httpx

from tests.rest.live_server import LiveServer, free_port


def test_loopml_ui_needs_no_token_on_loopback(ui_server: LiveServer, facts: dict[str, Any]) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "loopml", "ui", "--port", str(port)],
        env=ui_server.env(),
        cwd=ui_server.home.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = httpx.get(f"{url}/experiments")
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        assert answer.status_code == 200  # no sign-in page: every page acts as the local user
        assert f'data-experiment="{facts["experiment"]}"' in answer.text
        assert "Sign out" not in answer.text
        assert httpx.get(f"{url}/models", headers={"Host": "evil.example"}).status_code == 400
        missing = httpx.get(f"{url}/no/such/page")
        assert missing.status_code == 404 and "No page at /no/such/page" in missing.text
        assert missing.headers["content-type"].startswith("text/html")
        api = httpx.get(f"{url}/api/v1/no-such-route")  # the API keeps its JSON answers
        assert api.status_code == 404 and api.json()["type"] == "NotFoundError"
        assert httpx.delete(f"{url}/api/v1/experiments").status_code == 405
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
