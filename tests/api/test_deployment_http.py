"""A real model server on 127.0.0.1 following a deployment record while it serves, with
scikit-learn models trained on the breast cancer data: a canary started at 0 % (its alias not
set yet), raised to 20 % and 50 %, stopped; a shadow added and removed; the champion swapped;
a version that cannot load refused with the old routes kept. The traffic split is read back
from the prediction log's routes. With ``loopml serve --workers 2`` each worker follows."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from loopml.client import LoopmlClient
from loopml.core.settings import Settings
from loopml.registry import ModelRegistry
from loopml.registry.loaded import PREDICTORS
from loopml.serving.deployments import DeploymentService
from loopml.serving.routing import key_share
from loopml.store.backend import open_backend
from loopml.store.logs import read_predictions
from tests.api.conftest import NAME, register, serve
from tests.api.real_server import free_port, make_home, server_env

DEADLINE_S = 60


def _until(condition: Callable[[], Any], what: str) -> Any:
    """Poll ``condition`` until it returns something truthy (the server polls its record)."""
    deadline = time.monotonic() + DEADLINE_S
    while not (found := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
    return found


def test_a_running_server_follows_its_deployment(
    store: Settings,
    fitted: dict[str, Pipeline],
    data: pd.DataFrame,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    registry = ModelRegistry(open_backend(store))
    register(registry, fitted["a"], data, champion=True)  # cancer@1
    second = register(registry, fitted["b"], data)  # cancer@2
    registry.approve(second, comment="ok")
    deployments = DeploymentService(registry)
    deployments.create("prod", champion=f"{NAME}@champion", canary=f"{NAME}@challenger")
    root = tmp_path_factory.mktemp("follow")
    served = serve(store, root, model="", deployment="prod", poll_interval_s=0.05)
    http = served.client
    rows = data.to_dict(orient="records")

    def metadata() -> dict[str, Any]:
        return dict(http.get(f"/v2/models/{NAME}").json())

    def applied(version: int) -> dict[str, Any]:
        return _until(
            lambda: (m := metadata())["deployment_version"] == version and m, f"version {version}"
        )

    def send(phase: str, n: int) -> list[tuple[str, int]]:
        answers = []
        for i in range(n):
            body = {"records": [rows[i % len(rows)]], "key": f"{phase}-{i}"}
            answer = http.post("/predict", json=body)
            assert answer.status_code == 200, answer.text
            answers.append((answer.json()["route"], answer.json()["version"]))
        return answers

    def split(phase: str, n: int, percent: float, canary: int, champion: int) -> list[Any]:
        return [
            ("canary", canary)
            if key_share(f"{phase}-{i}") * 100 < percent
            else ("champion", champion)
            for i in range(n)
        ]

    try:
        started = metadata()
        assert (started["deployment"], started["deployment_version"]) == ("prod", 1)
        assert started["routes"] == {"champion": "cancer@1"}  # canary alias not set: no route
        assert set(send("a", 60)) == {("champion", 1)}

        registry.set_alias(NAME, "challenger", 2)
        deployments.set("prod", canary_share=20, reason="start the canary")
        assert applied(2)["routes"] == {"champion": "cancer@1", "canary": "cancer@2"}
        assert send("b", 300) == split("b", 300, 20, canary=2, champion=1)

        deployments.set("prod", canary_share=50, shadows=[f"{NAME}@1"], reason="resize")
        assert applied(3)["canary_share"] == 50
        assert send("c", 200) == split("c", 200, 50, canary=2, champion=1)

        deployments.set("prod", canary=None, shadows=[], reason="stop the canary")
        assert applied(4)["routes"] == {"champion": "cancer@1"}
        assert set(send("d", 60)) == {("champion", 1)}

        deployments.set("prod", champion=f"{NAME}@2", reason="promote")
        assert applied(5)["routes"] == {"champion": "cancer@2"}
        assert set(send("e", 40)) == {("champion", 2)}

        # a version whose package is gone: its metadata is fine, so the record takes it, but
        # the server cannot load it and keeps the routes it has
        broken = registry.register(fitted["a"], NAME, input_example=data.head(3))
        manifest = registry.manifest(broken)
        PREDICTORS.clear()
        for entry in manifest.files:
            for path in store.home.rglob(f"*{entry.digest[2:]}*"):
                path.unlink()
        shutil.rmtree(registry.cache_dir, ignore_errors=True)
        deployments.set("prod", champion=broken.ref, reason="a broken one")
        failed = _until(
            lambda: registry.backend.events.list_events(kind="deployment.apply_failed"),
            "the failed apply",
        )
        assert [(e.data["version"], e.data["served"]) for e in failed] == [(6, 5)]
        assert "cancer@3" in failed[0].reason and "keep serving" in failed[0].reason
        after = metadata()
        assert (after["deployment_version"], after["routes"]) == (5, {"champion": "cancer@2"})
        assert set(send("f", 40)) == {("champion", 2)}
    finally:
        served.stop()  # flushes and compacts the log

    log = read_predictions(str(served.logs_url), model=NAME).to_pandas()
    log["phase"] = log["request_key"].str.split("-").str[0]
    counts = Counter(zip(log["phase"], log["route"], log["version"], strict=True))
    canary_b = sum(key_share(f"b-{i}") < 0.2 for i in range(300))
    canary_c = sum(key_share(f"c-{i}") < 0.5 for i in range(200))
    assert 30 < canary_b < 90 and 70 < canary_c < 130  # the keys split near the shares
    assert counts == {
        ("a", "champion", 1): 60,
        ("b", "canary", 2): canary_b,
        ("b", "champion", 1): 300 - canary_b,
        ("c", "canary", 2): canary_c,
        ("c", "champion", 1): 200 - canary_c,
        ("c", "shadow", 1): 200,  # the shadow saw every request of its phase
        ("d", "champion", 1): 60,
        ("e", "champion", 2): 40,
        ("f", "champion", 2): 40,
    }
    applied_events = registry.backend.events.list_events(kind="deployment.applied")
    assert [e.data["version"] for e in applied_events] == [2, 3, 4, 5]


class _Lines:
    """A process's stderr, read line by line in a thread, waited on by pattern."""

    def __init__(self, stream: Any) -> None:
        self.lines: list[str] = []
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream: Any) -> None:
        for raw in stream:
            with self.changed:
                self.lines.append(raw.decode(errors="replace"))
                self.changed.notify_all()

    def pids(self, pattern: str, count: int) -> set[str]:
        """Wait until ``count`` worker processes printed a line matching ``pattern``."""
        regex = re.compile(rf"\[worker (\d+)\] {pattern}")

        def found() -> set[str]:
            return {m.group(1) for line in self.lines if (m := regex.search(line))}

        with self.changed:
            assert self.changed.wait_for(lambda: len(found()) >= count, timeout=DEADLINE_S), (
                "".join(self.lines)
            )
            return found()


@pytest.mark.slow
def test_each_worker_of_loopml_serve_follows_the_deployment(tmp_path: Path) -> None:
    home = make_home(tmp_path)  # cancer@champion
    client = LoopmlClient(home=home)
    client.deployments.create("prod", champion=f"{NAME}@champion")
    port = free_port()
    command = ["serve", "--deployment", "prod", "--workers", "2", "--poll", "0.1"]
    server = subprocess.Popen(
        [sys.executable, "-m", "loopml", *command, "--port", str(port)],
        env=server_env(home),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    lines = _Lines(server.stderr)
    try:
        workers = lines.pids("deployment prod version 1: champion cancer@champion", 2)
        client.deployments.set("prod", shadows=[f"{NAME}@1"], reason="add a shadow")
        assert lines.pids("Deployment prod: version 2 applied", 2) == workers
        events = client.events(subject="deployment:prod", kind="deployment.applied")
        assert {str(e.data["pid"]) for e in events if e.data["version"] == 2} == workers
        answer = httpx.post(f"http://127.0.0.1:{port}/predict", json={"records": []})
        assert answer.status_code == 422  # it serves (an empty body is the caller's error)
    finally:
        os.killpg(server.pid, signal.SIGINT)
        server.wait(timeout=60)
        lines.thread.join(timeout=10)
        assert server.stderr is not None
        server.stderr.close()
    assert server.returncode == 0, "".join(lines.lines)
