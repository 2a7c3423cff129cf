"""Team-server benchmark: ``loopml server`` vs ``mlflow server``, both on SQLite, over HTTP on
this machine, side by side in one run (issue 18 targets).

Scenarios:
1. Single ``log_metric`` calls through the server, timed until every point is stored: loopml's
   remote SDK buffers them and sends batches with idempotency keys; MLflow's client sends one
   request per call (its default). Target: >= 50x MLflow's points/s.
2. ``search_runs`` through the server over 10,000 runs x 20 params x 20 metrics, a
   two-condition filter and an order, the top 100 as typed runs: loopml < 150 ms median.
3. 32 concurrent clients (4 processes x 8 threads) against the loopml server, each sending a
   100-point metric batch then a search, in turn, for a fixed time: p50 and p99 latency per
   request and requests/s (loopml only; reported, no target).

Both servers run one worker process; loopml checks an API token on every request (``--auth
token``), MLflow has no authentication. The 10,000 runs are written into each store before its
server starts (the write path is the tracking benchmark's); the timings are of the server.

Usage: python benchmarks/server.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from harness import Comparison, median_seconds, print_table, write_results
from tracking import FILTER, ORDER, _run_payload

CLIENT_PROCESSES, CLIENT_THREADS = 4, 8


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    import httpx

    deadline = time.monotonic() + 400
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"server did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


class Servers:
    """The loopml and MLflow servers of one benchmark run, over stores under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.procs: list[subprocess.Popen[bytes]] = []
        self.loopml_url = self.mlflow_url = ""
        self.token = ""

    def loopml_settings(self) -> Any:
        from loopml.core.settings import resolve_settings

        home = self.root / "loopml"
        return resolve_settings({"home": home, "capture_env": False, "flush_interval": 0.05})

    def start_loopml(self) -> None:
        from loopml.core.entities import Role
        from loopml.governance import TokenService
        from loopml.store.backend import close_cached_backends, open_backend

        settings = self.loopml_settings()
        backend = open_backend(settings)
        self.token = TokenService(backend).create(user="bench", role=Role.EDITOR).text
        close_cached_backends()
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
        env |= {"LOOPML_HOME": str(settings.home), "LOOPML_CAPTURE_ENV": "false"}
        log = self.root / "loopml-server.log"
        cmd = [sys.executable, "-m", "loopml", "server", "--port", str(port), "--workers", "1"]
        with log.open("ab") as sink:
            proc = subprocess.Popen(cmd, env=env, stdout=sink, stderr=sink, cwd=self.root)
        self.procs.append(proc)
        self.loopml_url = f"http://127.0.0.1:{port}"
        _wait(f"{self.loopml_url}/api/v1/health", proc, log)

    def start_mlflow(self) -> None:
        port = _free_port()
        log = self.root / "mlflow-server.log"
        cmd = [
            str(Path(sys.executable).with_name("mlflow")),
            "server",
            "--backend-store-uri",
            f"sqlite:///{self.root / 'mlflow.db'}",
            "--default-artifact-root",
            str(self.root / "mlflow-artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ]
        with log.open("ab") as sink:
            proc = subprocess.Popen(cmd, stdout=sink, stderr=sink, cwd=self.root)
        self.procs.append(proc)
        self.mlflow_url = f"http://127.0.0.1:{port}"
        _wait(f"{self.mlflow_url}/health", proc, log)

    def loopml_client(self) -> Any:
        from loopml import LoopmlClient

        remote = replace(self.loopml_settings(), server_url=self.loopml_url, token=self.token)
        return LoopmlClient(settings=remote)

    def mlflow(self) -> Any:
        warnings.filterwarnings("ignore")
        logging.getLogger("mlflow").setLevel(logging.ERROR)
        import mlflow

        mlflow.set_tracking_uri(self.mlflow_url)
        return mlflow

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def fill(root: Path, runs: int) -> dict[str, float]:
    """Write the same ``runs`` into a loopml store and an MLflow store, directly (before the
    servers start); return the seconds each took."""
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    from loopml import LoopmlClient
    from loopml.core.entities import MetricPoint

    warnings.filterwarnings("ignore")
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.ERROR)
    rng = random.Random(42)
    payloads = [_run_payload(rng) for _ in range(runs)]
    client = LoopmlClient(home=root / "loopml")
    start = time.perf_counter()
    for params, metrics, tags in payloads:
        run = client.start_run("bench-search", capture=False, tags=tags)
        points = [MetricPoint(k, v, 0, 1_700_000_000_000) for k, v in metrics.items()]
        client.log_batch(run.run_id, params=params, metrics=points)
        run.end()
    loopml_s = time.perf_counter() - start
    ml = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    exp = ml.create_experiment("bench-search")
    start = time.perf_counter()
    for params, metrics, tags in payloads:
        r = ml.create_run(exp, tags=tags)
        ml.log_batch(
            r.info.run_id,
            params=[Param(k, v) for k, v in params.items()],
            metrics=[Metric(k, v, 1_700_000_000_000, 0) for k, v in metrics.items()],
        )
        ml.set_terminated(r.info.run_id)
    from loopml.store.backend import close_cached_backends

    close_cached_backends()
    return {
        "loopml_s": loopml_s,
        "mlflow_s": time.perf_counter() - start,
        "expected": sum(1 for p, m, _ in payloads if m["m0"] > 0.5 and p["p1"] == "v1"),
    }


def bench_single(servers: Servers, n: int, n_mlflow: int) -> list[Comparison]:
    client = servers.loopml_client()
    run = client.start_run("bench-single", capture=False)
    start = time.perf_counter()
    for i in range(n):
        run.log_metric("m", float(i), step=i)
    run.flush()
    loopml_s = time.perf_counter() - start
    run.end()
    assert len(client.get_metric_history(run.run_id, "m")) == n

    mlflow = servers.mlflow()
    mlflow.set_experiment("bench-single")
    with mlflow.start_run() as ml_run:
        start = time.perf_counter()
        for i in range(n_mlflow):
            mlflow.log_metric("m", float(i), step=i)
        mlflow_s = time.perf_counter() - start
    history = mlflow.tracking.MlflowClient().get_metric_history(ml_run.info.run_id, "m")
    assert len(history) == n_mlflow
    return [
        Comparison(
            "single log_metric calls through the server",
            "points/s",
            n / loopml_s,
            n_mlflow / mlflow_s,
            "mlflow server",
            True,
            50,
            note=f"loopml {n:,} calls timed until stored (buffered, keyed batches); MLflow "
            f"{n_mlflow:,} calls, one request each",
        )
    ]


def bench_search(servers: Servers, runs: int, expected: int) -> list[Comparison]:
    client = servers.loopml_client()
    mlflow = servers.mlflow()
    ml = mlflow.tracking.MlflowClient()
    exp = ml.get_experiment_by_name("bench-search")

    def loopml_top() -> list[Any]:
        return client.search_runs(
            "bench-search", filter=FILTER, order_by=ORDER, limit=100, output="runs"
        )

    def mlflow_top() -> list[Any]:
        return list(
            ml.search_runs(
                [exp.experiment_id], filter_string=FILTER, order_by=ORDER, max_results=100
            )
        )

    found, ml_found = loopml_top(), mlflow_top()
    assert len(found) == len(ml_found) == min(100, expected), (len(found), len(ml_found))
    assert [r.metrics["m2"] for r in found] == [r.data.metrics["m2"] for r in ml_found]
    loopml_s = median_seconds(loopml_top, 21)
    mlflow_s = median_seconds(mlflow_top, 5)
    full_s = median_seconds(
        lambda: client.search_runs("bench-search", filter=FILTER, order_by=ORDER), 5
    )
    return [
        Comparison(
            f"search_runs through the server -> top 100 typed runs, {runs:,} runs",
            "ms",
            loopml_s * 1000,
            mlflow_s * 1000,
            "mlflow server",
            False,
            None,
            note=f"median; loopml must be < 150 ms: {loopml_s * 1000:.1f} ms",
            extra={"under_150ms": loopml_s < 0.15},
        ),
        Comparison(
            f"search_runs through the server -> every match ({expected:,}) as a DataFrame",
            "ms",
            full_s * 1000,
            None,
            "-",
            False,
            None,
            note="median, loopml only",
        ),
    ]


LOAD_WORKER = """
import json, sys, threading, time, uuid
from loopml.store.remote import Transport
url, token, run_id = sys.argv[1], sys.argv[2], sys.argv[3]
seconds, threads, process = float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[8])
filter_, order = sys.argv[6], sys.argv[7]
latencies = {"batch": [], "search": []}
lock = threading.Lock()
start_at = time.time() + 1.0

def client(index):
    mine = {"batch": [], "search": []}
    with Transport(url, token) as transport:
        step = index * 10_000_000
        while time.time() < start_at:
            time.sleep(0.001)
        while time.time() < start_at + seconds:
            rows = [[run_id, "load", float(i), step + i, 1_700_000_000_000] for i in range(100)]
            step += 100
            t = time.perf_counter()
            transport.request("POST", "/metric-batches", json={"points": rows},
                              idempotency_key=uuid.uuid4().hex)
            mine["batch"].append(time.perf_counter() - t)
            t = time.perf_counter()
            transport.request("GET", "/runs", params={"experiments": "bench-search",
                              "filter": filter_, "order_by": order, "limit": 10})
            mine["search"].append(time.perf_counter() - t)
    with lock:
        for k in mine:
            latencies[k].extend(mine[k])

workers = [threading.Thread(target=client, args=(process * threads + i,)) for i in range(threads)]
for w in workers: w.start()
for w in workers: w.join()
print(json.dumps(latencies))
"""


def bench_load(servers: Servers, seconds: float) -> list[Comparison]:
    client = servers.loopml_client()
    run = client.start_run("bench-load", capture=False)
    script = servers.root / "load_worker.py"
    script.write_text(LOAD_WORKER)
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(script),
                servers.loopml_url,
                servers.token,
                run.run_id,
                str(seconds),
                str(CLIENT_THREADS),
                FILTER,
                ORDER[0],
                str(p),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for p in range(CLIENT_PROCESSES)
    ]
    latencies: dict[str, list[float]] = {"batch": [], "search": []}
    for proc in procs:
        out, err = proc.communicate(timeout=seconds + 300)
        assert proc.returncode == 0, err
        for kind, values in json.loads(out).items():
            latencies[kind] += values
    run.end()
    stored = len(client.get_metric_history(run.run_id, "load"))
    assert stored == 100 * len(latencies["batch"]), (stored, len(latencies["batch"]))
    every = latencies["batch"] + latencies["search"]

    def pct(values: list[float], q: int) -> float:
        if len(values) < 2:  # a host so busy that a kind got one answer (or none)
            return values[0] * 1000 if values else float("nan")
        return statistics.quantiles(values, n=100)[q - 1] * 1000

    clients = CLIENT_PROCESSES * CLIENT_THREADS
    figures = {
        kind: {"requests": len(v), "p50_ms": pct(v, 50), "p99_ms": pct(v, 99)}
        for kind, v in (("batch", latencies["batch"]), ("search", latencies["search"]))
    }
    return [
        Comparison(
            f"{clients} concurrent clients (100-point batch, then a search), p99 latency",
            "ms",
            pct(every, 99),
            None,
            "-",
            False,
            None,
            note=f"p50 {pct(every, 50):.1f} ms, {len(every) / seconds:,.0f} requests/s over "
            f"{seconds:g} s; batches p99 {figures['batch']['p99_ms']:.1f} ms, searches p99 "
            f"{figures['search']['p99_ms']:.1f} ms; every point stored once",
            extra=figures,
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for a fast check")
    args = parser.parse_args()
    sizes = (
        {"single": 2000, "single_mlflow": 200, "runs": 1000, "load_s": 5.0}
        if args.quick
        else {"single": 20_000, "single_mlflow": 1000, "runs": 10_000, "load_s": 20.0}
    )
    comparisons: list[Comparison] = []
    root = Path(tempfile.mkdtemp(prefix="loopml-bench-server-"))
    servers = Servers(root)
    try:
        print("... writing the runs to search", flush=True)
        filled = fill(root, sizes["runs"])
        servers.start_loopml()
        servers.start_mlflow()
        print("... single log_metric", flush=True)
        comparisons += bench_single(servers, sizes["single"], sizes["single_mlflow"])
        print("... search_runs", flush=True)
        comparisons += bench_search(servers, sizes["runs"], int(filled["expected"]))
        print("... concurrent clients", flush=True)
        comparisons += bench_load(servers, sizes["load_s"])
    finally:
        servers.stop()
        shutil.rmtree(root, ignore_errors=True)
    extra = {"sizes": sizes, "fill_seconds": filled}
    path = write_results("server", comparisons, quick=args.quick, extra=extra)
    print_table("server (loopml server vs mlflow server, SQLite, over HTTP)", comparisons)
    print(f"results written to {path}")


if __name__ == "__main__":
    main()
