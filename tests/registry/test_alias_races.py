"""Alias moves and reviews racing each other, on SQLite and PostgreSQL, with real threads and
processes: each race is forced (see ``races.py``), so a registry that checks before it locks,
or orders its history by a time taken before the lock, fails every time."""

from __future__ import annotations

import itertools
import multiprocessing
import random
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

from loopml.core.entities import AliasMove, ApprovalStatus
from loopml.core.errors import ApprovalRequiredError, ConflictError
from loopml.core.settings import Settings
from loopml.registry import ModelRegistry
from loopml.registry.aliases import rollback_target
from loopml.registry.loaded import PREDICTORS
from loopml.store.backend import open_backend
from tests.registry.races import HookedClock, run_interleaved

NAME = "credit-default"


@pytest.fixture(scope="module")
def fitted() -> tuple[LogisticRegression, pd.DataFrame]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.iloc[:, :4]
    return LogisticRegression(max_iter=500).fit(X, y), X


@pytest.fixture
def clock() -> HookedClock:
    return HookedClock()


@pytest.fixture
def registry(settings: Settings, clock: HookedClock) -> Iterator[ModelRegistry]:
    PREDICTORS.clear()
    registry = ModelRegistry(open_backend(settings, cached=False), clock=clock)
    yield registry
    registry.backend.close()


def _versions(
    registry: ModelRegistry, fitted: tuple[LogisticRegression, pd.DataFrame], count: int
) -> None:
    model, X = fitted
    for _ in range(count):
        version = registry.register(model, NAME, input_example=X.head())
        registry.approve(version.ref, comment="ok")


def _assert_serial(registry: ModelRegistry, alias: str) -> list[AliasMove]:
    """The alias's history is one chain in commit order: each move starts where the one
    before ended, the last ends where the alias points, and every rollback went to the version
    below the top of the history before it."""
    history = registry.alias_history(NAME, alias)
    for before, after in itertools.pairwise(history):
        assert after.from_version == before.to_version, [
            (m.from_version, m.to_version) for m in history
        ]
    assert registry.aliases(NAME).get(alias) == (history[-1].to_version if history else None)
    for i, move in enumerate(history):
        if move.rollback:
            assert rollback_target(history[:i]) == (move.from_version, move.to_version)
    return history


def _champion_is_not_rejected(registry: ModelRegistry) -> None:
    champion = registry.get(f"{NAME}@champion")
    assert champion.approval is not ApprovalStatus.REJECTED, (
        f"champion points at {champion.ref}, which is rejected"
    )


# -- an approval check before the lock: champion on a rejected version --------------------------


@pytest.mark.parametrize("first", ["move", "reject"])
def test_a_reject_racing_a_champion_move_never_leaves_champion_on_it(
    registry: ModelRegistry,
    clock: HookedClock,
    fitted: tuple[LogisticRegression, pd.DataFrame],
    first: str,
) -> None:
    _versions(registry, fitted, 2)
    registry.set_alias(NAME, "champion", 1, reason="first release")

    def move() -> AliasMove:
        return registry.set_alias(NAME, "champion", 2, reason="weekly retrain")

    def reject() -> Any:
        return registry.reject(f"{NAME}@2", comment="leaks the label")

    calls = (move, reject) if first == "move" else (reject, move)
    outcomes = run_interleaved(registry, clock, *calls)
    _champion_is_not_rejected(registry)
    moved, rejected = outcomes if first == "move" else outcomes[::-1]
    # one of them wins; the other is refused with the reason, never both told "ok"
    assert [moved.ok, rejected.ok].count(True) == 1
    loser = rejected if moved.ok else moved
    assert isinstance(loser.error, ConflictError), loser.error
    if moved.ok:
        assert "champion" in str(loser.error) and "Move champion" in str(loser.error)
    else:
        assert isinstance(loser.error, ApprovalRequiredError)
    _assert_serial(registry, "champion")


# -- history ordered by a time taken before the lock: rollback walks to the wrong version ---------


def test_concurrent_moves_are_recorded_in_commit_order(
    registry: ModelRegistry, clock: HookedClock, fitted: tuple[LogisticRegression, pd.DataFrame]
) -> None:
    _versions(registry, fitted, 3)
    registry.set_alias(NAME, "champion", 1)
    first, second = run_interleaved(
        registry,
        clock,
        lambda: registry.set_alias(NAME, "champion", 2, reason="A"),
        lambda: registry.set_alias(NAME, "champion", 3, reason="B"),
    )
    assert first.ok and second.ok, (first.error, second.error)
    history = _assert_serial(registry, "champion")
    current = registry.aliases(NAME)["champion"]
    back = registry.rollback(NAME, reason="canary errors")
    assert back.from_version == current != back.to_version  # never "moved 2 -> 2"
    assert back.to_version == history[-1].from_version
    assert registry.get(f"{NAME}@champion").version == back.to_version


def test_a_rollback_racing_a_move_returns_to_the_version_below_the_top(
    registry: ModelRegistry, clock: HookedClock, fitted: tuple[LogisticRegression, pd.DataFrame]
) -> None:
    _versions(registry, fitted, 3)
    registry.set_alias(NAME, "champion", 1)
    registry.set_alias(NAME, "champion", 2)
    rolled, moved = run_interleaved(
        registry,
        clock,
        lambda: registry.rollback(NAME, reason="canary errors"),
        lambda: registry.set_alias(NAME, "champion", 3, reason="hotfix"),
    )
    assert rolled.ok and moved.ok, (rolled.error, moved.error)
    _assert_serial(registry, "champion")
    # serial outcomes only: rollback then move (champion 3), or move then rollback (2)
    assert registry.aliases(NAME)["champion"] in (2, 3)


def test_history_is_in_commit_order_even_when_the_clock_goes_back(
    settings: Settings, fitted: tuple[LogisticRegression, pd.DataFrame]
) -> None:
    ticks = iter(range(10_000, 0, -1))  # e.g. a server whose clock was set back
    registry = ModelRegistry(open_backend(settings, cached=False), clock=lambda: next(ticks))
    try:
        _versions(registry, fitted, 3)
        for number in (1, 2, 3):
            registry.set_alias(NAME, "champion", number)
        history = _assert_serial(registry, "champion")
        assert [m.to_version for m in history] == [1, 2, 3]
        back = registry.rollback(NAME, reason="canary errors")
        assert (back.from_version, back.to_version) == (3, 2)
    finally:
        registry.backend.close()


# -- processes: the first insert of an alias and lost updates ------------------------------------

PROCESSES = 4
MOVES = 10


def _mover(settings: Settings, index: int, barrier: Any) -> list[int]:
    """Move ``challenger`` MOVES times, each move started with every other process's."""
    registry = ModelRegistry(open_backend(settings, cached=False))
    targets = []
    try:
        for round_ in range(MOVES):
            target = (index + round_) % 3 + 1
            barrier.wait()
            move = registry.set_alias(NAME, "challenger", target, reason=f"p{index} r{round_}")
            assert move.to_version == target
            targets.append(target)
    except BaseException:
        barrier.abort()  # the others stop at the next round instead of waiting for us
        raise
    finally:
        registry.backend.close()
    return targets


@pytest.mark.slow
def test_processes_moving_a_new_alias_at_once_all_succeed_in_one_serial_order(
    registry: ModelRegistry, settings: Settings, fitted: tuple[LogisticRegression, pd.DataFrame]
) -> None:
    _versions(registry, fitted, 3)
    context = multiprocessing.get_context("spawn")
    manager = context.Manager()
    try:
        barrier = manager.Barrier(PROCESSES, timeout=120)
        with context.Pool(PROCESSES) as pool:
            results = [pool.apply_async(_mover, (settings, i, barrier)) for i in range(PROCESSES)]
            moved = [result.get(timeout=240) for result in results]
    finally:
        manager.shutdown()
    history = _assert_serial(registry, "challenger")
    assert len(history) == PROCESSES * MOVES
    assert history[0].from_version is None
    assert sorted(m.to_version for m in history) == sorted(t for ts in moved for t in ts)


def _reviewer(settings: Settings, index: int, barrier: Any, check: Any) -> None:
    """Approve, reject, move champion and roll back at random, a round at a time; after
    every round, the first process checks that champion is not on a rejected version."""
    registry = ModelRegistry(open_backend(settings, cached=False))
    rng = random.Random(index)
    try:
        for _ in range(MOVES):
            barrier.wait()
            number = rng.randint(1, 3)
            action = rng.choice(["approve", "reject", "move", "move", "rollback"])
            try:
                if action == "approve":
                    registry.approve(f"{NAME}@{number}", comment="fine again")
                elif action == "reject":
                    registry.reject(f"{NAME}@{number}", comment="bad")
                elif action == "move":
                    registry.set_alias(NAME, "champion", number, reason=f"p{index}")
                else:
                    registry.rollback(NAME, reason=f"p{index}")
            except ConflictError:
                pass  # refused with a reason (a rejected target, champion on it, no history)
            barrier.wait()
            if index == 0:
                champion = registry.get(f"{NAME}@champion")
                check.append(champion.approval.value)
    except BaseException:
        barrier.abort()
        raise
    finally:
        registry.backend.close()


@pytest.mark.slow
def test_processes_reviewing_and_moving_at_random_never_leave_champion_rejected(
    registry: ModelRegistry, settings: Settings, fitted: tuple[LogisticRegression, pd.DataFrame]
) -> None:
    _versions(registry, fitted, 3)
    registry.set_alias(NAME, "champion", 1)
    context = multiprocessing.get_context("spawn")
    manager = context.Manager()
    try:
        barrier = manager.Barrier(PROCESSES, timeout=120)
        check = manager.list()
        with context.Pool(PROCESSES) as pool:
            results = [
                pool.apply_async(_reviewer, (settings, i, barrier, check)) for i in range(PROCESSES)
            ]
            for result in results:
                result.get(timeout=240)
        seen = list(check)
    finally:
        manager.shutdown()
    assert len(seen) == MOVES
    assert "rejected" not in seen
    _champion_is_not_rejected(registry)
    _assert_serial(registry, "champion")
