"""POST /v2/models/{name}/labels on a real model server (127.0.0.1): labels for the prediction
ids it returned are matched, unknown ids kept and counted, wrong types refused; another model
is a 404, a bad body a 422, malformed JSON a 400."""

from __future__ import annotations

import re
import time
from typing import Any

import pandas as pd
import pytest

from loopml.store.backend import open_backend
from loopml.store.logs.ids import known_ids

from .conftest import NAME, Served

JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def server(champion_server: Served) -> Served:
    return champion_server


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.to_dict(orient="records")


def test_labels_for_the_served_predictions(server: Served, data: pd.DataFrame) -> None:
    answer = server.client.post("/predict", json={"records": _records(data.head(3))}).json()
    ids = answer["prediction_ids"]
    # The rows are logged just after the answer; wait until they are in the log store (a
    # label that comes first is stored as unknown and joins later: the service tests show it).
    deadline = time.monotonic() + 30
    while known_ids(server.logs_url, None, NAME, ids) != set(ids):
        assert time.monotonic() < deadline, "the predictions never reached the log store"
        server.service.compact_log()
        time.sleep(0.05)
    body = {"ids": [*ids, "never-logged", ids[0], "x"], "labels": [1, 0, 1, 0, 0, "1"]}
    response = server.client.post(f"/v2/models/{NAME}/labels", json=body)
    assert response.status_code == 200, response.text
    summary = response.json()
    assert {k: summary[k] for k in ("model", "received", "stored", "matched", "unknown")} == {
        "model": f"{NAME}@1",
        "received": 6,
        "stored": 4,
        "matched": 3,
        "unknown": 1,
    }
    assert (summary["bad_type"], summary["duplicates"]) == (1, 1)
    assert any("'1' at position 5" in e for e in summary["examples"])
    settings = server.service.registry.backend.settings
    table = open_backend(settings).labels.get_labels(NAME, [ids[0]]).to_pydict()
    assert table["label_json"] == ["0"]  # the last label of ids[0] won


def test_timestamps_are_taken(server: Served) -> None:
    body = {"ids": ["t1"], "labels": [1], "timestamps": ["2026-03-01T00:00:00Z"]}
    response = server.client.post(f"/v2/models/{NAME}/labels", json=body)
    assert response.status_code == 200, response.text
    backend = server.service.registry.backend
    assert backend.labels.get_labels(NAME, ["t1"]).column("event_at").to_pylist() == [
        1_772_323_200_000
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([1, 2], "The body must be an object"),
        ({"ids": "a", "labels": [1]}, "'ids' must be a list"),
        ({"ids": ["a"]}, "'labels' must be a list"),
        ({"ids": ["a", "b"], "labels": [1]}, "one label .* per id; got 2 ids, 1 labels"),
        ({"ids": ["a"], "labels": [1], "extra": 1}, "Unknown field\\(s\\) 'extra'"),
        ({"ids": [{"x": 1}], "labels": [1]}, "Row ids must be strings"),
        ({"ids": ["a"], "labels": [1], "timestamps": 5}, "'timestamps' must be a list"),
        ({"ids": ["a"], "labels": [1], "timestamps": [10**20]}, "between the years 1 and 9999"),
    ],
)
def test_a_bad_body_is_a_422(server: Served, body: Any, message: str) -> None:
    response = server.client.post(f"/v2/models/{NAME}/labels", json=body)
    assert response.status_code == 422, response.text
    assert re.search(message, response.json()["error"])


def test_another_model_is_a_404_and_bad_json_a_400(server: Served) -> None:
    response = server.client.post("/v2/models/other/labels", json={"ids": [], "labels": []})
    assert response.status_code == 404
    assert "this server serves 'cancer'" in response.json()["error"]
    response = server.client.post(f"/v2/models/{NAME}/labels", content=b"{", headers=JSON)
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]
