"""Per-row event times and caller ids over real HTTP (a server on 127.0.0.1): ``/predict``,
``/predict/batch`` and the Open Inference Protocol log them with each row (shadow rows
too); bad ones are a 422 naming the row, and nothing is logged."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pytest

from loopml.core.settings import Settings
from loopml.registry import ModelRegistry
from loopml.store.backend import open_backend
from loopml.store.logs import PredictionRecord
from loopml.store.logs.spool import SEGMENT_PREFIX

from .conftest import NAME, Served, register, serve

JAN_5 = 1_704_412_800_000  # 2024-01-05T00:00:00Z in epoch ms
HOUR = 3_600_000


@pytest.fixture(scope="module")
def versions(store: Settings, fitted: dict[str, Any], data: pd.DataFrame) -> dict[str, str]:
    registry = ModelRegistry(open_backend(store))
    return {
        "a": register(registry, fitted["a"], data, champion=True),
        "b": register(registry, fitted["b"], data),
    }


@pytest.fixture
def server(store: Settings, versions: dict[str, str], tmp_path: Path) -> Iterator[Served]:
    """A server whose log stays in its spool (no log store), stopped by the test."""
    served = serve(store, tmp_path, logs_url=None, shadow=versions["b"])
    yield served
    served.stop()


def _logged(served: Served) -> list[PredictionRecord]:
    """Stop ``served`` (which flushes its log) and read every record of its spool."""
    served.stop()
    spool = Path(served.service.config.spool_dir or "")
    lines = [
        line
        for segment in sorted(spool.glob(f"{SEGMENT_PREFIX}*.jsonl"))
        for line in segment.read_bytes().splitlines()
        if line
    ]
    return [PredictionRecord.from_dict(orjson.loads(line)) for line in lines]


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.to_dict(orient="records")


def _answer(served: Served, path: str, body: Any, rows: int) -> dict[str, Any]:
    response = served.client.post(path, json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert len(answer["prediction_ids"]) == rows
    return answer


def test_every_body_form_logs_the_rows_times_and_ids(server: Served, data: pd.DataFrame) -> None:
    served = server
    rows = data.head(3)
    iso = ["2024-01-05T00:00:00Z", "2024-01-05T03:00:00+02:00", "2024-01-05 02:00:00"]
    epoch = [JAN_5, JAN_5 + HOUR, JAN_5 + 2 * HOUR]
    sent = {
        "records": _answer(
            served,
            "/predict",
            {"records": _records(rows), "timestamps": iso, "ids": ["r1", "r2", "r3"]},
            3,
        ),
        "columns": _answer(
            served,
            "/predict",
            {
                "columns": list(rows.columns),
                "data": rows.to_numpy().tolist(),
                "timestamps": epoch,
                "ids": [11, 12, 13],
            },
            3,
        ),
        "one": _answer(
            served,
            "/predict",
            {**_records(rows)[0], "timestamps": ["2024-01-05T00:00:00"], "ids": ["solo"]},
            1,
        ),
        "batch": _answer(
            served,
            "/predict/batch",
            {"records": _records(rows), "timestamps": epoch, "ids": ["b1", 2, "b3"]},
            3,
        ),
        "plain": _answer(served, "/predict", {"records": _records(rows)}, 3),
    }
    # the answer echoes the ids as text (what is logged and what labels join on)
    assert sent["records"]["ids"] == ["r1", "r2", "r3"]
    assert sent["columns"]["ids"] == ["11", "12", "13"]
    assert sent["one"]["ids"] == ["solo"]
    assert sent["batch"]["ids"] == ["b1", "2", "b3"]
    assert "ids" not in sent["plain"]  # without them the answer is as before
    logged = _logged(served)
    live = {r.prediction_id: r for r in logged if r.route == "champion"}
    expected = {
        "records": (epoch, ["r1", "r2", "r3"]),
        "columns": (epoch, ["11", "12", "13"]),
        "one": ([JAN_5], ["solo"]),
        "batch": (epoch, ["b1", "2", "b3"]),
        "plain": ([None] * 3, [None] * 3),
    }
    for form, (times, ids) in expected.items():
        got = [live[pid] for pid in sent[form]["prediction_ids"]]
        assert [r.event_at for r in got] == times, form
        assert [r.caller_id for r in got] == ids, form
        assert all(r.at > JAN_5 + 300 * 86_400_000 for r in got)  # arrival time is kept apart
    # the shadow scored every request's rows, with the same times and ids
    shadow = [r for r in logged if r.route == "shadow"]
    assert len(shadow) == len(live) == 13
    assert all(r.version != live[next(iter(live))].version for r in shadow)

    def tags(records: Any) -> list[tuple[int, str]]:
        return sorted((r.event_at or 0, r.caller_id or "") for r in records)

    assert tags(shadow) == tags(live.values())
    assert sum(r.caller_id is not None for r in shadow) == 10


def test_open_inference_protocol_takes_them_as_parameters(
    server: Served, data: pd.DataFrame
) -> None:
    rows = data.head(2)
    body = {
        "inputs": [
            {"name": c, "shape": [2], "datatype": "FP64", "data": rows[c].tolist()}
            for c in rows.columns
        ],
        "parameters": {"timestamps": ["2024-01-05T00:00:00Z", JAN_5 + HOUR], "ids": ["x", "y"]},
    }
    mixed = server.client.post(f"/v2/models/{NAME}/infer", json=body)
    assert mixed.status_code == 422
    assert "send every timestamp of a request in one form" in mixed.json()["error"]
    body["parameters"]["timestamps"] = [JAN_5, JAN_5 + HOUR]
    response = server.client.post(f"/v2/models/{NAME}/infer", json=body)
    assert response.status_code == 200, response.text
    parameters = response.json()["parameters"]
    assert parameters["ids"] == ["x", "y"]
    logged = {r.prediction_id: r for r in _logged(server) if r.route == "champion"}
    got = [logged[pid] for pid in parameters["prediction_ids"]]
    assert [(r.event_at, r.caller_id) for r in got] == [(JAN_5, "x"), (JAN_5 + HOUR, "y")]


BAD = [
    ({"timestamps": [JAN_5]}, "'timestamps' has 1 values but the request has 3 rows"),
    ({"ids": ["a", "b"]}, "'ids' has 2 values but the request has 3 rows"),
    ({"timestamps": "2024-01-05"}, "'timestamps' must be a list"),
    ({"ids": {"a": 1}}, "'ids' must be a list"),
    ({"timestamps": [JAN_5, None, JAN_5]}, r"timestamps\[1\] is null"),
    (
        {"timestamps": ["2024-01-05", "yesterday", "2024-01-06"]},
        r"timestamps\[1\] is 'yesterday', not an ISO 8601 time",
    ),
    ({"timestamps": [JAN_5, True, JAN_5]}, r"timestamps\[1\] is True \(a bool\)"),
    ({"timestamps": [JAN_5, 1e20, JAN_5]}, r"timestamps\[1\] is 1e\+20: a number is read as mil"),
    ({"ids": ["a", "b", "a"]}, r"ids\[2\] is 'a', the same as ids\[0\]"),
    ({"ids": [7, "7", 8]}, r"ids\[1\] is '7', the same as ids\[0\]"),
    ({"ids": ["a", 1.5, "c"]}, r"ids\[1\] is 1.5 \(a float\): an id is a string or an integer"),
    ({"ids": ["a", None, "c"]}, r"ids\[1\] is null: an id is a string or an integer"),
    ({"ids": ["a", "", "c"]}, r"ids\[1\] is an empty string"),
]


def test_bad_times_or_ids_are_422_naming_the_row_and_nothing_is_logged(
    server: Served, data: pd.DataFrame
) -> None:
    rows = _records(data.head(3))
    for path in ("/predict", "/predict/batch"):
        for extra, message in BAD:
            response = server.client.post(path, json={"records": rows, **extra})
            assert response.status_code == 422, (extra, response.text)
            assert response.headers["content-type"] == "application/json"
            error = response.json()["error"]
            assert re.search(message, error), (message, error)
    good = _answer(server, "/predict", {"records": rows, "ids": ["a", "b", "c"]}, 3)
    logged = _logged(server)  # the refused requests left nothing in the log
    assert sorted(r.prediction_id for r in logged if r.route == "champion") == sorted(
        good["prediction_ids"]
    )
    assert sorted(r.caller_id or "" for r in logged) == ["a", "a", "b", "b", "c", "c"]


def test_a_large_request_logs_every_rows_time_and_id(server: Served, data: pd.DataFrame) -> None:
    frame = pd.concat([data] * 11, ignore_index=True)  # 6,259 rows: past OFFLOAD_ROWS
    n = len(frame)
    times = pd.date_range("2024-01-01", periods=n, freq="min", tz="UTC")
    body = {
        "columns": list(frame.columns),
        "data": frame.to_numpy().tolist(),
        "timestamps": [t.isoformat() for t in times],
        "ids": list(range(n)),
    }
    answer = _answer(server, "/predict/batch", body, n)
    assert answer["ids"] == [str(i) for i in range(n)]
    logged = _logged(server)
    live = {r.prediction_id: r for r in logged if r.route == "champion"}
    got = [live[pid] for pid in answer["prediction_ids"]]
    assert [r.event_at for r in got] == (times.as_unit("ms").asi8).tolist()
    assert [r.caller_id for r in got] == [str(i) for i in range(n)]
    shadow = sorted((r.caller_id or "", r.event_at) for r in logged if r.route == "shadow")
    assert shadow == sorted((r.caller_id or "", r.event_at) for r in got)
