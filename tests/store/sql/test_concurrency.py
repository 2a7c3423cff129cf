"""Many processes opening one fresh store at once and writing metrics into it."""

from __future__ import annotations

import multiprocessing
from typing import Any

import pytest

from loopml.core.entities import Experiment, MetricPoint, Run, RunStatus
from loopml.core.ids import new_experiment_id, new_run_id
from loopml.store.sql import SqlTrackingStore

PROCESSES = 8
POINTS = 10_000
BATCH = 500
KEYS = ("loss", "acc", "lr", "grad_norm")


def _writer(url: str, index: int, barrier: Any) -> str:
    """Open the store (all processes at once), create a run, log POINTS points in batches."""
    barrier.wait()
    store = SqlTrackingStore(url)
    try:
        experiment = Experiment(new_experiment_id(), f"proc-{index}", 0)
        store.create_experiment(experiment)
        run = Run(new_run_id(), experiment.experiment_id, f"run-{index}", RunStatus.RUNNING, 0)
        store.create_run(run)
        points = [
            (run.run_id, MetricPoint(KEYS[i % len(KEYS)], float(i), i // len(KEYS), i))
            for i in range(POINTS)
        ]
        for start in range(0, POINTS, BATCH):
            store.log_metrics(points[start : start + BATCH])
        return run.run_id
    finally:
        store.close()


@pytest.mark.slow
def test_processes_open_a_fresh_store_and_write_at_once(fresh_db_url: str) -> None:
    context = multiprocessing.get_context("spawn")
    manager = context.Manager()
    try:
        wait_all = manager.Barrier(PROCESSES)
        with context.Pool(PROCESSES) as pool:
            results = [
                pool.apply_async(_writer, (fresh_db_url, i, wait_all)) for i in range(PROCESSES)
            ]
            run_ids = [result.get(timeout=240) for result in results]
    finally:
        manager.shutdown()

    store = SqlTrackingStore(fresh_db_url)
    try:
        assert len(store.list_experiments()) == PROCESSES
        last_step = POINTS // len(KEYS) - 1
        for run_id in run_ids:
            run = store.get_run(run_id)  # type: ignore[arg-type]
            assert run.metrics == {
                key: float(last_step * len(KEYS) + k) for k, key in enumerate(KEYS)
            }
            stored = sum(len(store.get_metric_history(run.run_id, key)) for key in KEYS)
            assert stored == POINTS
    finally:
        store.close()
