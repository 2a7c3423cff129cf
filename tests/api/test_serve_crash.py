"""A real `loopml serve` killed with ``kill -9``: the predictions it answered are not lost.

Its spool folder (per process) is left with an unsealed segment; the next server start
adopts and compacts it (a flock on the folder's ``owner.lock`` tells the dead owner from a
live one), as does ``loopml logs compact``; ``loopml logs status`` shows it as orphaned.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sklearn.datasets import load_breast_cancer

from loopml.store.logs import read_predictions

from .real_server import make_home, server_env, start

N = 200


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_home(tmp_path_factory.mktemp("crash"))


def _spooled_ids(root: Path) -> set[str]:
    import orjson

    found: set[str] = set()
    for path in root.glob("*/seg-*"):
        for line in path.read_bytes().splitlines():
            try:
                found.add(orjson.loads(line)["prediction_id"])
            except (orjson.JSONDecodeError, KeyError):
                continue  # a torn last line
    return found


def _logged_ids(home: Path) -> set[str]:
    logs = home / "logs"
    if not logs.exists():
        return set()
    return set(read_predictions(str(logs), model="cancer").column("prediction_id").to_pylist())


@pytest.fixture
def crashed(home: Path) -> Iterator[tuple[set[str], Path]]:
    """A server that answered N predictions, then was killed with SIGKILL once its spool
    held them (the writer syncs every second: the promise is about what is older)."""
    X, _ = load_breast_cancer(return_X_y=True, as_frame=True)
    rows = X.iloc[:N, :5].to_dict(orient="records")
    server, url = start(home)
    answered: list[str] = []
    try:
        with httpx.Client(base_url=url, timeout=30) as http:
            for i in range(0, N, 10):
                answer = http.post("/predict", json={"records": rows[i : i + 10]})
                assert answer.status_code == 200, answer.text
                answered += answer.json()["prediction_ids"]
        root = home / "spool"
        deadline = time.monotonic() + 20
        while not set(answered) <= _spooled_ids(root):
            assert time.monotonic() < deadline, "the spool never received the predictions"
            time.sleep(0.05)
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)
    (folder,) = [p for p in root.iterdir() if p.name == f"cancer-{server.pid}"]
    yield set(answered), folder


def test_a_restart_adopts_the_spool_of_a_killed_server(
    home: Path, crashed: tuple[set[str], Path]
) -> None:
    answered, folder = crashed
    assert len(answered) == N
    assert list(folder.glob("seg-*.jsonl.open"))  # never sealed: the writer died
    assert not answered & _logged_ids(home)
    status = subprocess.run(
        [sys.executable, "-m", "loopml", "logs", "status"],
        env=server_env(home) | {"COLUMNS": "200"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert folder.name in status.stdout and "orphaned" in status.stdout
    server, _url = start(home)  # a new process: another pid, another spool folder
    try:
        deadline = time.monotonic() + 30
        while not answered <= _logged_ids(home):
            assert time.monotonic() < deadline, (
                f"{len(answered & _logged_ids(home))} of {N} answered predictions recovered"
            )
            time.sleep(0.1)
        while folder.exists():  # adopted whole: removed once compacted
            assert time.monotonic() < deadline, f"{folder} was not removed"
            time.sleep(0.05)
    finally:
        os.killpg(server.pid, signal.SIGINT)
        server.wait(timeout=60)
    logged = read_predictions(str(home / "logs"), model="cancer")
    ids = logged.column("prediction_id").to_pylist()
    assert len(ids) == len(set(ids))  # adoption never duplicates a row
