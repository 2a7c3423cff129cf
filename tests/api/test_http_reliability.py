"""The model server under hostile or careless clients, over real HTTP on 127.0.0.1: a client
that leaves mid-body, duplicate column names, idle and half-sent connections, oversized
headers, and one very large batch next to a health poll."""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from loopml.core.settings import Settings
from loopml.registry import ModelRegistry
from loopml.store.backend import open_backend

from .conftest import NAME, Served, register, serve


@pytest.fixture(scope="module")
def server(
    store: Settings,
    fitted: dict[str, Any],
    data: pd.DataFrame,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Served]:
    register(ModelRegistry(open_backend(store)), fitted["a"], data, champion=True)
    served = serve(store, tmp_path_factory.mktemp("reliability"))
    yield served
    served.stop()


@contextlib.contextmanager
def captured(*names: str) -> Iterator[list[logging.LogRecord]]:
    """The records logged to the loggers ``names`` meanwhile (by any thread)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = records.append  # type: ignore[method-assign]
    loggers = [logging.getLogger(name) for name in names]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield records
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


def _address(served: Served) -> tuple[str, int]:
    host, port = served.url.removeprefix("http://").split(":")
    return host, int(port)


def test_duplicate_column_names_are_refused(server: Served, data: pd.DataFrame) -> None:
    columns = [*data.columns, "mean area"]
    row = [*data.iloc[0].tolist(), -5.0]
    answer = server.client.post("/predict", json={"columns": columns, "data": [row]})
    assert answer.status_code == 422, answer.text
    assert "'mean area'" in answer.json()["error"] and "more than once" in answer.json()["error"]
    inputs = [{"name": c, "data": [float(data.iloc[0][c])]} for c in data.columns]
    inputs.append({"name": "mean radius", "data": [1.0]})
    answer = server.client.post(f"/v2/models/{NAME}/infer", json={"inputs": inputs})
    assert answer.status_code == 400, answer.text  # a malformed protocol request, as Triton's
    assert "'mean radius'" in answer.json()["error"] and "inputs[5]" in answer.json()["error"]


def test_a_client_leaving_mid_body_is_one_line(server: Served) -> None:
    with captured("uvicorn.error", "loopml.api.inference") as records:
        for _ in range(3):
            with socket.create_connection(_address(server), timeout=10) as sock:
                sock.sendall(
                    b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b'Content-Length: 100000\r\n\r\n{"records": ['
                )
        # the server is still answering, and has handled the three departures by now
        assert server.client.get("/v2/health/live").status_code == 200
        deadline_polls = 0
        while len([r for r in records if "disconnected" in r.getMessage()]) < 3:
            deadline_polls += 1
            assert deadline_polls < 2_000, [r.getMessage() for r in records]
            assert server.client.get("/v2/health/live").status_code == 200
    lines = [r for r in records if "disconnected" in r.getMessage()]
    assert len(lines) == 3
    assert all(r.exc_info is None for r in records), "a traceback was logged"
    assert "after 13 of 100000 body bytes" in lines[0].getMessage()
