"""The Python load generator of the serving benchmarks: a few lines over kept-alive sockets
with bodies encoded before timing (an httpx client costs about 0.7 ms per request itself, as
much as a whole loopml request). ``wrk.py`` is the C load generator beside it."""

from __future__ import annotations

import asyncio
import select
import socket
import time
from dataclasses import dataclass
from typing import Any

from serving_model import COLUMNS, MS, pct
from serving_servers import Server


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
        self.address = (host, int(port))
        self.reconnects = 0
        self._connect()

    def _connect(self) -> None:
        self.sock = socket.create_connection(self.address)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def fresh(self) -> None:
        """Reconnect (untimed) when the server closed the idle connection: uvicorn closes a
        kept-alive connection after 5 s without a request, which a loaded machine reaches while
        the other servers take their turn."""
        readable, _, _ = select.select([self.sock], [], [], 0)
        if readable and not self.sock.recv(1, socket.MSG_PEEK):
            self.sock.close()
            self._connect()
            self.reconnects += 1

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
            http_request(target, body)
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
                conn.fresh()
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


def http_request(target: Target, body: bytes) -> bytes:
    host = target.url.split("://", 1)[1]
    return (
        f"POST {target.path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    ).encode() + body


async def keep_busy(target: Target, clients: int, seconds: float) -> dict[str, Any]:
    """``clients`` kept-alive connections sending single-row requests back to back.

    The client is a few lines over asyncio streams with pre-encoded requests (not httpx):
    one client process must not be the bottleneck of a 32-connection test.
    """
    host, port = target.url.split("://", 1)[1].split(":")
    requests = [http_request(target, body) for body in target.singles]
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
            got = asyncio.run(keep_busy(target, clients, seconds / rounds))
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
