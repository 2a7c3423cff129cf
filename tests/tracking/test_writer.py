"""The metric writer: batches, keeps order, and never drops points when the store fails."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import pytest

from loopml.core.entities import MetricPoint
from loopml.core.errors import StoreError
from loopml.core.ids import RunId
from loopml.store.protocols import TrackingStore
from loopml.tracking import MetricWriter, TrackingService


class FlakyStore:
    """The real store, with its metric writes failing while ``failures`` > 0."""

    def __init__(self, inner: TrackingStore, failures: int) -> None:
        self.inner = inner
        self.failures = failures
        self.batches: list[int] = []
        self.url = inner.url

    def log_metrics(self, points: Sequence[tuple[RunId, MetricPoint]]) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise StoreError("database is locked (injected)")
        self.batches.append(len(points))
        self.inner.log_metrics(points)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _points(n: int, key: str = "m") -> list[MetricPoint]:
    return [MetricPoint(key, float(i), i, 1_000 + i) for i in range(n)]


def test_many_single_points_are_written_in_few_batches(service: TrackingService) -> None:
    run = service.create_run(experiment="exp")
    flaky = FlakyStore(service.store, failures=0)
    writer = MetricWriter(flaky, interval=60)  # the interval never fires: flush decides
    for p in _points(5000):
        writer.add(run.run_id, p)
    writer.flush()
    assert sum(flaky.batches) == 5000 and len(flaky.batches) <= 2
    assert len(service.store.get_metric_history(run.run_id, "m")) == 5000
    writer.close()


def test_background_thread_writes_without_flush(service: TrackingService) -> None:
    run = service.create_run(experiment="exp")
    flaky = FlakyStore(service.store, failures=0)
    writer = MetricWriter(flaky, interval=0.01)
    writer.add(run.run_id, MetricPoint("m", 1.0, 0, 1))
    done = threading.Event()
    for _ in range(500):
        if flaky.batches:
            done.set()
            break
        threading.Event().wait(0.01)
    assert done.is_set(), "the background writer never wrote the point"
    writer.close()


def test_failed_writes_are_retried_and_nothing_is_lost(service: TrackingService) -> None:
    run = service.create_run(experiment="exp")
    flaky = FlakyStore(service.store, failures=3)
    writer = MetricWriter(flaky, interval=60)
    for p in _points(100):
        writer.add(run.run_id, p)
    writer.flush()  # retries with backoff inside flush
    history = service.store.get_metric_history(run.run_id, "m")
    assert [p.value for p in history] == [float(i) for i in range(100)]
    writer.close()


def test_a_store_that_stays_down_raises_and_keeps_the_points(service: TrackingService) -> None:
    run = service.create_run(experiment="exp")
    flaky = FlakyStore(service.store, failures=10_000)
    writer = MetricWriter(flaky, interval=60)
    for p in _points(10):
        writer.add(run.run_id, p)
    with pytest.raises(StoreError, match="10 metric points could not be written.*kept in memory"):
        writer.flush()
    assert writer.pending == 10
    flaky.failures = 0  # the store comes back
    writer.flush()
    assert writer.pending == 0
    assert len(service.store.get_metric_history(run.run_id, "m")) == 10
    writer.close()


class BrokenStore(FlakyStore):
    """The real store, raising an unexpected (non-loopml) error on its first writes."""

    def log_metrics(self, points: Sequence[tuple[RunId, MetricPoint]]) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("driver exploded (injected)")
        super().log_metrics(points)


def test_background_thread_survives_unexpected_errors(service: TrackingService) -> None:
    run = service.create_run(experiment="exp")
    broken = BrokenStore(service.store, failures=2)
    writer = MetricWriter(broken, interval=0.01)
    for p in _points(20):
        writer.add(run.run_id, p)
    for _ in range(500):  # the thread retries with backoff and writes once the store recovers
        if broken.batches:
            break
        threading.Event().wait(0.01)
    assert sum(broken.batches) == 20 and writer.pending == 0
    writer.close()


class LosingStore(FlakyStore):
    """The real store, whose first ``failures`` writes are applied but answered with an error
    (what a client sees when a server commits a batch and dies before it answers)."""

    def __init__(self, inner: TrackingStore, failures: int) -> None:
        super().__init__(inner, failures)
        self.keys: list[str | None] = []

    def log_metrics(
        self, points: Sequence[tuple[RunId, MetricPoint]], *, batch_key: str | None = None
    ) -> bool:
        self.keys.append(batch_key)
        applied = self.inner.log_metrics(points, batch_key=batch_key)
        if self.failures > 0:
            self.failures -= 1
            raise StoreError("the answer was lost (injected)")
        return applied


def test_a_keyed_batch_whose_answer_is_lost_is_applied_once(service: TrackingService) -> None:
    run = service.create_run(experiment="exp")
    losing = LosingStore(service.store, failures=2)
    writer = MetricWriter(losing, interval=60, keyed=True)
    for p in _points(300):
        writer.add(run.run_id, p)
    writer.flush()  # applied, answer lost twice, sent a third time with the same key
    for p in _points(5, key="later"):
        writer.add(run.run_id, p)
    writer.flush()  # a new batch: a new key
    assert len(service.store.get_metric_history(run.run_id, "m")) == 300
    assert len(service.store.get_metric_history(run.run_id, "later")) == 5
    first, second, third, fourth = losing.keys
    assert first is not None and first == second == third and fourth not in (None, first)
    writer.close()
