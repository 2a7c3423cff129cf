"""``POST /v2/models/{name}[/versions/{v}]/explain`` on a real server on 127.0.0.1: the body
of ``/infer``, an answer whose contributions add up to each row's margin as the model computes
it (a linear champion, a gradient-boosted fallback explained by shap), and a clear 4xx for a
model that is neither, for bad rows and for an unknown model."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from loopml.core.settings import Settings
from loopml.registry import ModelRegistry
from loopml.store.backend import open_backend

from .conftest import NAME, Served, serve


@pytest.fixture(scope="module")
def models(data: pd.DataFrame) -> dict[str, Pipeline]:
    _, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return {
        "linear": make_pipeline(StandardScaler(), LogisticRegression()).fit(data, y),
        "boosting": make_pipeline(HistGradientBoostingClassifier(max_iter=30)).fit(data, y),
        "neighbours": make_pipeline(StandardScaler(), KNeighborsClassifier()).fit(data, y),
    }


@pytest.fixture(scope="module")
def server(
    store: Settings,
    models: dict[str, Pipeline],
    data: pd.DataFrame,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Served]:
    """v1 (linear) is the champion, v2 (boosting) the fallback, v3 (neighbours) a shadow; the
    linear model's mean is taken over its validation dataset."""
    registry = ModelRegistry(open_backend(store))
    _, y = load_breast_cancer(return_X_y=True, as_frame=True)
    valid = registry.datasets.register("cancer-valid", data.assign(target=y), target="target")
    for key in ("linear", "boosting", "neighbours"):
        registry.register(models[key], NAME, input_example=data.head(), validation_data=valid.ref)
    registry.approve(f"{NAME}@1", comment="ok")
    registry.set_alias(NAME, "champion", 1)
    served = serve(
        store,
        tmp_path_factory.mktemp("explain"),
        fallback=f"{NAME}@2",
        shadow=f"{NAME}@3",
    )
    yield served
    served.stop()


def _body(rows: pd.DataFrame) -> dict[str, Any]:
    return {
        "id": "r-1",
        "inputs": [
            {"name": c, "shape": [len(rows)], "datatype": "FP64", "data": rows[c].tolist()}
            for c in rows.columns
        ],
    }


def _margin(model: Pipeline, rows: pd.DataFrame) -> np.ndarray:
    proba = model.predict_proba(rows)[:, 1]
    return np.log(proba / (1 - proba))


def test_the_champion_is_explained_exactly(
    server: Served, models: dict[str, Pipeline], data: pd.DataFrame
) -> None:
    rows = data.iloc[10:15]
    answer = server.client.post(f"/v2/models/{NAME}/explain", json=_body(rows))
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert (found["model_name"], found["model_version"], found["id"]) == (NAME, "1", "r-1")
    assert found["kind"] == "linear" and found["method"] == "coef*(x-mean)"
    assert found["features"] == list(data.columns) and found["explained"] == "margin"
    assert found["classes"] == [1] * 5
    total = np.asarray(found["base_values"]) + np.asarray(found["contributions"]).sum(axis=1)
    np.testing.assert_allclose(total, _margin(models["linear"], rows), atol=1e-9)
    # the base value is the margin at the validation rows' mean
    scaler, linear = models["linear"][0], models["linear"][-1]
    mean = scaler.transform(data).mean(0)
    expected_base = float(mean @ linear.coef_[0] + linear.intercept_[0])
    assert found["base_values"] == pytest.approx([expected_base] * 5, abs=1e-9)


def test_a_served_tree_model_is_explained_by_shap(
    server: Served, models: dict[str, Pipeline], data: pd.DataFrame
) -> None:
    rows = data.iloc[:8]
    answer = server.client.post(f"/v2/models/{NAME}/versions/2/explain", json=_body(rows))
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert (found["model_version"], found["kind"]) == ("2", "tree")
    assert found["method"] == "shap.TreeExplainer"
    total = np.asarray(found["base_values"]) + np.asarray(found["contributions"]).sum(axis=1)
    np.testing.assert_allclose(total, _margin(models["boosting"], rows), atol=1e-6)


def test_other_models_bad_rows_and_unknown_names_are_clear_4xx(
    server: Served, data: pd.DataFrame
) -> None:
    answer = server.client.post(f"/v2/models/{NAME}/versions/3/explain", json=_body(data.head(2)))
    assert answer.status_code == 422
    message = answer.json()["error"]
    assert "KNeighborsClassifier" in message and "support linear models" in message
    body = _body(data.head(2).drop(columns=data.columns[0]))
    answer = server.client.post(f"/v2/models/{NAME}/explain", json=body)
    assert answer.status_code == 422 and data.columns[0] in answer.json()["error"]
    answer = server.client.post("/v2/models/other/explain", json=_body(data.head(1)))
    assert answer.status_code == 404 and "this server serves 'cancer'" in answer.json()["error"]
    answer = server.client.post(f"/v2/models/{NAME}/versions/9/explain", json=_body(data.head(1)))
    assert answer.status_code == 404
