"""Contract suite of :class:`~loopml.store.protocols.EvaluationStore`, run on every backend."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from loopml.core.entities import EvaluationRecord, Event
from loopml.core.errors import NotFoundError
from loopml.core.ids import new_event_id
from loopml.store.protocols import EvaluationStore, EventStore, ModelStore
from loopml.store.sql import SqlEvaluationStore, SqlEventStore, SqlModelStore
from loopml.store.sql.migrate import open_store_engine
from tests.contract.test_model_store import draft


@pytest.fixture
def stores(db_url: str) -> Iterator[tuple[EvaluationStore, ModelStore, EventStore]]:
    db = open_store_engine(db_url)
    yield SqlEvaluationStore(db), SqlModelStore(db), SqlEventStore(db)
    db.dispose()


def record(eid: str, at: int, model: str = "credit-default@1") -> EvaluationRecord:
    return EvaluationRecord(
        evaluation_id=eid,
        model=model,
        baseline="credit-default@0" if at > 1 else None,
        task="binary",
        datasets=("credit-holdout@2", "credit-recent@1"),
        created_at=at,
        created_by="ada",
        digest="d" * 64,
        summary={"credit-holdout@2": {"roc_auc": 0.91, "log_loss": None}},
    )


def test_records_round_trip_newest_first(
    stores: tuple[EvaluationStore, ModelStore, EventStore],
) -> None:
    evaluations, models, events = stores
    models.create_version(draft())
    models.create_version(draft())
    first, second = record("a" * 32, 1), record("b" * 32, 2)
    event = Event(new_event_id(), "evaluation.created", "model:credit-default@1", "ada", 2)
    evaluations.add(first)
    evaluations.add(second, event=event)
    evaluations.add(record("c" * 32, 3, model="credit-default@2"))
    assert evaluations.get("a" * 32) == first
    assert [r.evaluation_id for r in evaluations.list_for("credit-default", 1)] == [
        "b" * 32,
        "a" * 32,
    ]
    assert len(evaluations.list_for("credit-default")) == 3
    assert len(evaluations.list_for("credit-default", limit=1)) == 1
    assert evaluations.list_for("churn") == []
    assert [e.kind for e in events.list_events()] == ["evaluation.created"]
    assert EvaluationRecord.from_dict(json.loads(json.dumps(second.to_dict()))) == second


def test_unknown_version_or_id(stores: tuple[EvaluationStore, ModelStore, EventStore]) -> None:
    evaluations, _models, events = stores
    with pytest.raises(NotFoundError, match="does not exist"):
        evaluations.add(record("a" * 32, 1), event=Event(new_event_id(), "x", "y", "ada", 1))
    assert events.list_events() == []
    with pytest.raises(NotFoundError, match="No evaluation with id"):
        evaluations.get("f" * 32)


def test_ids_with_prefix(stores: tuple[EvaluationStore, ModelStore, EventStore]) -> None:
    evaluations, models, _events = stores
    models.create_version(draft())
    for i, eid in enumerate(("ab12" + "0" * 28, "ab12" + "1" * 28, "ab34" + "0" * 28)):
        evaluations.add(record(eid, i + 1))
    assert evaluations.ids_with_prefix("ab12", limit=10) == ["ab12" + "0" * 28, "ab12" + "1" * 28]
    assert evaluations.ids_with_prefix("ab", limit=2) == ["ab12" + "0" * 28, "ab12" + "1" * 28]
    assert evaluations.ids_with_prefix("ab34", limit=10) == ["ab34" + "0" * 28]
    assert evaluations.ids_with_prefix("ffff", limit=10) == []
    assert evaluations.ids_with_prefix("ab%", limit=10) == []  # no LIKE wildcard gets through
    assert evaluations.ids_with_prefix("ab_2", limit=10) == []
