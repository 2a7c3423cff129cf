"""Concurrent writers of one deployment, on SQLite and PostgreSQL, with real threads and
processes: no update is lost, versions are consecutive, a stale ``expected_version`` is
refused. Two-writer races are forced (see ``tests/registry/races.py``: the second writer
starts while the first holds the deployment's lock), so a service that read the record before
locking it would fail every time."""

from __future__ import annotations

import itertools
import multiprocessing
import threading
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

from loopml.core.entities import CanaryRoute, Event
from loopml.core.errors import ConflictError
from loopml.core.settings import Settings
from loopml.registry import ModelRegistry
from loopml.registry.loaded import PREDICTORS
from loopml.serving.deployments import DeploymentService
from loopml.store.backend import open_backend
from tests.registry.races import HookedClock, run_interleaved

NAME = "cancer"
PROCESSES, ROUNDS = 3, 4


@pytest.fixture(scope="module")
def fitted() -> tuple[LogisticRegression, pd.DataFrame]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.iloc[:, :4]
    return LogisticRegression(max_iter=500).fit(X, y), X


@pytest.fixture
def clock() -> HookedClock:
    return HookedClock()


@pytest.fixture
def deployments(
    settings: Settings, clock: HookedClock, fitted: tuple[LogisticRegression, pd.DataFrame]
) -> Iterator[DeploymentService]:
    """``prod`` at version 1: champion ``cancer@champion`` (version 1 of 3), canary
    ``cancer@challenger`` (version 2) at 0 %."""
    PREDICTORS.clear()
    registry = ModelRegistry(open_backend(settings, cached=False), clock=clock)
    model, X = fitted
    for _ in range(3):
        registry.approve(registry.register(model, NAME, input_example=X.head()).ref, comment="ok")
    registry.set_alias(NAME, "champion", 1)
    registry.set_alias(NAME, "challenger", 2)
    service = DeploymentService(registry)
    service.create("prod", champion=f"{NAME}@champion", canary=f"{NAME}@challenger")
    yield service
    registry.backend.close()


def _chain(events: list[Event]) -> None:
    """Versions are 1, 2, 3... and each change starts from what the one before wrote."""
    assert [e.data["version"] for e in events] == list(range(1, len(events) + 1))
    for before, after in itertools.pairwise(events):
        assert after.data["before"] == before.data["after"]


def test_two_writers_of_different_fields_both_land(
    deployments: DeploymentService, clock: HookedClock
) -> None:
    first, second = run_interleaved(
        deployments.registry,
        clock,
        lambda: deployments.set("prod", canary_share=20, reason="grow the canary"),
        lambda: deployments.set("prod", shadows=[f"{NAME}@3"], reason="add a shadow"),
    )
    assert first.ok and second.ok, (first.error, second.error)
    assert (first.value.version, second.value.version) == (2, 3)
    final = deployments.get("prod")
    assert final.canary == CanaryRoute("cancer@challenger", 20.0)  # not undone by the second
    assert final.shadows == ("cancer@3",)
    _chain(deployments.history("prod"))


def test_two_writers_expecting_the_same_version_one_is_refused(
    deployments: DeploymentService, clock: HookedClock
) -> None:
    first, second = run_interleaved(
        deployments.registry,
        clock,
        lambda: deployments.set("prod", canary_share=20, expected_version=1),
        lambda: deployments.set("prod", champion=f"{NAME}@3", expected_version=1),
    )
    assert first.ok and first.value.version == 2
    assert isinstance(second.error, ConflictError)
    assert "is at version 2, not 1 as expected" in str(second.error)
    final = deployments.get("prod")
    assert (final.version, final.champion) == (2, "cancer@champion")


def test_threads_setting_at_once_lose_no_update(deployments: DeploymentService) -> None:
    """Six threads, three sets each, every one a share no other thread writes: 18 changes,
    versions 2 to 19, each share seen once, each change starting from the one before."""
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def worker(index: int) -> None:
        try:
            start.wait(timeout=60)
            for round_ in range(3):
                deployments.set("prod", canary_share=index * 10 + round_ + 1)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    history = deployments.history("prod")
    _chain(history)
    shares = [e.data["after"]["canary"]["share"] for e in history[1:]]
    assert sorted(shares) == sorted(float(i * 10 + r + 1) for i in range(6) for r in range(3))
    assert deployments.get("prod").version == 19


def _setter(settings: Settings, index: int, barrier: Any) -> list[int]:
    """Change one field (each process its own) ROUNDS times, each round started with the
    other processes'."""
    registry = ModelRegistry(open_backend(settings, cached=False))
    service = DeploymentService(registry)
    versions = []
    try:
        for round_ in range(ROUNDS):
            barrier.wait()
            if index == 0:
                done = service.set("prod", canary_share=round_ + 1, reason=f"p0 r{round_}")
            elif index == 1:
                shadows = [f"{NAME}@3"] if round_ % 2 == 0 else []
                done = service.set("prod", shadows=shadows, reason=f"p1 r{round_}")
            else:
                fallback = "value:0" if round_ % 2 == 0 else f"{NAME}@3"
                done = service.set("prod", fallback=fallback, reason=f"p2 r{round_}")
            versions.append(done.version)
    except BaseException:
        barrier.abort()
        raise
    finally:
        registry.backend.close()
    return versions


@pytest.mark.slow
def test_processes_setting_different_fields_at_once_lose_no_update(
    deployments: DeploymentService, settings: Settings
) -> None:
    context = multiprocessing.get_context("spawn")
    manager = context.Manager()
    try:
        barrier = manager.Barrier(PROCESSES, timeout=120)
        with context.Pool(PROCESSES) as pool:
            results = [pool.apply_async(_setter, (settings, i, barrier)) for i in range(PROCESSES)]
            written = [result.get(timeout=240) for result in results]
    finally:
        manager.shutdown()
    history = deployments.history("prod")
    _chain(history)
    assert len(history) == 1 + PROCESSES * ROUNDS  # every set changed its field
    assert sorted(v for vs in written for v in vs) == list(range(2, 2 + PROCESSES * ROUNDS))
    final = deployments.get("prod")
    # each process's last value is there: none was undone by another process's write
    assert final.canary == CanaryRoute("cancer@challenger", float(ROUNDS))
    assert final.shadows == ()
    assert final.fallback == f"{NAME}@3"
