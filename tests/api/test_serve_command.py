"""`loopml serve` as users run it: a subprocess with two uvicorn workers on 127.0.0.1; every
prediction answered is in the Parquet log after Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from loopml.client import LoopmlClient
from loopml.store.logs import read_predictions


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_serve_two_workers_and_log_everything(tmp_path: Path) -> None:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.iloc[:, :3]
    home = tmp_path / ".loopml"
    client = LoopmlClient(home=home)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    version = client.models.register(model, "cancer", input_example=X.head())
    client.models.approve(version.ref, comment="ok")
    client.models.set_alias("cancer", "champion", version.version)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env |= {"LOOPML_HOME": str(home), "LOOPML_CAPTURE_ENV": "false"}
    command = [sys.executable, "-m", "loopml", "serve", "cancer@champion", "--port", str(port)]
    server = subprocess.Popen(
        [*command, "--workers", "2"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/v2/health/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "server did not start"
            time.sleep(0.2)
        ids: list[str] = []
        with httpx.Client(base_url=url) as http:
            for i in range(60):
                answer = http.post("/predict", json={"records": [X.iloc[i].to_dict()]})
                assert answer.status_code == 200, answer.text
                body = answer.json()
                assert body["predictions"] == [int(model.predict(X.iloc[[i]])[0])]
                ids += body["prediction_ids"]
    finally:
        os.killpg(server.pid, signal.SIGINT)
        output, _ = server.communicate(timeout=60)
    assert server.returncode == 0, output
    logged = read_predictions(str(home / "logs"), model="cancer")
    assert sorted(logged.column("prediction_id").to_pylist()) == sorted(ids)
