"""Contract suite of :class:`~loopml.store.protocols.LabelStore`, run on every backend."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest

from loopml.core.errors import InvalidArgumentError
from loopml.store.protocols import LabelStore
from loopml.store.sql import SqlLabelStore
from loopml.store.sql.migrate import open_store_engine


@pytest.fixture
def store(db_url: str) -> Iterator[LabelStore]:
    db = open_store_engine(db_url)
    yield SqlLabelStore(db)
    db.dispose()


def test_put_then_get_returns_the_labels_by_row_id(store: LabelStore) -> None:
    labels = [orjson.dumps(v).decode() for v in ("yes", 1, 2.5, True)]
    replaced = store.put_labels(
        "churn", ["b", "a", "d", "c"], labels, received_at=100, event_at=[5, None, 7, None]
    )
    assert replaced == 0
    table = store.get_labels("churn")
    assert table.column_names == ["row_id", "label_json", "received_at", "event_at"]
    assert table.to_pydict() == {
        "row_id": ["a", "b", "c", "d"],
        "label_json": ["1", '"yes"', "true", "2.5"],
        "received_at": [100] * 4,
        "event_at": [None, 5, None, 7],
    }
    assert [orjson.loads(t) for t in table.column("label_json").to_pylist()] == [
        1,
        "yes",
        True,
        2.5,
    ]
    assert store.count_labels("churn") == 4


def test_a_label_logged_again_replaces_the_stored_one_and_is_counted(store: LabelStore) -> None:
    store.put_labels("churn", ["a", "b"], ["0", "0"], received_at=1)
    replaced = store.put_labels("churn", ["b", "c"], ["1", "1"], received_at=2, event_at=[9, 8])
    assert replaced == 1
    got = store.get_labels("churn").to_pydict()
    assert got["row_id"] == ["a", "b", "c"]
    assert got["label_json"] == ["0", "1", "1"]
    assert got["received_at"] == [1, 2, 2]
    assert got["event_at"] == [None, 9, 8]


def test_the_same_labels_again_change_nothing(store: LabelStore) -> None:
    store.put_labels("churn", ["a", "b"], ["0", "1"], received_at=1, event_at=[5, None])
    before = store.get_labels("churn").to_pydict()
    replaced = store.put_labels("churn", ["a", "b"], ["0", "1"], received_at=7, event_at=[5, None])
    assert replaced == 2  # counted as replaced (last wins), but nothing was rewritten
    assert store.get_labels("churn").to_pydict() == before
    store.put_labels("churn", ["a", "b"], ["0", "1"], received_at=8, event_at=[6, None])
    assert store.get_labels("churn").to_pydict()["received_at"] == [8, 1]


def test_labels_belong_to_one_model(store: LabelStore) -> None:
    store.put_labels("churn", ["a"], ["1"], received_at=1)
    store.put_labels("fraud", ["a"], ['"x"'], received_at=1)
    assert store.get_labels("churn").column("label_json").to_pylist() == ["1"]
    assert store.get_labels("fraud").column("label_json").to_pylist() == ['"x"']
    assert store.count_labels("other") == 0
    assert store.get_labels("other").num_rows == 0


def test_get_labels_of_some_row_ids(store: LabelStore) -> None:
    ids = [f"id-{i:05d}" for i in range(3000)]
    store.put_labels("churn", ids, [str(i % 2) for i in range(3000)], received_at=3)
    some = store.get_labels("churn", {"id-00002", "id-02999", "missing"})
    assert some.column("row_id").to_pylist() == ["id-00002", "id-02999"]
    assert some.column("label_json").to_pylist() == ["0", "1"]
    assert store.get_labels("churn", ids[::2]).num_rows == 1500  # several IN chunks
    assert store.get_labels("churn", []).num_rows == 0


def test_many_labels_in_one_call(store: LabelStore) -> None:
    n = 50_000
    ids = [f"r{i}" for i in range(n)]
    assert store.put_labels("big", ids, ["1"] * n, received_at=1) == 0
    assert store.put_labels("big", ids[: n // 2], ["0"] * (n // 2), received_at=2) == n // 2
    assert store.count_labels("big") == n
    wanted = store.get_labels("big", ids[: n // 2 + 10])  # the scan-and-filter path
    assert wanted.num_rows == n // 2 + 10
    zeros = sum(1 for t in store.get_labels("big").column("label_json").to_pylist() if t == "0")
    assert zeros == n // 2


def test_bad_batches_are_refused_whole(store: LabelStore) -> None:
    with pytest.raises(InvalidArgumentError, match="as many labels and event times as row ids"):
        store.put_labels("churn", ["a", "b"], ["1"], received_at=1)
    with pytest.raises(InvalidArgumentError, match="row id more than once"):
        store.put_labels("churn", ["a", "a"], ["1", "0"], received_at=1)
    with pytest.raises(InvalidArgumentError, match="at most 250 characters"):
        store.put_labels("churn", ["a", "x" * 251], ["1", "0"], received_at=1)
    assert store.count_labels("churn") == 0
    assert store.put_labels("churn", [], [], received_at=1) == 0
