"""The same pipeline on the three executors (Ray for real, local): equal results, and on
``process`` and ``ray`` the two independent branches run at the same time (each waits for the
other to start, and their worker timestamps overlap)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from loopml.compute import EXECUTORS
from loopml.core.settings import Settings
from tests.pipelines import flows


@pytest.fixture(params=EXECUTORS)
def executor(request: pytest.FixtureRequest) -> str:
    if request.param == "ray":
        request.getfixturevalue("ray_local")
    return str(request.param)


def test_every_executor_gives_what_inprocess_gives(executor: str, settings: Settings) -> None:
    reference = flows.train.run(settings=settings, n_estimators=8)
    result = flows.train.run(settings=settings, n_estimators=8, executor=executor, force=True)
    assert result.executor == executor
    assert not any(step.cache_hit for step in result.steps.values())
    assert result.outputs["accuracy"] == reference.outputs["accuracy"]
    features = flows.load_cancer().drop(columns="target")
    np.testing.assert_array_equal(
        result.outputs["model"].predict_proba(features),
        reference.outputs["model"].predict_proba(features),
    )
    for name, step in result.steps.items():  # same code, params and inputs: same keys
        assert step.cache_key == reference.steps[name].cache_key
        assert step.outputs[0].kind == reference.steps[name].outputs[0].kind


@pytest.mark.parametrize("name", ["process", "ray"])
def test_independent_branches_overlap(
    name: str, settings: Settings, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if name == "ray":
        request.getfixturevalue("ray_local")
    rendezvous = tmp_path / "rendezvous"
    rendezvous.mkdir()
    result = flows.fork.run(
        settings=settings, executor=name, max_workers=2, rows=50, rendezvous=str(rendezvous)
    )
    assert result.outputs == 2 * sum(range(50))
    left, right = result.steps["branch"], result.steps["branch-2"]
    assert left.started_at is not None and left.ended_at is not None
    assert right.started_at is not None and right.ended_at is not None
    assert left.started_at < right.ended_at and right.started_at < left.ended_at
    join = result.steps["join"]
    assert join.started_at is not None and join.started_at >= max(left.ended_at, right.ended_at)


def test_inprocess_runs_the_branches_one_after_the_other(settings: Settings) -> None:
    result = flows.fork.run(settings=settings, rows=50)
    left, right = result.steps["branch"], result.steps["branch-2"]
    assert left.ended_at is not None and right.started_at is not None
    assert left.ended_at <= right.started_at
