"""Schemathesis fuzzes the model server over real HTTP against its own OpenAPI document:
every operation of ``/openapi.json``, with bodies built from the served model's signature
(valid rows as well as broken ones). Every answer must be a documented status (never a 5xx),
with the documented content type, headers and body schema.

Each operation's cases come from ``operation.as_strategy(...)`` under ``@given``, inside a test
parametrized by operation: ``schemathesis.pytest.from_fixture`` (needed for a server started by
a fixture) fails on pytest 9 (it reads ``request.node._nodeid``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from loopml.api.inference import create_app
from loopml.core.settings import Settings
from loopml.registry import ModelRegistry
from loopml.serving import InferenceService, ServeConfig
from loopml.store.backend import open_backend

from .conftest import NAME, Served, register, serve, store_settings

#: Never a 5xx (a 503 is documented, but only for a failing model with no fallback), and every
#: answer as documented: status, content type, headers and body.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
OPERATIONS = [
    "GET /v2",
    "GET /v2/health/live",
    "GET /v2/health/ready",
    "GET /v2/models/{name}",
    "GET /v2/models/{name}/ready",
    "POST /v2/models/{name}/infer",
    "POST /v2/models/{name}/explain",
    "GET /v2/models/{name}/versions/{version}",
    "GET /v2/models/{name}/versions/{version}/ready",
    "POST /v2/models/{name}/versions/{version}/infer",
    "POST /v2/models/{name}/versions/{version}/explain",
    "POST /v2/models/{name}/labels",
    "POST /predict",
    "POST /predict/batch",
    "GET /metrics",
]


@pytest.fixture(scope="module")
def server(
    store: Settings,
    fitted: dict[str, Pipeline],
    data: pd.DataFrame,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Served]:
    """A real server of one champion (``fitted["a"]``) registered with its validation dataset,
    which ``/explain`` takes the linear model's mean over."""
    registry = ModelRegistry(open_backend(store))
    _, y = load_breast_cancer(return_X_y=True, as_frame=True)
    valid = registry.datasets.register("cancer-valid", data.assign(target=y), target="target")
    version = registry.register(
        fitted["a"], NAME, input_example=data.head(), validation_data=valid.ref
    )
    registry.approve(version.ref, comment="ok")
    registry.set_alias(NAME, "champion", version.version)
    served = serve(store, tmp_path_factory.mktemp("champion"))
    yield served
    served.stop()


@pytest.fixture(scope="module")
def api(server: Served) -> Any:
    return schemathesis.openapi.from_url(f"{server.url}/openapi.json")


def _cases(operation: Any) -> st.SearchStrategy[Any]:
    """Valid and invalid cases; with a path parameter, also the served model's name (and its
    served version)."""
    strategies = [operation.as_strategy(mode) for mode in GenerationMode]
    if "{name}" in operation.path:
        named = {"name": NAME, **({"version": "1"} if "{version}" in operation.path else {})}
        strategies += [operation.as_strategy(m, path_parameters=named) for m in GenerationMode]
    return st.one_of(strategies)


def test_the_schema_lists_every_operation(api: Any) -> None:
    labels = [result.ok().label for result in api.get_all_operations()]
    assert sorted(labels) == sorted(OPERATIONS)


def test_the_bodies_follow_the_model_signature(server: Served, data: pd.DataFrame) -> None:
    document = server.client.get("/openapi.json").json()
    predict = document["paths"]["/predict"]["post"]
    body = predict["requestBody"]["content"]["application/json"]["schema"]
    records = body["anyOf"][0]["properties"]["records"]["items"]
    assert records["required"] == list(data.columns)
    assert {s["type"] for s in records["properties"].values()} == {"number"}
    assert set(predict["responses"]) == {"200", "400", "413", "415", "422", "503"}
    infer = document["paths"]["/v2/models/{name}/infer"]["post"]
    inputs = infer["requestBody"]["content"]["application/json"]["schema"]["properties"]["inputs"]
    assert [t["properties"]["name"]["const"] for t in inputs["prefixItems"]] == list(data.columns)
    assert set(infer["responses"]) == {"200", "400", "404", "413", "415", "422", "503"}
    assert server.client.get("/docs").status_code == 200


@pytest.mark.parametrize("label", OPERATIONS)
def test_every_operation_answers_as_documented(api: Any, label: str) -> None:
    method, path = label.split(" ", 1)
    operation = api[path][method]
    statuses: set[int] = set()

    @hypothesis_settings(
        max_examples=60,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_cases(operation))
    def run(case: Any) -> None:
        statuses.add(case.call_and_validate(checks=CHECKS, timeout=30).status_code)

    run()
    if method == "POST":  # the fuzzing reached both the model and the input checks
        assert 200 in statuses and 422 in statuses, statuses


def test_a_response_off_the_schema_fails_the_check(api: Any, data: pd.DataFrame) -> None:
    """The conformance check is not vacuous: a 200 without its prediction ids fails it."""
    operation = api["/predict"]["POST"]
    case = operation.Case(body={"records": data.head(2).to_dict(orient="records")})
    response = case.call()
    assert response.status_code == 200
    case.validate_response(response, checks=CHECKS)
    body = response.json()
    del body["prediction_ids"]
    broken = schemathesis.Response(  # what a broken server would have sent
        status_code=200,
        headers=response.headers,
        content=json.dumps(body).encode(),
        request=response.request,
        elapsed=response.elapsed,
        verify=response.verify,
    )
    with pytest.raises(FailureGroup, match="prediction_ids"):
        case.validate_response(broken, checks=[response_schema_conformance])


def test_huge_finite_values_are_the_callers_error(server: Served, data: pd.DataFrame) -> None:
    """Found by this fuzzing: finite values near float64's limit overflow inside the model
    (``ValueError: Input X contains infinity``, or numpy's overflow RuntimeWarning where
    warnings are errors, as under pytest); that is the caller's input (422, as for NaN and
    infinity), not a server failure (503)."""
    row = {c: 1.7976931348623157e308 for c in data.columns}  # the largest float64
    response = server.client.post("/predict", json=row)
    assert response.status_code == 422, response.text
    assert "cannot score these rows" in response.json()["error"]
    assert "overflow" in response.json()["error"] or "infinity" in response.json()["error"]
    fine = server.client.post("/predict", json=data.iloc[0].to_dict())
    assert fine.status_code == 200  # the same model goes on answering


def test_the_document_follows_a_hot_swap_to_new_columns(tmp_path: Path, data: pd.DataFrame) -> None:
    """After the champion alias moves to a version with another signature, /openapi.json
    describes the new columns (it is rebuilt, not frozen at start-up)."""
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    wider = X.iloc[:, :6]
    registry = ModelRegistry(open_backend(store_settings(tmp_path)))
    register(
        registry,
        make_pipeline(StandardScaler(), LogisticRegression()).fit(data, y),
        data,
        champion=True,
    )
    service = InferenceService(
        registry.backend, ServeConfig(model=f"{NAME}@champion", poll_interval_s=0)
    )

    async def records_schema() -> dict[str, Any]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
            document = (await client.get("/openapi.json")).json()
        body = document["paths"]["/predict"]["post"]["requestBody"]
        return body["content"]["application/json"]["schema"]["anyOf"][0]["properties"]["records"][
            "items"
        ]

    app = create_app(service)
    assert asyncio.run(records_schema())["required"] == list(data.columns)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(wider, y)
    register(registry, model, wider, champion=True)
    assert service.slots["champion"].refresh()  # what the watcher does when the alias moves
    assert asyncio.run(records_schema())["required"] == list(wider.columns)
