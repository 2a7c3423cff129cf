"""The servers of the serving benchmarks: subprocesses on free ports of 127.0.0.1, each in its
own process group, always stopped; their memory (RSS) read from /proc."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from serving_model import NAME

BIN = Path(sys.executable).parent
HERE = Path(__file__).parent


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


def serve_env(home: Path, tracking_uri: str) -> dict[str, str]:
    """The servers' environment: the loopml store, the MLflow store, this virtualenv first."""
    return os.environ | {
        "LOOPML_HOME": str(home),
        "MLFLOW_TRACKING_URI": tracking_uri,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # mlflow execs `uvicorn`
    }


def loopml_cmd(port: int, extra: list[str]) -> list[str]:
    """``loopml serve late@champion`` on ``port``, one worker, with ``extra`` options."""
    cmd = [str(BIN / "loopml"), "serve", f"{NAME}@champion", "--port", str(port)]
    return [*cmd, "--workers", "1", *extra]


def variant_cmd(port: int, extra: list[str]) -> list[str]:
    """``serve_variant.py``: ``loopml serve`` with one speed-up switched off (see there)."""
    script = str(HERE / "serve_variant.py")
    return [sys.executable, script, f"{NAME}@champion", "--port", str(port), *extra]


def mlflow_cmd(port: int, model_uri: str) -> list[str]:
    """``mlflow models serve`` of ``model_uri`` in this virtualenv."""
    cmd = [str(BIN / "mlflow"), "models", "serve", "-m", model_uri, "--env-manager", "local"]
    return [*cmd, "-p", str(port), "--host", "127.0.0.1"]


#: A server to start: its name, its command for a port, its health path.
Spec = tuple[str, Callable[[int], list[str]], str]


@contextlib.contextmanager
def servers(specs: list[Spec], env: dict[str, str], logs: Path) -> Iterator[dict[str, Server]]:
    """Start the servers, wait until each answers its health path, and always stop them
    (printing the tail of each log when something failed)."""
    started: dict[str, Server] = {}
    try:
        for name, cmd, health in specs:
            port = free_port()
            started[name] = start_server(name, cmd(port), env, port, health, logs)
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
