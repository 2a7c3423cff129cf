"""`loopml serve` as a real subprocess on 127.0.0.1, over a store with ``cancer@champion`` (a
scaled logistic regression on five columns of scikit-learn's breast cancer set)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from loopml.client import LoopmlClient


def make_home(root: Path) -> Path:
    """A store under ``root`` serving ``cancer@champion``; return its home."""
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.iloc[:, :5]
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    home = root / ".loopml"
    client = LoopmlClient(home=home)
    version = client.models.register(model, "cancer", input_example=X.head())
    client.models.approve(version.ref, comment="ok")
    client.models.set_alias("cancer", "champion", version.version)
    return home


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    return env | {"LOOPML_HOME": str(home), "LOOPML_CAPTURE_ENV": "false"}


#: ``loopml`` with a lower limit of open files (``argv[1]``) for its process.
_LIMITED = (
    "import resource, sys; n = int(sys.argv.pop(1)); "
    "resource.setrlimit(resource.RLIMIT_NOFILE, (n, n)); "
    "from loopml.cli import main; sys.exit(main(sys.argv[1:]))"
)


def start(
    home: Path, *options: str, max_files: int | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``loopml serve cancer@champion OPTIONS`` in its own session (with at most
    ``max_files`` open files); wait until it is ready."""
    port = free_port()
    loopml = ["-m", "loopml"] if max_files is None else ["-c", _LIMITED, str(max_files)]
    server = subprocess.Popen(
        [sys.executable, *loopml, "serve", "cancer@champion", "--port", str(port), *options],
        env=server_env(home),
        cwd=home.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/v2/health/ready").status_code == 200:
                return server, url
        except httpx.TransportError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise RuntimeError("the server did not start")
        time.sleep(0.1)
