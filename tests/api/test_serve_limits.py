"""A real `loopml serve` with 256 file descriptors under a flood of half-sent requests: the
connection cap (the file descriptor limit less 64) closes the longest-waiting ones to make
room, so real requests keep being answered; the header deadline is long here, so the cap
alone is what keeps the server usable."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sklearn.datasets import load_breast_cancer

from .real_server import make_home, start

FLOOD = 300


@pytest.fixture
def flooded(tmp_path: Path) -> Iterator[tuple[str, list[socket.socket]]]:
    home = make_home(tmp_path)
    server, url = start(home, "--header-timeout", "300", max_files=256)
    port = int(url.rsplit(":", 1)[1])
    sockets: list[socket.socket] = []
    try:
        for _ in range(FLOOD):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Ty")
            sockets.append(sock)
        yield url, sockets
    finally:
        for sock in sockets:
            sock.close()
        os.killpg(server.pid, signal.SIGINT)
        server.wait(timeout=60)


def _closed_by_server(sock: socket.socket) -> bool:
    readable, _, _ = select.select([sock], [], [], 0)
    if not readable:
        return False
    with contextlib.suppress(ConnectionError):
        sock.recv(65536)  # the 503 the server sent before closing
        return True
    return True


def test_real_requests_are_answered_during_a_flood_of_slow_connections(
    flooded: tuple[str, list[socket.socket]],
) -> None:
    url, sockets = flooded
    X, _ = load_breast_cancer(return_X_y=True, as_frame=True)
    rows = X.iloc[:3, :5].to_dict(orient="records")
    answered = 0
    for _ in range(10):  # each on a new connection: each takes the place of a slow one
        with httpx.Client(base_url=url, timeout=30) as client:
            answer = client.post("/predict", json={"records": rows})
            assert answer.status_code == 200, answer.text
            answered += 1
    assert answered == 10
    evicted = sum(_closed_by_server(s) for s in sockets)
    assert evicted >= FLOOD - 192  # at most 256 - 64 connections are ever held
