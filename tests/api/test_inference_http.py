"""The model server over real HTTP on 127.0.0.1 (uvicorn in a thread, httpx as the client):
the Open Inference Protocol and /predict routes, bad input and fuzzing (4xx, never a 5xx),
canary stickiness, prediction-log completeness, hot swap under load and fallbacks."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from loopml.core.settings import Settings
from loopml.registry import ModelRegistry, PythonModel
from loopml.registry.loaded import PREDICTORS
from loopml.store.backend import open_backend
from loopml.store.logs import inputs_frame, read_predictions

from .conftest import NAME, Served, register, serve, store_settings

JSON = {"content-type": "application/json"}


class Flaky(PythonModel):
    """Wraps a model; raises when a row's 'mean radius' is negative."""

    classes = (0, 1)

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def _check(self, frame: pd.DataFrame) -> None:
        if (frame["mean radius"] < 0).any():
            raise RuntimeError("boom")

    def predict(self, frame: pd.DataFrame) -> Any:
        self._check(frame)
        return self.inner.predict(frame.abs())

    def predict_proba(self, frame: pd.DataFrame) -> Any:
        self._check(frame)
        return self.inner.predict_proba(frame.abs())


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.to_dict(orient="records")


def _check_answer(response: httpx.Response, rows: int) -> dict[str, Any]:
    """A 200 with one unique id per row, model/version/route in the body and the headers."""
    assert response.status_code == 200, response.text
    body = response.json()
    ids = body["prediction_ids"]
    assert len(ids) == rows == len(set(ids))
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert body["model"] == NAME and isinstance(body["version"], int)
    assert body["route"] in {"champion", "canary", "fallback"}
    assert response.headers["X-Loopml-Version"] == f"{NAME}@{body['version']}"
    assert response.headers["X-Loopml-Route"] == body["route"]
    return body


def _error(response: httpx.Response, status: int, *names: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    message = response.json()["error"]
    assert isinstance(message, str)
    for name in names:
        assert name in message
    return message


@contextlib.contextmanager
def _captured(name: str) -> Iterator[list[logging.LogRecord]]:
    """The records the server's threads log to ``name`` meanwhile (WARNING and above)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


def _metric(text: str, name: str, **labels: str) -> float:
    """The value of one Prometheus sample (0 when absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and line.split(" ")[0] != name:
            continue
        sample, value = line.rsplit(" ", 1)
        found = dict(re.findall(r'(\w+)="([^"]*)"', sample))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(value)
    return 0.0


# -- a server on the module's store: v1 (a) is the champion, v2 (b) is registered ----------


@pytest.fixture(scope="module")
def versions(store: Settings, fitted: dict[str, Any], data: pd.DataFrame) -> dict[str, str]:
    registry = ModelRegistry(open_backend(store))
    return {
        "a": register(registry, fitted["a"], data, champion=True),
        "b": register(registry, fitted["b"], data),
    }


@pytest.fixture(scope="module")
def server(
    store: Settings, versions: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    served = serve(store, tmp_path_factory.mktemp("main"))
    yield served
    served.stop()


@pytest.fixture(scope="module")
def client(server: Served) -> httpx.Client:
    return server.client


def test_health_and_model_metadata(client: httpx.Client, data: pd.DataFrame) -> None:
    assert client.get("/v2/health/live").json() == {"live": True}
    ready = client.get("/v2/health/ready")
    assert ready.status_code == 200 and ready.json() == {"ready": True}
    meta = client.get(f"/v2/models/{NAME}")
    assert meta.status_code == 200
    body = meta.json()
    assert body["name"] == NAME and body["versions"] == ["1"]
    assert [i["name"] for i in body["inputs"]] == list(data.columns)
    assert {i["datatype"] for i in body["inputs"]} == {"FP64"}
    assert body["outputs"][0]["name"] == "predict"
    assert client.get(f"/v2/models/{NAME}/ready").json() == {"name": NAME, "ready": True}
    for path in ("/v2/models/nope", "/v2/models/nope/ready"):
        _error(client.get(path), 404, "'nope'", f"'{NAME}'")
    _error(client.post("/v2/models/nope/infer", json={"inputs": []}), 404, "'nope'")


def test_open_inference_protocol_matches_the_model(
    client: httpx.Client, data: pd.DataFrame, fitted: dict[str, Any]
) -> None:
    rows = data.iloc[10:17]
    inputs = [
        {"name": c, "shape": [len(rows)], "datatype": "FP64", "data": rows[c].tolist()}
        for c in data.columns
    ]
    response = client.post(f"/v2/models/{NAME}/infer", json={"id": "req-1", "inputs": inputs})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_name"] == NAME and body["model_version"] == "1" and body["id"] == "req-1"
    assert response.headers["X-Loopml-Version"] == f"{NAME}@1"
    assert response.headers["X-Loopml-Route"] == body["parameters"]["route"] == "champion"
    ids = body["parameters"]["prediction_ids"]
    assert len(ids) == len(set(ids)) == len(rows)
    outputs = {o["name"]: o for o in body["outputs"]}
    assert outputs["predict"]["shape"] == [len(rows)]
    assert outputs["predict"]["datatype"] == "INT64"
    assert outputs["predict"]["data"] == fitted["a"].predict(rows).tolist()
    proba = outputs["predict_proba"]
    assert proba["shape"] == [len(rows), 2] and proba["parameters"]["labels"] == ["0", "1"]
    expected = fitted["a"].predict_proba(rows).ravel()
    assert proba["data"] == pytest.approx(expected.tolist())
    # the tensors may come in any order; without an id the first prediction id is used
    shuffled = list(reversed(inputs))
    again = client.post(f"/v2/models/{NAME}/infer", json={"inputs": shuffled}).json()
    assert again["outputs"][0]["data"] == outputs["predict"]["data"]
    assert again["id"] == again["parameters"]["prediction_ids"][0]


def test_predict_accepts_records_columns_and_one_record(
    client: httpx.Client, data: pd.DataFrame, fitted: dict[str, Any]
) -> None:
    rows = data.iloc[:4]
    expected = fitted["a"].predict(rows).tolist()
    expected_proba = fitted["a"].predict_proba(rows)
    body = _check_answer(client.post("/predict", json={"records": _records(rows)}), 4)
    assert body["predictions"] == expected
    got_proba = [[p["0"], p["1"]] for p in body["probabilities"]]
    assert np.allclose(got_proba, expected_proba)
    split = {"columns": list(rows.columns), "data": rows.to_numpy().tolist()}
    assert _check_answer(client.post("/predict", json=split), 4)["predictions"] == expected
    one = _check_answer(client.post("/predict", json=_records(rows)[0]), 1)
    assert one["predictions"] == expected[:1]
    # a bare list of records and a body without a content type are accepted too
    listed = _check_answer(client.post("/predict", json=_records(rows)), 4)
    assert listed["predictions"] == expected
    raw = client.post("/predict", content=json.dumps({"records": _records(rows)}).encode())
    assert _check_answer(raw, 4)["predictions"] == expected
    # each request gets new ids
    assert not set(body["prediction_ids"]) & set(listed["prediction_ids"])


def test_predict_batch_of_5000_rows(
    client: httpx.Client, data: pd.DataFrame, fitted: dict[str, Any]
) -> None:
    rows = pd.concat([data] * 9, ignore_index=True).iloc[:5000]
    response = client.post("/predict/batch", json={"records": _records(rows)})
    body = _check_answer(response, 5000)
    assert body["predictions"] == fitted["a"].predict(rows).tolist()


def test_metrics_count_requests_by_route_and_version(
    client: httpx.Client, data: pd.DataFrame
) -> None:
    def count() -> float:
        text = client.get("/metrics").text
        assert "# TYPE loopml_requests_total counter" in text
        return _metric(text, "loopml_requests_total", route="champion", version="1")

    before = count()
    for _ in range(3):
        _check_answer(client.post("/predict", json=_records(data.head(2))), 2)
    assert count() == before + 3


# -- bad input: the right 4xx naming the field, never a 5xx; the server keeps answering -----


def _record(data: pd.DataFrame, **changes: Any) -> dict[str, Any]:
    return {**_records(data.head(1))[0], **changes}


def test_malformed_json_and_wrong_content_type(client: httpx.Client) -> None:
    _error(client.post("/predict", content=b'{"records": [', headers=JSON), 400, "not valid JSON")
    _error(client.post("/predict", content=b"", headers=JSON), 400, "empty")
    _error(
        client.post("/predict", content=b"{}", headers={"content-type": "text/plain"}),
        415,
        "text/plain",
        "application/json",
    )
    # NaN and Infinity are not JSON: refused by the parser
    _error(client.post("/predict", content=b'{"mean radius": NaN}', headers=JSON), 400, "JSON")
    _error(
        client.post(f"/v2/models/{NAME}/infer", content=b"{", headers=JSON), 400, "not valid JSON"
    )
    assert client.get("/v2/health/live").status_code == 200


def test_columns_missing_extra_and_mistyped(client: httpx.Client, data: pd.DataFrame) -> None:
    row = _record(data)
    missing = {k: v for k, v in row.items() if k != "mean area"}
    _error(client.post("/predict", json={"records": [missing]}), 422, "'mean area'", "missing")
    extra = client.post("/predict", json={"records": [{**row, "zip code": "02139"}]})
    plain = client.post("/predict", json={"records": [row]})
    assert _check_answer(extra, 1)["predictions"] == _check_answer(plain, 1)["predictions"]
    for bad in ("abc", {"a": 1}, [1.0]):
        response = client.post("/predict", json={"records": [_record(data, **{"mean area": bad})]})
        _error(response, 422, "'mean area'", "numbers")
    # the model cannot take a missing or infinite value: the caller's error, not the server's
    for bad in (None, "inf", "-Infinity", "1e999"):
        response = client.post("/predict", json={"records": [_record(data, **{"mean area": bad})]})
        _error(response, 422, "'mean area'")
    inputs = [{"name": c, "data": ["abc"] if c == "mean texture" else [1.0]} for c in data.columns]
    _error(client.post(f"/v2/models/{NAME}/infer", json={"inputs": inputs}), 422, "'mean texture'")
    inputs = [{"name": c, "data": [1.0]} for c in data.columns[1:]]
    _error(client.post(f"/v2/models/{NAME}/infer", json={"inputs": inputs}), 422, "'mean radius'")


def test_empty_wrong_length_and_non_object_bodies(client: httpx.Client, data: pd.DataFrame) -> None:
    columns = list(data.columns)
    _error(client.post("/predict", json={"records": []}), 422, "no rows")
    _error(client.post("/predict", json={"columns": columns, "data": []}), 422, "no rows")
    _error(client.post("/predict", json={}), 422, "no rows")
    short = {"columns": columns, "data": [[1.0] * 5, [1.0, 2.0]]}
    _error(client.post("/predict", json=short), 422, "data[1]", "2 values", "5 columns")
    _error(client.post("/predict", json={"columns": "abc", "data": [[1]]}), 422, "'columns'")
    _error(client.post("/predict", json={"columns": columns, "data": [1]}), 422, "'data'")
    _error(client.post("/predict", json={"records": [1, 2]}), 422, "'records'")
    _error(client.post("/predict", json={"records": {"a": 1}}), 422, "'records'")
    _error(client.post("/predict", json=[1, 2]), 422, "item 0")
    for body in (b'"x"', b"1", b"null", b"true"):
        response = client.post("/predict", content=body, headers=JSON)
        _error(response, 422, "must be an object")
    _error(client.post("/predict", json={**_record(data), "key": [1]}), 422, "'key'")
    v2 = f"/v2/models/{NAME}/infer"
    _error(client.post(v2, json=[1, 2]), 422, "'inputs'")
    _error(client.post(v2, json={"inputs": "x"}), 422, "'inputs'")
    _error(client.post(v2, json={"inputs": [1]}), 422, "inputs[0]")
    _error(client.post(v2, json={"inputs": [{"data": [1]}]}), 422, "inputs[0].name")
    _error(client.post(v2, json={"inputs": [{"name": "a", "data": 1}]}), 422, "'a'", "data")
    _error(client.post(v2, json={"inputs": [{"name": "a", "data": [[1]]}]}), 422, "flat")
    ragged = [{"name": c, "data": [1.0] * (2 if i else 3)} for i, c in enumerate(columns)]
    _error(client.post(v2, json={"inputs": ragged}), 422, "same number of rows")
    empty = [{"name": c, "data": []} for c in columns]
    _error(client.post(v2, json={"inputs": empty}), 422, "no rows")
    assert client.get("/v2/health/ready").status_code == 200


def test_bodies_over_the_limit_are_413(server: Served, client: httpx.Client) -> None:
    # a 100 MB body announced by its Content-Length is refused before it is read
    huge = client.post("/predict", content=b" " * 100_000_000, headers=JSON)
    _error(huge, 413, "100,000,000 bytes", "/predict/batch")
    # the same announcement over a raw socket: the answer comes without sending the body
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000000\r\n\r\n{"
        )
        head = sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 413 ")

    # a chunked body (no Content-Length) is cut off once it passes the 2 MB limit
    def chunks() -> Iterator[bytes]:
        for _ in range(48):
            yield b" " * 65536

    _error(client.post("/predict", content=chunks(), headers=JSON), 413, "2,097,152 bytes")
    # /predict/batch takes 3 MB
    rows = [{"mean radius": 1.0, "pad": "x" * 3000}] * 1000
    too_big = client.post("/predict", json={"records": rows})
    _error(too_big, 413, "limit")
    assert client.post("/predict/batch", json={"records": rows}).status_code == 422
    assert client.get("/v2/health/live").status_code == 200


# -- fuzzing: any JSON value gets < 500 and JSON with predictions or an "error" string ------

_COLUMNS = ["mean radius", "mean texture", "mean perimeter", "mean area", "mean smoothness"]
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
_json = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
_numbers = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6)
_cells = _numbers | _json
_records_st = st.fixed_dictionaries(
    {}, optional={**{c: _cells for c in _COLUMNS}, "key": _scalars, "extra": _json}
)
#: whole rows: every column, mostly numbers, now and then any JSON value
_rows_st = st.fixed_dictionaries(
    {c: st.one_of(_numbers, _numbers, _numbers, _json) for c in _COLUMNS},
    optional={"key": _scalars},
)
_bodies = st.one_of(
    _json,
    _records_st,
    _rows_st,
    st.fixed_dictionaries({"records": st.lists(_rows_st, min_size=1, max_size=3)}),
    st.fixed_dictionaries({"records": st.lists(_records_st, max_size=3) | _json}),
    st.fixed_dictionaries(
        {
            "columns": st.lists(st.sampled_from(_COLUMNS), max_size=6) | _json,
            "data": st.lists(st.lists(_cells, max_size=6), max_size=3) | _json,
        }
    ),
)
_tensors = st.fixed_dictionaries(
    {"name": st.sampled_from(_COLUMNS) | _scalars},
    optional={
        "data": st.lists(_cells, max_size=3) | _json,
        "shape": _json,
        "datatype": st.sampled_from(["FP64", "INT64", "BYTES"]) | _json,
    },
)
_v2_bodies = st.one_of(
    _json,
    st.builds(
        lambda n, cols: {"inputs": [{"name": c, "data": cols[c][:n]} for c in _COLUMNS]},
        st.integers(0, 3),
        st.fixed_dictionaries(
            {
                c: st.lists(st.one_of(_numbers, _numbers, _json), min_size=3, max_size=3)
                for c in _COLUMNS
            }
        ),
    ),
    st.fixed_dictionaries(
        {"inputs": st.lists(_tensors, max_size=6) | _json},
        optional={"id": _scalars, "parameters": _json},
    ),
)


def _check_fuzzed(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    body = response.json()
    if response.status_code == 200:
        assert "predictions" in body or "outputs" in body
    else:
        assert isinstance(body["error"], str) and body["error"]


@hypothesis_settings(max_examples=150, deadline=None)
@given(body=_bodies)
def test_fuzz_predict(client: httpx.Client, body: Any) -> None:
    _check_fuzzed(client.post("/predict", content=json.dumps(body).encode(), headers=JSON))


@hypothesis_settings(max_examples=150, deadline=None)
@given(body=_v2_bodies)
def test_fuzz_v2_infer(client: httpx.Client, body: Any) -> None:
    url = f"/v2/models/{NAME}/infer"
    _check_fuzzed(client.post(url, content=json.dumps(body).encode(), headers=JSON))


def test_server_answers_after_the_bad_input_and_fuzzing(client: httpx.Client) -> None:
    assert client.get("/v2/health/live").status_code == 200
    assert client.get("/v2/health/ready").status_code == 200


# -- canary: its share, sticky per key ------------------------------------------------------


def test_canary_share_and_stickiness_over_http(
    store: Settings,
    versions: dict[str, str],
    data: pd.DataFrame,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    served = serve(store, tmp_path_factory.mktemp("canary"), canary=(versions["b"], 30))
    try:
        row = _record(data)

        def routes() -> list[tuple[str, int]]:
            out = []
            for i in range(300):
                body = _check_answer(
                    served.client.post("/predict", json={**row, "key": f"user-{i}"}), 1
                )
                out.append((body["route"], body["version"]))
            return out

        first = routes()
        share = sum(route == "canary" for route, _ in first) / len(first)
        assert 0.2 <= share <= 0.4
        assert {v for r, v in first if r == "canary"} == {2}
        assert {v for r, v in first if r == "champion"} == {1}
        assert routes() == first
        # the Open Inference Protocol's parameters.key routes the same way
        inputs = [{"name": c, "data": [row[c]]} for c in data.columns]
        for i in range(20):
            answer = served.client.post(
                f"/v2/models/{NAME}/infer",
                json={"inputs": inputs, "parameters": {"key": f"user-{i}"}},
            )
            assert answer.json()["parameters"]["route"] == first[i][0]
        text = served.client.get("/metrics").text
        assert _metric(text, "loopml_requests_total", route="canary", version="2") >= 2 * sum(
            r == "canary" for r, _ in first
        )
    finally:
        served.stop()


# -- the prediction log holds exactly the answered predictions -----------------------------


def test_prediction_log_is_complete_after_a_graceful_stop(
    store: Settings,
    versions: dict[str, str],
    data: pd.DataFrame,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    served = serve(store, tmp_path_factory.mktemp("log"))
    answered: dict[str, tuple[int, str]] = {}
    try:
        for i in range(500):
            rows = data.iloc[i % 500 : i % 500 + 1 + i % 3]
            body = _check_answer(served.client.post("/predict", json=_records(rows)), len(rows))
            for pid in body["prediction_ids"]:
                answered[pid] = (body["version"], body["route"])
        # refused requests are not logged
        _error(served.client.post("/predict", json={"records": [{"x": 1}]}), 422)
    finally:
        served.stop()
    table = read_predictions(served.logs_url, model=NAME)
    logged = table.column("prediction_id").to_pylist()
    assert len(logged) == len(set(logged)) == len(answered) > 500
    assert set(logged) == set(answered)
    got = zip(
        logged, table.column("version").to_pylist(), table.column("route").to_pylist(), strict=True
    )
    assert {pid: (version, route) for pid, version, route in got} == answered
    frame = inputs_frame(table)
    assert list(frame.columns) == list(data.columns)
    assert frame.notna().all().all()


# -- hot swap under load, fallbacks: each on its own store ---------------------------------


@pytest.fixture
def own_store(clean_env: None, tmp_path: Path) -> Settings:
    """A fresh SQLite store for a test that moves aliases."""
    PREDICTORS.clear()
    return store_settings(tmp_path)


def test_hot_swap_under_http_load_fails_no_request(
    own_store: Settings, fitted: dict[str, Any], data: pd.DataFrame, tmp_path: Path
) -> None:
    registry = ModelRegistry(open_backend(own_store))
    register(registry, fitted["a"], data, champion=True)
    second = register(registry, fitted["b"], data)
    registry.approve(second, comment="ok")
    served = serve(own_store, tmp_path / "server", poll_interval_s=0.05)
    seen: list[list[int]] = [[] for _ in range(4)]
    failures: list[str] = []
    rows = _records(data.head(2))
    stop = threading.Event()

    def load(versions: list[int]) -> None:
        with httpx.Client(base_url=served.url, timeout=10) as c:
            while not stop.is_set():
                try:
                    response = c.post("/predict", json={"records": rows})
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                    continue
                if response.status_code != 200:
                    failures.append(f"{response.status_code} {response.text}")
                    continue
                versions.append(response.json()["version"])

    def wait_until(done: Any) -> None:
        deadline = time.monotonic() + 60
        while not done() and not failures:
            assert time.monotonic() < deadline, "the load threads made no progress"
            time.sleep(0.01)

    threads = [threading.Thread(target=load, args=(v,)) for v in seen]
    try:
        for t in threads:
            t.start()
        wait_until(lambda: all(len(versions) >= 5 for versions in seen))  # under load on v1
        registry.set_alias(NAME, "champion", 2)
        wait_until(lambda: all(versions.count(2) >= 5 for versions in seen))  # all swapped
        stop.set()
        for t in threads:
            t.join()
    finally:
        stop.set()
        served.stop()
    assert failures == []
    assert {v for versions in seen for v in versions} == {1, 2}
    for versions in seen:
        assert versions and versions[-1] == 2
        assert all(v == 2 for v in versions[versions.index(2) :])  # once swapped, never back


def test_fallback_over_http(
    own_store: Settings, fitted: dict[str, Any], data: pd.DataFrame, tmp_path: Path
) -> None:
    registry = ModelRegistry(open_backend(own_store))
    register(registry, fitted["a"], data, champion=True)
    register(registry, Flaky(fitted["a"]), data, champion=True)
    bad = _record(data, **{"mean radius": -1.0})
    good = _record(data)
    served = serve(own_store, tmp_path / "previous")
    try:
        body = _check_answer(served.client.post("/predict", json=bad), 1)
        assert (body["route"], body["version"]) == ("fallback", 1)
        assert body["fallback_reason"] == f"{NAME}@2 failed: RuntimeError"  # not its text
        answer = served.client.post("/predict", json=good)
        assert _check_answer(answer, 1)["route"] == "champion"
        assert answer.headers["X-Loopml-Version"] == f"{NAME}@2"
        text = served.client.get("/metrics").text
        assert "# TYPE loopml_fallbacks_total counter" in text
        assert _metric(text, "loopml_fallbacks_total") == 1
        assert _metric(text, "loopml_requests_total", route="fallback", version="1") == 1
        assert _metric(text, "loopml_errors_total", kind="model") == 1
    finally:
        served.stop()
    served = serve(own_store, tmp_path / "none", fallback=None)
    try:
        with _captured("loopml.api.inference") as logged:
            answer = served.client.post("/predict", json=bad)
            v2 = served.client.post(
                f"/v2/models/{NAME}/infer",
                json={"inputs": [{"name": k, "data": [v]} for k, v in bad.items()]},
                headers={"x-request-id": "trace-17"},
            )
        for response in (answer, v2):
            message = _error(response, 503, "could not answer this request")
            rid = response.headers["x-request-id"]
            assert response.json()["request_id"] == rid and rid in message
            assert "boom" not in response.text and "Flaky" not in response.text
        assert v2.headers["x-request-id"] == "trace-17"  # the caller's id, when sane
        details = [r.getMessage() for r in logged]
        assert len(details) == 2
        for rid, detail in zip([answer.headers["x-request-id"], "trace-17"], details, strict=True):
            assert rid in detail and "RuntimeError: boom" in detail
        assert _check_answer(served.client.post("/predict", json=good), 1)["version"] == 2
        text = served.client.get("/metrics").text
        assert _metric(text, "loopml_errors_total", kind="unavailable") == 2
    finally:
        served.stop()


# -- the same server on every backend (SQLite and PostgreSQL) ------------------------------


def test_serves_from_every_backend(
    settings: Settings, fitted: dict[str, Any], data: pd.DataFrame, tmp_path: Path
) -> None:
    PREDICTORS.clear()
    registry = ModelRegistry(open_backend(settings))
    register(registry, fitted["a"], data, champion=True)
    served = serve(settings, tmp_path / "server")
    try:
        assert served.client.get(f"/v2/models/{NAME}").json()["routes"] == {"champion": f"{NAME}@1"}
        body = _check_answer(served.client.post("/predict", json=_records(data.head(3))), 3)
        assert body["predictions"] == fitted["a"].predict(data.head(3)).tolist()
    finally:
        served.stop()
        PREDICTORS.clear()
    table = read_predictions(served.logs_url)
    assert sorted(table.column("prediction_id").to_pylist()) == sorted(body["prediction_ids"])
    assert not math.isnan(np.mean(table.column("latency_ms").to_pylist()))
