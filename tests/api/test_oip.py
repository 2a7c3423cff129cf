"""The Open Inference Protocol, tried with its reference client (``tritonclient.http``) against
a real server on 127.0.0.1: server and model metadata, readiness, inference in JSON and with
the binary data extension (numbers and BYTES), routes pinned to a served version; and the
bodies a client can get wrong (duplicate tensors, broken binary parts)."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import tritonclient.http as triton
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sklearn.compose import make_column_transformer
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from tritonclient.utils import InferenceServerException

from loopml.api.tensors import decode, encode
from loopml.core.errors import InvalidArgumentError
from loopml.core.settings import Settings
from loopml.core.version import VERSION
from loopml.registry import ModelRegistry
from loopml.store.backend import open_backend

from .conftest import NAME, Served, register, serve, store_settings

HEADER = "Inference-Header-Content-Length"
_COLUMNS = list(load_breast_cancer(as_frame=True).data.columns[:5])


def _error(response: httpx.Response, status: int, *parts: str) -> None:
    assert response.status_code == status, response.text
    message = response.json()["error"]
    for part in parts:
        assert part in message, message


@pytest.fixture(scope="module")
def server(
    store: Settings,
    fitted: dict[str, Pipeline],
    data: pd.DataFrame,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Served]:
    """v1 (a) is the champion, v2 (b) its declared fallback: the server serves versions 1, 2."""
    registry = ModelRegistry(open_backend(store))
    register(registry, fitted["a"], data, champion=True)
    register(registry, fitted["b"], data)
    served = serve(store, tmp_path_factory.mktemp("oip"), fallback=f"{NAME}@2")
    yield served
    served.stop()


@pytest.fixture(scope="module")
def client(server: Served) -> Iterator[triton.InferenceServerClient]:
    c = triton.InferenceServerClient(url=server.url.removeprefix("http://"))
    yield c
    c.close()


def _inputs(rows: pd.DataFrame, *, binary: bool) -> list[triton.InferInput]:
    inputs = []
    for column in rows.columns:
        values = rows[column].to_numpy()
        if values.dtype == object:
            values = np.array([str(v).encode() for v in values], dtype=np.object_)
            tensor = triton.InferInput(column, [len(rows)], "BYTES")
        else:
            tensor = triton.InferInput(column, [len(rows)], "FP64")
        tensor.set_data_from_numpy(values, binary_data=binary)
        inputs.append(tensor)
    return inputs


def test_server_metadata_health_and_readiness(client: triton.InferenceServerClient) -> None:
    assert client.is_server_live() and client.is_server_ready()
    meta = client.get_server_metadata()
    assert meta == {"name": "loopml", "version": VERSION, "extensions": ["binary_tensor_data"]}
    assert client.is_model_ready(NAME)
    assert client.is_model_ready(NAME, "1") and client.is_model_ready(NAME, "2")
    assert not client.is_model_ready(NAME, "3")
    assert not client.is_model_ready(NAME, "latest")
    assert not client.is_model_ready("nope")


def test_model_metadata_lists_both_outputs_of_a_classifier(
    client: triton.InferenceServerClient, data: pd.DataFrame
) -> None:
    meta = client.get_model_metadata(NAME)
    assert meta["name"] == NAME and meta["versions"] == ["1", "2"]
    assert [i["name"] for i in meta["inputs"]] == list(data.columns)
    assert meta["outputs"] == [
        {"name": "predict", "datatype": "INT64", "shape": [-1]},
        {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 2]},
    ]
    assert meta["routes"] == {"champion": f"{NAME}@1", "fallback": f"{NAME}@2"}
    assert client.get_model_metadata(NAME, "2")["routes"] == meta["routes"]
    with pytest.raises(InferenceServerException, match=r"Version '7' of 'cancer' is not served"):
        client.get_model_metadata(NAME, "7")


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_infer_matches_the_model(
    client: triton.InferenceServerClient,
    data: pd.DataFrame,
    fitted: dict[str, Pipeline],
    binary: bool,
) -> None:
    rows = data.iloc[20:31]
    outputs = [
        triton.InferRequestedOutput("predict", binary_data=binary),
        triton.InferRequestedOutput("predict_proba", binary_data=binary),
    ]
    result = client.infer(NAME, _inputs(rows, binary=binary), outputs=outputs, request_id="r-1")
    assert result.get_response()["id"] == "r-1"
    assert result.get_response()["model_version"] == "1"
    assert result.as_numpy("predict").tolist() == fitted["a"].predict(rows).tolist()
    proba = result.as_numpy("predict_proba")
    assert proba.shape == (len(rows), 2)
    np.testing.assert_allclose(proba, fitted["a"].predict_proba(rows))


@pytest.mark.parametrize("datatype", ["FP32", "FP16", "INT32", "UINT16"])
def test_narrower_binary_datatypes_are_read_as_the_columns_numbers(
    client: triton.InferenceServerClient,
    data: pd.DataFrame,
    fitted: dict[str, Pipeline],
    datatype: str,
) -> None:
    rows = data.iloc[40:60]
    dtype = {"FP32": "float32", "FP16": "float16", "INT32": "int32", "UINT16": "uint16"}[datatype]
    sent = (
        rows.round().astype(dtype) if datatype.startswith(("INT", "UINT")) else rows.astype(dtype)
    )
    inputs = []
    for column in rows.columns:
        tensor = triton.InferInput(column, [len(rows)], datatype)
        tensor.set_data_from_numpy(sent[column].to_numpy())
        inputs.append(tensor)
    result = client.infer(NAME, inputs)
    expected = fitted["a"].predict_proba(sent.astype("float64"))
    np.testing.assert_allclose(result.as_numpy("predict_proba"), expected)


def test_infer_with_the_clients_defaults_is_binary_both_ways(
    server: Served, client: triton.InferenceServerClient, data: pd.DataFrame, fitted: dict[str, Any]
) -> None:
    """No outputs named: the client asks for every output as binary data."""
    rows = data.iloc[:9]
    result = client.infer(NAME, _inputs(rows, binary=True))
    names = [o["name"] for o in result.get_response()["outputs"]]
    assert names == ["predict", "predict_proba"]
    assert all("data" not in o for o in result.get_response()["outputs"])
    assert result.as_numpy("predict").tolist() == fitted["a"].predict(rows).tolist()
    np.testing.assert_allclose(result.as_numpy("predict_proba"), fitted["a"].predict_proba(rows))


def test_a_version_route_answers_with_that_version(
    client: triton.InferenceServerClient, data: pd.DataFrame, fitted: dict[str, Pipeline]
) -> None:
    rows = data.iloc[100:140]
    result = client.infer(NAME, _inputs(rows, binary=True), model_version="2")
    assert result.get_response()["model_version"] == "2"
    assert result.get_response()["parameters"]["route"] == "fallback"
    np.testing.assert_allclose(result.as_numpy("predict_proba"), fitted["b"].predict_proba(rows))
    with pytest.raises(InferenceServerException, match=r"serves version\(s\) 1, 2"):
        client.infer(NAME, _inputs(rows, binary=True), model_version="5")


def test_unknown_output_is_refused(
    client: triton.InferenceServerClient, data: pd.DataFrame
) -> None:
    outputs = [triton.InferRequestedOutput("decision_function")]
    with pytest.raises(InferenceServerException, match=r"'decision_function'.*predict, predict_"):
        client.infer(NAME, _inputs(data.head(2), binary=True), outputs=outputs)


# -- bodies a client can get wrong ------------------------------------------------------------


def _binary_body(data: pd.DataFrame, **changes: Any) -> tuple[bytes, dict[str, str]]:
    """A body with every column as FP64 binary data, and its headers."""
    rows = data.head(3)
    blobs = [rows[c].to_numpy(dtype="<f8").tobytes() for c in rows.columns]
    inputs = [
        {
            "name": c,
            "shape": [3],
            "datatype": "FP64",
            "parameters": {"binary_data_size": len(b)},
        }
        for c, b in zip(rows.columns, blobs, strict=True)
    ]
    header = json.dumps({"inputs": inputs, **changes}).encode()
    return header + b"".join(blobs), {HEADER: str(len(header))}


def test_duplicate_tensor_names_are_a_400(server: Served, data: pd.DataFrame) -> None:
    column = data.columns[0]
    inputs = [
        {"name": c, "shape": [1], "datatype": "FP64", "data": [float(data[c].iloc[0])]}
        for c in [*data.columns, column]
    ]
    url = f"/v2/models/{NAME}/infer"
    _error(server.client.post(url, json={"inputs": inputs}), 400, f"{column!r} is given twice")


def test_broken_binary_parts_are_4xx_naming_the_problem(server: Served, data: pd.DataFrame) -> None:
    url = f"/v2/models/{NAME}/infer"
    post = server.client.post
    body, headers = _binary_body(data)
    assert post(url, content=body, headers=headers).status_code == 200
    _error(post(url, content=body, headers={HEADER: "ten"}), 400, HEADER, "'ten'")
    _error(post(url, content=body, headers={HEADER: str(len(body) + 1)}), 400, "the body is")
    _error(post(url, content=body + b"\0", headers=headers), 400, "add up to")
    _error(post(url, content=body[:-1], headers=headers), 400, "only 23 bytes are left")
    # the binary body without its header: the JSON parser sees the raw bytes
    _error(post(url, content=body), 400, "not valid JSON")
    keyed, keyed_headers = _binary_body(data, parameters={"key": 1}, outputs=[])
    answer = post(url, content=keyed, headers=keyed_headers)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    assert [o["name"] for o in answer.json()["outputs"]] == ["predict", "predict_proba"]
    bf16 = body.replace(b'"FP64"', b'"BF16"', 1)
    _error(post(url, content=bf16, headers=headers), 422, "'BF16'", "FP64")
    shaped = body.replace(b'"shape": [3]', b'"shape": [1, 3]', 1)
    shaped_headers = {HEADER: str(int(headers[HEADER]) + 3)}
    _error(post(url, content=shaped, headers=shaped_headers), 422, "[rows, 1]")
    assert (
        post(url, content=body, headers={**headers, "content-type": "text/csv"}).status_code == 415
    )


_sizes = st.integers(-2, 40) | st.sampled_from([None, "8", 1.5, True])
_binary_tensors = st.fixed_dictionaries(
    {"name": st.sampled_from(_COLUMNS) | st.text(max_size=4)},
    optional={
        "datatype": st.sampled_from(["FP64", "FP32", "INT64", "BOOL", "BYTES", "BF16", "X"]),
        "shape": st.lists(st.integers(-1, 4), max_size=3),
        "parameters": st.fixed_dictionaries({}, optional={"binary_data_size": _sizes}),
        "data": st.lists(st.floats(allow_nan=False), max_size=3),
    },
)


@hypothesis_settings(max_examples=150, deadline=None)
@given(
    tensors=st.lists(_binary_tensors, max_size=7),
    tail=st.binary(max_size=64),
    skew=st.integers(-3, 3),
    binary_output=st.booleans(),
)
def test_fuzz_binary_bodies_never_break_the_server(
    server: Served, tensors: list[Any], tail: bytes, skew: int, binary_output: bool
) -> None:
    header = json.dumps(
        {"inputs": tensors, "parameters": {"binary_data_output": binary_output}}
    ).encode()
    response = server.client.post(
        f"/v2/models/{NAME}/infer",
        content=header + tail,
        headers={HEADER: str(len(header) + skew)},
    )
    assert response.status_code < 500, response.text
    if response.status_code != 200:
        assert response.json()["error"]


def test_bytes_codec_refuses_what_it_cannot_read() -> None:
    assert decode(encode(["é", "", "ab"], "BYTES"), "BYTES", name="c") == ["é", "", "ab"]
    with pytest.raises(InvalidArgumentError, match=r"'c' is not UTF-8 text"):
        decode(struct.pack("<I", 2) + b"\xff\xfe", "BYTES", name="c")
    with pytest.raises(InvalidArgumentError, match=r"past the end"):
        decode(struct.pack("<I", 9) + b"ab", "BYTES", name="c")
    with pytest.raises(InvalidArgumentError, match=r"inside an element's 4-byte length"):
        decode(b"\x01\x00", "BYTES", name="c")
    with pytest.raises(InvalidArgumentError, match=r"not a whole number of FP64"):
        decode(b"\0" * 12, "FP64", name="c")


# -- text in, text out: BYTES tensors over the binary extension -------------------------------


@pytest.fixture(scope="module")
def tumors() -> tuple[pd.DataFrame, Pipeline]:
    """Real data with a text column (the tumour's size band) and text labels."""
    bunch = load_breast_cancer(as_frame=True)
    X = bunch.data.iloc[:, :3].copy()
    X["size"] = pd.cut(
        bunch.data["mean area"], [0, 500, 900, np.inf], labels=["small", "medium", "large"]
    ).astype(str)
    y = bunch.target.map(dict(enumerate(bunch.target_names)))
    encode_size = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), ["size"]), remainder=StandardScaler()
    )
    return X, make_pipeline(encode_size, LogisticRegression()).fit(X, y)


@pytest.fixture(scope="module")
def text_server(
    clean_env: None,
    tumors: tuple[pd.DataFrame, Pipeline],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("text")
    settings = store_settings(root)
    X, model = tumors
    registry = ModelRegistry(open_backend(settings))
    register(registry, model, X, champion=True)
    served = serve(settings, root)
    yield served
    served.stop()


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_bytes_tensors_in_and_out(
    text_server: Served, tumors: tuple[pd.DataFrame, Pipeline], binary: bool
) -> None:
    X, model = tumors
    rows = X.iloc[[0, 19, 50, 100, 150, 300]]
    url = text_server.url.removeprefix("http://")
    with triton.InferenceServerClient(url=url) as client:
        meta = client.get_model_metadata(NAME)
        assert {i["name"]: i["datatype"] for i in meta["inputs"]}["size"] == "BYTES"
        assert meta["outputs"][0] == {"name": "predict", "datatype": "BYTES", "shape": [-1]}
        outputs = [triton.InferRequestedOutput("predict", binary_data=binary)]
        result = client.infer(NAME, _inputs(rows, binary=binary), outputs=outputs)
    got = [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("predict").tolist()]
    assert got == model.predict(rows).tolist()
    assert set(got) == {"malignant", "benign"}


def test_bytes_that_are_not_text_are_a_422(
    text_server: Served, tumors: tuple[pd.DataFrame, Pipeline]
) -> None:
    X, _model = tumors
    row = X.head(1)
    inputs = [
        {"name": c, "shape": [1], "datatype": "FP64", "data": [float(row[c].iloc[0])]}
        for c in X.columns[:-1]
    ]
    blob = struct.pack("<I", 2) + b"\xc3\x28"
    inputs.append(
        {"name": "size", "shape": [1], "datatype": "BYTES", "parameters": {"binary_data_size": 6}}
    )
    header = json.dumps({"inputs": inputs}).encode()
    response = text_server.client.post(
        f"/v2/models/{NAME}/infer", content=header + blob, headers={HEADER: str(len(header))}
    )
    _error(response, 422, "Element 0 of the BYTES input 'size' is not UTF-8 text")
