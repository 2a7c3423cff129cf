"""Delayed labels and prediction-log uploads through a real ``loopml server`` (SQLite and
PostgreSQL): ``loopml.monitoring.log_predictions`` and ``log_labels`` unchanged with
LOOPML_SERVER_URL set, joined by the server's own monitor and ``to_dataset``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

import loopml.monitoring
from loopml.client import fluent
from loopml.core.entities import Role
from loopml.core.errors import AccessDeniedError
from loopml.health import MonitorService
from loopml.health.production_data import to_dataset
from loopml.store.logs import read_log
from tests.rest.live_server import LiveServer
from tests.rest.registry_seed import frame, seed, server_store

LABELS = "/api/v1/monitoring/labels"
PREDICTIONS = "/api/v1/monitoring/predictions"


@pytest.fixture
def as_role(
    live_server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[object]:
    """``as_role(role)``: point the fluent SDK at the server with ``role``'s token."""

    def use(role: Role) -> None:
        fluent.reset_client()
        monkeypatch.setenv("LOOPML_SERVER_URL", live_server.url)
        monkeypatch.setenv("LOOPML_TOKEN", live_server.tokens[role])
        monkeypatch.setenv("LOOPML_HOME", str(tmp_path / ".loopml"))

    yield use
    fluent.reset_client()
    from loopml.client.remote.connection import close_shared_transports

    close_shared_transports()


def _rows(n: int) -> tuple[pd.DataFrame, pd.Series]:
    data = frame().head(n)
    return data.drop(columns="target"), data["target"]


def test_labels_and_predictions_sent_remotely_are_joined_on_the_server(
    live_server: LiveServer, unique: str, as_role: object
) -> None:
    seeded = seed(live_server, unique, versions=1)
    ref = seeded.versions[0].ref
    backend = server_store(live_server)
    X, y = _rows(80)
    from loopml.registry import ModelRegistry

    fitted = ModelRegistry(backend).load(ref)
    ids = [f"r{i}" for i in range(len(X))]
    times = pd.date_range("2026-01-01", periods=len(X), freq="h")
    proba = np.asarray(fitted.predict_proba(X), dtype=float)
    as_role(Role.EDITOR)  # type: ignore[operator]
    logged = loopml.monitoring.log_predictions(
        ref,
        X,
        fitted.predict(X),
        ids=ids,
        probabilities=pd.DataFrame(proba, columns=[0, 1])[[1, 0]],  # by name, not position
        timestamps=times,
        latency_ms=2.5,
    )
    assert logged == ids
    summary = loopml.monitoring.log_labels(ref, ids, y.to_numpy())
    assert (summary.received, summary.stored, summary.matched) == (80, 80, 80)
    assert (summary.unknown, summary.bad_type, summary.duplicates) == (0, 0, 0)
    stored = backend.labels.get_labels(unique)
    # The same ids and labels again: the stored labels are the same, none added.
    again = loopml.monitoring.log_labels(ref, ids, y.to_numpy())
    assert (again.stored, again.duplicates) == (80, 80)
    after = backend.labels.get_labels(unique)
    assert after.to_pydict() == stored.to_pydict()  # received_at included
    assert backend.labels.count_labels(unique) == 80
    # The server's own readers see the rows and join the labels.
    log = read_log(backend.settings.logs_url, model=unique)
    assert log.num_rows == 80
    assert sorted(log.column("p.1").to_pylist()) == pytest.approx(sorted(proba[:, 1]))
    fresh = to_dataset(backend, ref, name=f"{unique}-prod")
    assert fresh.rows == 80
    report = MonitorService(backend).monitor(ref, store=False, multivariate=False)
    assert report.windows[0].rows == 80
    assert report.windows[0].label_coverage == 1.0
    assert "accuracy" in report.windows[0].performance


def test_a_viewer_is_refused_and_nothing_is_written(
    live_server: LiveServer, unique: str, as_role: object
) -> None:
    ref = seed(live_server, unique, versions=1).versions[0].ref
    X, y = _rows(5)
    as_role(Role.VIEWER)  # type: ignore[operator]
    with pytest.raises(AccessDeniedError, match="may not log labels"):
        loopml.monitoring.log_labels(ref, ["a", "b"], [0, 1])
    with pytest.raises(AccessDeniedError, match="write"):
        loopml.monitoring.log_predictions(ref, X, y.to_numpy())
    answer = httpx.post(
        live_server.url + LABELS,
        json={"model": ref, "ids": ["a"], "labels": [1]},
        headers=live_server.headers(Role.VIEWER),
    )
    assert answer.status_code == 403
    backend = server_store(live_server)
    assert backend.labels.count_labels(unique) == 0
    assert read_log(backend.settings.logs_url, model=unique).num_rows == 0


def test_a_bad_label_value_is_a_422_naming_it_and_other_requests_are_unaffected(
    live_server: LiveServer, unique: str
) -> None:
    ref = seed(live_server, unique, versions=1).versions[0].ref
    editor = live_server.headers(Role.EDITOR)
    url = live_server.url + LABELS
    bad = httpx.post(
        url, json={"model": ref, "ids": ["a", "b", "c"], "labels": [1, {"x": 1}, 0]}, headers=editor
    )
    assert bad.status_code == 422
    assert bad.json()["field"] == "body.labels.1"
    late = httpx.post(
        url,
        json={"model": ref, "ids": ["a", "b"], "labels": [1, 0], "timestamps": [0, "soon"]},
        headers=editor,
    )
    assert late.status_code == 422
    assert late.json()["field"] == "body.timestamps.1"
    uneven = httpx.post(url, json={"model": ref, "ids": ["a"], "labels": [1, 0]}, headers=editor)
    assert uneven.status_code == 422 and uneven.json()["field"] == "body.labels"
    good = httpx.post(url, json={"model": ref, "ids": ["d", "e"], "labels": [1, 0]}, headers=editor)
    assert good.status_code == 200, good.text
    assert good.json()["stored"] == 2 and good.json()["unknown"] == 2
    labels = server_store(live_server).labels.get_labels(unique)
    assert labels.column("row_id").to_pylist() == ["d", "e"]  # nothing of the bad ones
    # A label the model has no class for is the service's rule: counted, not stored.
    odd = httpx.post(url, json={"model": ref, "ids": ["f"], "labels": ["1"]}, headers=editor)
    assert odd.status_code == 200 and odd.json()["bad_type"] == 1


def test_an_upload_retried_with_its_key_logs_each_row_once_and_a_huge_one_is_413(
    live_server: LiveServer, unique: str
) -> None:
    ref = seed(live_server, unique, versions=1).versions[0].ref
    X, y = _rows(10)
    body = {
        "model": ref,
        "rows": X.to_dict("records"),
        "predictions": y.tolist(),
        "timestamps": [1_767_225_600_000 + i for i in range(10)],
    }
    headers = {**live_server.headers(Role.EDITOR), "Idempotency-Key": "k" + unique}
    first = httpx.post(live_server.url + PREDICTIONS, json=body, headers=headers)
    assert first.status_code == 200, first.text
    second = httpx.post(live_server.url + PREDICTIONS, json=body, headers=headers)
    assert second.json() == first.json() and len(set(first.json())) == 10
    backend = server_store(live_server)
    log = read_log(backend.settings.logs_url, model=unique)
    assert log.num_rows == 10
    missing = httpx.post(
        live_server.url + PREDICTIONS,
        json={**body, "rows": [{"nothing": 1.0}] * 10},
        headers=live_server.headers(Role.EDITOR),
    )
    assert missing.status_code == 422 and "lacks the input columns" in missing.json()["error"]

    def huge() -> Iterator[bytes]:
        yield b'{"model": "' + ref.encode() + b'", "rows": ['
        chunk = b'{"a": 1.0},' * 100_000
        for _ in range(70 * 1024 * 1024 // len(chunk) + 1):
            yield chunk
        yield b'{"a": 1.0}], "predictions": []}'

    big = httpx.post(
        live_server.url + PREDICTIONS,
        content=huge(),
        headers={**live_server.headers(Role.EDITOR), "Content-Type": "application/json"},
        timeout=60,
    )
    assert big.status_code == 413
    assert read_log(backend.settings.logs_url, model=unique).num_rows == 10


def test_the_remote_methods_have_the_signatures_of_what_they_stand_for() -> None:
    import inspect

    from loopml.client.remote.labels import RemoteLabels
    from loopml.health.labels import LabelService

    def shape(function: object) -> list[tuple[str, object, object]]:
        found = inspect.signature(function).parameters.values()  # type: ignore[arg-type]
        return [(p.name, p.kind, p.default) for p in found if p.name != "self"]

    assert shape(RemoteLabels.log_labels) == shape(LabelService.log_labels)
    assert shape(RemoteLabels.log_predictions) == shape(loopml.monitoring.log_predictions)
