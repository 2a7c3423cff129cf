"""Datasets through a real ``loopml server`` (SQLite and PostgreSQL): Parquet written by the
client, uploaded through the artifact proxy, registered by digest on the server (which
computes the schema and profile); reads, diffs, splits and lineage; concurrent registrations
of one name."""

from __future__ import annotations

import threading

import httpx
import pandas as pd
import pytest

from loopml.core.entities import Role
from loopml.core.errors import AccessDeniedError, NotFoundError
from loopml.data import DatasetService
from tests.rest.live_server import LiveServer
from tests.rest.registry_seed import Clients, frame, server_store


def test_register_and_read_back_through_the_server(
    live_server: LiveServer, unique: str, clients: Clients
) -> None:
    editor = clients(Role.EDITOR)
    data = frame()
    made = editor.datasets.register(unique, data, target="target", description="first")
    assert (made.version, made.rows, made.created_by) == (1, len(data), "editor-user")
    assert made.schema.target == "target"
    embedded = DatasetService(server_store(live_server)).get(made.ref)
    assert embedded == made  # the server computed schema and profile, as embedded would
    assert editor.datasets.register(unique, data, target="target") == made  # same rows: same
    second = editor.datasets.register(unique, data.head(300), target="target")
    assert second.version == 2
    viewer = clients(Role.VIEWER)
    pd.testing.assert_frame_equal(viewer.datasets.load(made.ref), data)
    batches = list(viewer.datasets.iter_batches(second.ref, batch_size=128, output="pandas"))
    assert [len(b) for b in batches] == [128, 128, 44]
    assert [v.version for v in viewer.datasets.versions(unique)] == [1, 2]
    assert viewer.datasets.get(unique) == second
    assert second in viewer.datasets.latest_versions()
    diff = viewer.datasets.diff(made.ref, second.ref)
    assert (diff.old_rows, diff.new_rows) == (len(data), 300)
    report = viewer.datasets.validate(data.head(50), against=made.ref)
    assert report.errors == ()
    events = viewer.events(subject=f"dataset:{unique}@", kind="dataset.registered")
    assert [e.actor for e in events] == ["editor-user", "editor-user"]
    with pytest.raises(AccessDeniedError, match="write"):
        viewer.datasets.register(unique, data.head(10), target="target")
    with pytest.raises(NotFoundError, match=unique):
        viewer.datasets.get(f"{unique}@9")


def test_split_and_lineage_run_on_the_server(
    live_server: LiveServer, unique: str, clients: Clients
) -> None:
    editor = clients(Role.EDITOR)
    parent = editor.datasets.register(unique, frame(), target="target")
    parts = editor.datasets.split(parent.ref, fractions={"train": 0.75, "test": 0.25}, seed=3)
    assert sorted(parts) == ["test", "train"]
    assert parts["train"].parents == (parent.ref,)
    assert parts["train"].rows + parts["test"].rows == parent.rows
    assert editor.datasets.runs_using(parent.ref) == []
    assert editor.models.models_from_dataset(parent.ref) == []


def test_a_missing_upload_is_named(live_server: LiveServer, unique: str) -> None:
    answer = httpx.post(
        f"{live_server.url}/api/v1/datasets/{unique}/versions",
        json={"digest": "ab" * 32},
        headers=live_server.headers(Role.EDITOR),
    )
    assert answer.status_code == 404
    assert answer.json()["type"] == "NotFoundError"
    answer = httpx.post(
        f"{live_server.url}/api/v1/models/{unique}/versions",
        json={"manifest_digest": "cd" * 32},
        headers=live_server.headers(Role.EDITOR),
    )
    assert answer.status_code == 404
    assert "cd" * 32 in answer.json()["error"]


def test_concurrent_registrations_of_one_name_get_distinct_versions(
    live_server: LiveServer, unique: str, clients: Clients
) -> None:
    data = frame()
    editors = [clients(Role.EDITOR) for _ in range(6)]
    made: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(len(editors))

    def register(index: int) -> None:
        try:
            start.wait()
            for round_ in range(2):  # distinct rows per call: a new version each
                rows = data.iloc[: 100 + index * 10 + round_]
                made.append(editors[index].datasets.register(unique, rows).version)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=register, args=(i,)) for i in range(len(editors))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(made) == list(range(1, 13))  # no duplicate number, none lost
    stored = editors[0].datasets.versions(unique)
    assert [v.version for v in stored] == list(range(1, 13))
    assert len({v.content_hash for v in stored}) == 12


def test_concurrent_registrations_of_the_same_rows_make_one_version(
    live_server: LiveServer, unique: str, clients: Clients
) -> None:
    rows = frame().head(200)
    editors = [clients(Role.EDITOR) for _ in range(5)]
    made: list[int] = []
    start = threading.Barrier(len(editors))

    def register(index: int) -> None:
        start.wait()
        made.append(editors[index].datasets.register(unique, rows).version)

    threads = [threading.Thread(target=register, args=(i,)) for i in range(len(editors))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert made == [1] * 5
    assert [v.version for v in editors[0].datasets.versions(unique)] == [1]
    events = editors[0].events(subject=f"dataset:{unique}@", kind="dataset.registered")
    assert len(events) == 1
