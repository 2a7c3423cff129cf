"""Open Inference Protocol: JSON tensors vs the binary data extension, with the protocol's
reference client (``tritonclient.http``) against ``loopml serve`` on 127.0.0.1.

The model: a scikit-learn Pipeline (StandardScaler + LogisticRegression) on the 30 columns of
scikit-learn's breast cancer data, registered in a temp store and served by one uvicorn worker
(``--runtime native --no-log``). The same rows (``--rows``, default 1,000: the data repeated)
are sent as 30 FP64 input tensors, asking for ``predict`` and ``predict_proba``, once as JSON
both ways and once as binary data both ways (the client's default); the answers are checked
equal to the Pipeline's first. Reported: the median time of one request, and the body sizes.
The peer here is the JSON encoding of the same request (ratio > 1: binary is faster).

Usage: python benchmarks/oip_binary.py [--quick] [--rows N]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import tritonclient.http as triton
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).parent))
from harness import Comparison, median_seconds, print_table, write_results

NAME = "cancer"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _inputs(rows: pd.DataFrame, *, binary: bool) -> list[triton.InferInput]:
    inputs = []
    for column in rows.columns:
        tensor = triton.InferInput(column, [len(rows)], "FP64")
        tensor.set_data_from_numpy(rows[column].to_numpy(dtype="float64"), binary_data=binary)
        inputs.append(tensor)
    return inputs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rows", type=int, default=1000)
    args = parser.parse_args()
    repeats = 15 if args.quick else 60
    features, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(features, y)
    copies = args.rows // len(features) + 1
    rows = pd.concat([features] * copies, ignore_index=True).head(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        from loopml.client import LoopmlClient

        home = Path(tmp) / ".loopml"
        client = LoopmlClient(home=home)
        version = client.models.register(model, NAME, input_example=features.head())
        client.models.approve(version.ref, comment="benchmark")
        client.models.set_alias(NAME, "champion", version.version)
        port = _port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
        env |= {"LOOPML_HOME": str(home), "LOOPML_CAPTURE_ENV": "false"}
        command = [sys.executable, "-m", "loopml", "serve", f"{NAME}@champion"]
        server = subprocess.Popen(
            [*command, "--port", str(port), "--runtime", "native", "--no-log"],
            env=env,
            cwd=tmp,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/v2/health/ready").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not start")
                time.sleep(0.2)
            comparisons = _measure(f"127.0.0.1:{port}", rows, model, repeats)
        finally:
            os.killpg(server.pid, signal.SIGINT)
            server.wait(timeout=60)
    print_table("oip_binary", comparisons)
    write_results("oip_binary", comparisons, quick=args.quick, extra={"rows": args.rows})


def _measure(url: str, rows: pd.DataFrame, model: object, repeats: int) -> list[Comparison]:
    expected = model.predict_proba(rows)  # type: ignore[attr-defined]
    seconds: dict[bool, float] = {}
    sizes: dict[bool, int] = {}
    with triton.InferenceServerClient(url=url) as client:
        for binary in (False, True):
            inputs = _inputs(rows, binary=binary)
            outputs = [
                triton.InferRequestedOutput("predict", binary_data=binary),
                triton.InferRequestedOutput("predict_proba", binary_data=binary),
            ]
            result = client.infer(NAME, inputs, outputs=outputs)
            np.testing.assert_allclose(result.as_numpy("predict_proba"), expected, atol=1e-9)
            body, _ = triton._utils._get_inference_request(  # the bytes the client sends
                inputs, "", outputs, 0, False, False, 0, None, None
            )
            sizes[binary] = len(body)
            seconds[binary] = median_seconds(
                lambda i=inputs, o=outputs: client.infer(NAME, i, outputs=o), repeats
            )
    note = f"{len(rows)} rows x {rows.shape[1]} FP64 columns, predict + predict_proba"
    return [
        Comparison(
            scenario=f"infer {len(rows)} rows: binary vs JSON",
            unit="ms/request",
            loopml=seconds[True] * 1000,
            peer=seconds[False] * 1000,
            peer_name="JSON tensors",
            higher_is_better=False,
            note=note,
            extra={"request_bytes_binary": sizes[True], "request_bytes_json": sizes[False]},
        )
    ]


if __name__ == "__main__":
    main()
