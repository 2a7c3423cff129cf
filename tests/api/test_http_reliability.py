"""The model server under hostile or careless clients, over real HTTP on 127.0.0.1: a client
that leaves mid-body, duplicate column names, idle and half-sent connections, oversized
headers, and one very large batch next to a health poll."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Iterator

import httpx
import pandas as pd
import pytest

from loopml.api.limits import ConnectionLimits
from loopml.core.settings import Settings
from loopml.store.logs import read_predictions

from .conftest import NAME, Served, serve


@pytest.fixture(scope="module")
def server(champion_server: Served) -> Served:
    return champion_server


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


# -- connection limits: a server with short deadlines and small sizes -----------------------

LIMITS = ConnectionLimits(
    header_timeout_s=0.5, body_timeout_s=0.5, keep_alive_s=0.5, max_header_bytes=8192
)


@pytest.fixture(scope="module")
def limited(
    store: Settings, server: Served, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    served = serve(store, tmp_path_factory.mktemp("limited"), limits=LIMITS)
    yield served
    served.stop()


def _answer_to(served: Served, sent: bytes) -> bytes:
    """What the server answers to ``sent`` (a request, whole or not) before it closes the
    connection; the socket's own timeout (20 s) only guards against a hang."""
    with socket.create_connection(_address(served), timeout=20) as sock:
        with contextlib.suppress(ConnectionError):
            sock.sendall(sent)
        received = b""
        with contextlib.suppress(ConnectionError):
            while chunk := sock.recv(65536):
                received += chunk
    return received


def test_a_silent_connection_is_closed(limited: Served) -> None:
    assert _answer_to(limited, b"").startswith(b"HTTP/1.1 408 ")


def test_half_sent_headers_are_408(limited: Served) -> None:
    answer = _answer_to(limited, b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: app")
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"headers did not arrive within 0.5 s" in answer


def test_a_half_sent_body_is_408(limited: Served) -> None:
    head = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    answer = _answer_to(limited, head + b'Content-Length: 1000\r\n\r\n{"records": [')
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"body did not arrive within 0.5 s" in answer


@pytest.mark.parametrize("size", [20_000, 2_000_000])
def test_oversized_headers_are_431(limited: Served, size: int) -> None:
    request = b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * size + b"\r\n\r\n"
    answer = _answer_to(limited, request)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b"over 8,192 bytes" in answer
    ok = limited.client.get("/v2/health/live", headers={"X-Small": "a" * 4000})
    assert ok.status_code == 200


def test_a_kept_alive_client_is_served_again(limited: Served, data: pd.DataFrame) -> None:
    with httpx.Client(base_url=limited.url, timeout=20) as client:
        for _ in range(3):
            answer = client.post("/predict", json=data.head(2).to_dict(orient="records"))
            assert answer.status_code == 200, answer.text
        assert client.get("/v2/health/live").status_code == 200


# -- one large batch: logged whole, and the event loop keeps answering ----------------------


def test_a_large_batch_is_logged_whole_while_health_answers(
    store: Settings, server: Served, data: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """120,000 rows in one request: more than the log's queue holds (100,000), which used to
    drop the rest; meanwhile a health poll keeps getting answers."""
    rows = data.sample(n=120_000, replace=True, random_state=0).round(2)
    body = {"columns": list(rows.columns), "data": rows.to_numpy().tolist()}
    served = serve(store, tmp_path_factory.mktemp("large"))
    answered = threading.Event()
    during: list[int] = []

    def poll() -> None:
        with httpx.Client(base_url=served.url, timeout=60) as http:
            while not answered.is_set():
                assert http.get("/v2/health/live").status_code == 200
                if not answered.is_set():
                    during.append(1)

    poller = threading.Thread(target=poll)
    try:
        poller.start()
        answer = served.client.post("/predict/batch", json=body, timeout=300)
        answered.set()
        poller.join()
        assert answer.status_code == 200, answer.text[:300]
        ids = answer.json()["prediction_ids"]
        assert len(ids) == len(set(ids)) == 120_000
        metrics = served.client.get("/metrics").text
        assert "loopml_log_dropped 0.0" in metrics
    finally:
        answered.set()
        served.stop()
    assert len(during) > 1  # the health poll was answered while the batch was in progress
    logged = read_predictions(served.logs_url).column("prediction_id").to_pylist()
    assert len(logged) == 120_000 and set(logged) == set(ids)


def test_the_connection_cap_closes_the_longest_waiting_first(
    store: Settings, server: Served, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """With room for 3 connections: an idle kept-alive one is closed without a word (a 503
    there would read as the answer to its next request), then half-sent ones get a 503, and
    the newcomer is served."""
    capped = serve(
        store, tmp_path_factory.mktemp("capped"), limits=ConnectionLimits(max_connections=3)
    )
    get = b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n"
    sockets = [socket.create_connection(_address(capped), timeout=20) for _ in range(3)]
    idle, half = sockets[0], sockets[1:]
    first = httpx.Client(base_url=capped.url, timeout=20)
    second = httpx.Client(base_url=capped.url, timeout=20)
    try:
        idle.sendall(get)
        assert idle.recv(65536).startswith(b"HTTP/1.1 200 ")  # kept alive, now idle
        for sock in half:
            sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\n")
        # the cap is reached: each newcomer takes the place of the longest-waiting one
        assert first.get("/v2/health/live").status_code == 200  # stays open
        assert idle.recv(65536) == b""  # closed, nothing written
        assert second.get("/v2/health/live").status_code == 200
        assert half[0].recv(65536).startswith(b"HTTP/1.1 503 ")
    finally:
        first.close()
        second.close()
        for sock in sockets:
            sock.close()
        capped.stop()
