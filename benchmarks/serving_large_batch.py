"""One very large ``/predict/batch`` request on a real ``loopml serve``, with a concurrent
health poll: how long the request takes, how long ``/v2/health/live`` waits meanwhile, and
how many of the answered rows reach the prediction log.

    python benchmarks/serving_large_batch.py --rows 1000000

Results: ``benchmarks/results/serving_large_batch.json`` (rendered into docs/serving.md).

The model is a scaled logistic regression on five columns of scikit-learn's breast cancer
set; rows are drawn from it with replacement and sent as ``{"columns": [...], "data": [...]}``.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import orjson
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).parent))
from harness import Comparison, write_results
from loopml.client import LoopmlClient
from loopml.store.logs import read_predictions


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=None, help="default 1,000,000")
    parser.add_argument("--quick", action="store_true", help="100,000 rows")
    args = parser.parse_args()
    args.rows = args.rows or (100_000 if args.quick else 1_000_000)
    features, y = load_breast_cancer(return_X_y=True, as_frame=True)
    features = features.iloc[:, :5]
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(features, y)
    root = Path(tempfile.mkdtemp())
    home = root / ".loopml"
    client = LoopmlClient(home=home)
    version = client.models.register(model, "cancer", input_example=features.head())
    client.models.approve(version.ref, comment="ok")
    client.models.set_alias("cancer", "champion", version.version)
    rows = features.to_numpy()[np.random.default_rng(0).integers(0, len(features), args.rows)]
    body = orjson.dumps({"columns": list(features.columns), "data": rows.round(2).tolist()})
    port = _port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env |= {"LOOPML_HOME": str(home), "LOOPML_CAPTURE_ENV": "false"}
    server = subprocess.Popen(
        [sys.executable, "-m", "loopml", "serve", "cancer@champion", "--port", str(port)],
        env=env,
        cwd=root,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{url}/v2/health/ready").status_code == 200:
                break
        except httpx.TransportError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the server did not start")
        time.sleep(0.1)
    waits: list[float] = []
    slow: list[str] = []
    done = threading.Event()

    def poll() -> None:
        with httpx.Client(base_url=url, timeout=120) as http:
            while not done.is_set():
                started = time.perf_counter()
                http.get("/v2/health/live")
                waits.append(time.perf_counter() - started)
                if waits[-1] > 0.5:
                    slow.append(f"{started - t0:.1f}s+{waits[-1]:.1f}s")
                time.sleep(0.02)

    poller = threading.Thread(target=poll)
    t0 = time.perf_counter()
    poller.start()
    started = time.perf_counter()
    answer = httpx.post(
        f"{url}/predict/batch",
        content=body,
        headers={"content-type": "application/json"},
        timeout=600,
    )
    elapsed = time.perf_counter() - started
    done.set()
    poller.join()
    metrics = httpx.get(f"{url}/metrics").text
    dropped = next(
        (
            float(line.split()[-1])
            for line in metrics.splitlines()
            if line.startswith("loopml_log_dropped ")
        ),
        0.0,
    )
    os.killpg(server.pid, signal.SIGINT)
    server.wait(timeout=600)
    logged = read_predictions(str(home / "logs"), model="cancer").num_rows
    print(
        f"rows={args.rows:,} body={len(body) / 1e6:.1f} MB status={answer.status_code} "
        f"request={elapsed:.1f} s health: polls={len(waits)} max={max(waits) * 1000:.0f} ms "
        f"p99={np.percentile(waits, 99) * 1000:.0f} ms log: dropped={dropped:,.0f} "
        f"logged={logged:,}"
    )
    if slow:
        print("health polls over 0.5 s (start+wait):", " ".join(slow))
    measured = [
        ("the request (status " + str(answer.status_code) + ")", "s", elapsed),
        ("longest /v2/health/live wait during it", "ms", max(waits) * 1000),
        ("99th percentile of the health waits", "ms", float(np.percentile(waits, 99)) * 1000),
        ("log rows dropped", "rows", dropped),
        ("log rows written", "rows", float(logged)),
    ]
    results = [Comparison(s, unit, value, None, "-", False) for s, unit, value in measured]
    extra = {"rows": args.rows, "body_mb": round(len(body) / 1e6, 1), "health_polls": len(waits)}
    path = write_results("serving_large_batch", results, quick=args.quick, extra=extra)
    print(f"results written to {path}")


if __name__ == "__main__":
    main()
