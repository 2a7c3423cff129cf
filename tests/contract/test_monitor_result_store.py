"""Contract suite of :class:`~loopml.store.protocols.MonitorResultStore`, run on every backend."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from loopml.core.entities import (
    Alert,
    Event,
    FeatureDrift,
    MetricValue,
    MonitorResult,
    MonitorWindow,
)
from loopml.core.errors import AlreadyExistsError
from loopml.core.ids import new_event_id
from loopml.store.protocols import EventStore, MonitorResultStore
from loopml.store.sql import SqlEventStore, SqlMonitorResultStore
from loopml.store.sql.migrate import open_store_engine

DAY = 86_400_000


@pytest.fixture
def stores(db_url: str) -> Iterator[tuple[MonitorResultStore, EventStore]]:
    db = open_store_engine(db_url)
    yield SqlMonitorResultStore(db), SqlEventStore(db)
    db.dispose()


def run(
    run_id: str, at: int, *, windows: int = 2, subject: str = "model:credit"
) -> list[MonitorResult]:
    out = []
    for i in range(windows):
        window = MonitorWindow(
            index=i,
            start=None if subject.startswith("data:") else f"2024-03-0{i + 1}T00:00:00Z",
            end=None if subject.startswith("data:") else f"2024-03-0{i + 2}T00:00:00Z",
            rows=1000 + i,
            features={
                "amount": FeatureDrift("ks", 0.2 * i, 0.5 - 0.4 * i, 0.05, i == 1, ""),
                "kind": FeatureDrift("chi_square", None, None, 0.05, None, "all null"),
            },
            dataset_drift=i == 1,
            drift_share=0.5 * i,
            performance={"roc_auc": MetricValue("roc_auc", 0.81, 0.78, 0.84)},
        )
        alerts = ()
        if i == windows - 1:
            alerts = (
                Alert("share", "warning", "drift_share >= 0.3", subject, i, window.start, "m"),
            )
        out.append(
            MonitorResult(
                result_id=new_event_id(),
                run_id=run_id,
                subject=subject,
                model="credit@3" if subject.startswith("model:") else None,
                window=window,
                start_ms=None if window.start is None else 1_709_251_200_000 + i * DAY,
                end_ms=None if window.end is None else 1_709_251_200_000 + (i + 1) * DAY,
                created_at=at,
                alerts=alerts,
            )
        )
    return out


def test_runs_round_trip_newest_first(stores: tuple[MonitorResultStore, EventStore]) -> None:
    results, events = stores
    first, second = run("a" * 32, 1_000), run("b" * 32, 2_000, windows=3)
    data = run("c" * 32, 3_000, subject="data:cur@1")
    event = Event(new_event_id(), "monitor.run", "model:credit", "ada", 2_000)
    results.add(first)
    results.add(second, event=event)
    results.add(data)
    listed = results.list_results(subject="model:credit")
    assert [(r.run_id[0], r.window.index) for r in listed] == [
        ("b", 2),
        ("b", 1),
        ("b", 0),
        ("a", 1),
        ("a", 0),
    ]
    assert listed[-1] == first[0] and listed[0] == second[2]  # every field back as written
    assert listed[0].alerts[0].rule == "share" and listed[1].alerts == ()
    assert listed[0].window.features["kind"].drifted is None
    assert [r.run_id[0] for r in results.list_results()][:2] == ["c", "c"]
    assert results.list_results(subject="data:cur@1")[0].start_ms is None
    assert len(results.list_results(limit=4)) == 4
    assert [r.run_id[0] for r in results.list_results(since=1_500, until=2_500)] == ["b"] * 3
    assert [r.window.index for r in results.list_results(run_id="a" * 32)] == [1, 0]
    assert results.list_results(subject="model:churn") == []
    assert [e.kind for e in events.list_events()] == ["monitor.run"]
    again = MonitorResult.from_dict(json.loads(json.dumps(second[1].to_dict())))
    assert again == second[1]


def test_a_run_is_written_whole_or_not_at_all(
    stores: tuple[MonitorResultStore, EventStore],
) -> None:
    results, events = stores
    stored = run("a" * 32, 1_000)
    results.add(stored)
    clash = run("b" * 32, 2_000, windows=3)
    clash[2] = MonitorResult(**{**clash[2].__dict__, "result_id": stored[0].result_id})
    event = Event(new_event_id(), "monitor.run", "model:credit", "ada", 2_000)
    with pytest.raises(AlreadyExistsError, match="already stored"):
        results.add(clash, event=event)
    assert {r.run_id for r in results.list_results()} == {"a" * 32}
    assert events.list_events() == []
    twice = run("c" * 32, 3_000)
    twice[1] = MonitorResult(**{**twice[1].__dict__, "result_id": twice[0].result_id})
    with pytest.raises(AlreadyExistsError, match="already stored"):
        results.add(twice)
    assert len(results.list_results()) == 2
