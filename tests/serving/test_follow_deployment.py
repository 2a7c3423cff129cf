"""An inference service following its deployment record, in-process, with real models trained
on scikit-learn's breast cancer data: a changed record is applied whole (canary started,
resized, stopped; shadows; champion swapped), a version that fails to load keeps the old
routes (once per record version), a deleted record keeps the last routes, and requests in
flight never see half a change."""

from __future__ import annotations

import asyncio
import logging
import shutil
import threading
import time
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from loopml.core.errors import InvalidArgumentError, NotFoundError
from loopml.core.settings import Settings
from loopml.registry import ModelRegistry
from loopml.registry.loaded import PREDICTORS
from loopml.serving import InferenceService, ServeConfig
from loopml.serving.deployments import DeploymentService
from loopml.serving.routing import key_share
from loopml.store.backend import open_backend

NAME = "cancer"


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.Series]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X.iloc[:, :5], y


@pytest.fixture
def deployments(
    settings: Settings, data: tuple[pd.DataFrame, pd.Series]
) -> Iterator[DeploymentService]:
    """``cancer`` versions 1 and 2 (approved; champion -> 1) and ``prod`` at version 1:
    champion ``cancer@champion``, canary ``cancer@challenger`` (not set yet) at 0 %."""
    PREDICTORS.clear()
    registry = ModelRegistry(open_backend(settings))
    X, y = data
    for c in (1.0, 0.01):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=c)).fit(X, y)
        registry.approve(registry.register(model, NAME, input_example=X.head()).ref, comment="ok")
    registry.set_alias(NAME, "champion", 1)
    service = DeploymentService(registry)
    service.create("prod", champion=f"{NAME}@champion", canary=f"{NAME}@challenger")
    yield service
    PREDICTORS.clear()


def _serve(deployments: DeploymentService) -> InferenceService:
    config = ServeConfig(deployment="prod", poll_interval_s=0)  # the test polls by hand
    return InferenceService(deployments.registry.backend, config, seed=0)


def _follower(service: InferenceService) -> Any:
    follower = service._follower
    assert follower is not None
    return follower


def _routes(service: InferenceService) -> dict[str, str]:
    return dict(service.describe()["routes"])


def _answer(
    service: InferenceService, rows: pd.DataFrame, keys: list[str]
) -> list[tuple[str, int]]:
    async def main() -> list[tuple[str, int]]:
        results = [
            await service.predict(rows.iloc[[i % len(rows)]], key=k) for i, k in enumerate(keys)
        ]
        return [(r.route, r.version) for r in results]

    return asyncio.run(main())


def test_the_service_applies_each_new_version_of_the_record(
    deployments: DeploymentService, data: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, _ = data
    service = _serve(deployments)
    follower = _follower(service)
    assert _routes(service) == {"champion": "cancer@1"}  # the canary alias is not set yet
    assert follower.version == 1 and not follower.poll()  # nothing new
    keys = [f"customer-{i}" for i in range(300)]
    assert {route for route, _ in _answer(service, X, keys)} == {"champion"}

    deployments.registry.set_alias(NAME, "challenger", 2)
    deployments.set("prod", canary_share=20, reason="start")
    assert follower.poll() and follower.version == 2
    assert _routes(service) == {"champion": "cancer@1", "canary": "cancer@2"}
    expected = [("canary", 2) if key_share(k) * 100 < 20 else ("champion", 1) for k in keys]
    assert _answer(service, X, keys) == expected  # sticky by key, at the new share

    deployments.set("prod", canary_share=50, shadows=[f"{NAME}@1"])
    canary_slot = service.slots["canary"]
    assert follower.poll()
    assert service.slots["canary"] is canary_slot  # resized: nothing reloaded
    assert service.router.percent == 50 and _routes(service)["shadow"] == "cancer@1"

    deployments.set("prod", canary=None, shadows=[], champion=f"{NAME}@2")
    assert follower.poll()
    assert _routes(service) == {"champion": "cancer@2"}
    assert {answer for answer in _answer(service, X, keys[:50])} == {("champion", 2)}
    events = deployments.registry.backend.events.list_events(kind="deployment.applied")
    assert [e.data["version"] for e in events] == [2, 3, 4]
    asyncio.run(service.stop())


def test_a_version_that_fails_to_load_keeps_the_old_routes(
    deployments: DeploymentService,
    data: tuple[pd.DataFrame, pd.Series],
    caplog: pytest.LogCaptureFixture,
) -> None:
    X, y = data
    registry = deployments.registry
    service = _serve(deployments)
    follower = _follower(service)
    broken = registry.register(
        LogisticRegression(max_iter=5000).fit(X, y), NAME, input_example=X.head()
    )
    manifest = registry.manifest(broken)
    PREDICTORS.clear()
    for entry in manifest.files:  # its package is gone: it cannot load
        for path in registry.cache_dir.parent.parent.rglob(f"*{entry.digest[2:]}*"):
            path.unlink()
    shutil.rmtree(registry.cache_dir, ignore_errors=True)
    deployments.set("prod", champion=broken.ref, reason="try v3")  # its metadata is fine
    with caplog.at_level(logging.ERROR, logger="loopml.serving"):
        assert not follower.poll()
    assert _routes(service) == {"champion": "cancer@1"} and follower.version == 1
    assert (
        "version 2 (champion cancer@3, canary cancer@challenger at 0%, fallback previous)"
        in caplog.text
    )
    assert (
        "could not be applied" in caplog.text and "version 1's routes keep serving" in caplog.text
    )
    assert {answer for answer in _answer(service, X, ["a", "b"])} == {("champion", 1)}
    assert not follower.poll()  # the same record version is not retried in a loop
    failed = registry.backend.events.list_events(kind="deployment.apply_failed")
    assert [(e.subject, e.data["version"], e.data["served"]) for e in failed] == [
        ("deployment:prod", 2, 1)
    ]
    deployments.set("prod", champion=f"{NAME}@2", reason="back to a good one")
    assert follower.poll() and _routes(service) == {"champion": "cancer@2"}
    asyncio.run(service.stop())


def test_a_deleted_record_leaves_the_last_routes_serving(
    deployments: DeploymentService, caplog: pytest.LogCaptureFixture
) -> None:
    service = _serve(deployments)
    deployments.delete("prod", reason="retired")
    with caplog.at_level(logging.WARNING, logger="loopml.serving"):
        assert not _follower(service).poll()
        assert not _follower(service).poll()
    assert caplog.text.count("Deployment prod was deleted; this server keeps serving") == 1
    assert _routes(service) == {"champion": "cancer@1"}
    asyncio.run(service.stop())


def test_serve_a_model_or_a_deployment(deployments: DeploymentService) -> None:
    backend = deployments.registry.backend
    with pytest.raises(InvalidArgumentError, match="either a model .'cancer@1'. or a deployment"):
        InferenceService(backend, ServeConfig(model="cancer@1", deployment="prod"))
    with pytest.raises(InvalidArgumentError, match="Nothing to serve: give a model ref"):
        InferenceService(backend, ServeConfig())
    with pytest.raises(NotFoundError, match="no deployment 'prd'.*Did you mean 'prod'"):
        InferenceService(backend, ServeConfig(deployment="prd"))
    service = _serve(deployments)
    other = ServeConfig(model="other@1", poll_interval_s=0)
    with pytest.raises(
        InvalidArgumentError, match="serves model 'cancer'; the new routes' champion"
    ):
        service.apply(other)
    assert _routes(service) == {"champion": "cancer@1"}
    asyncio.run(service.stop())


def test_requests_in_flight_never_see_half_a_change(
    deployments: DeploymentService, data: tuple[pd.DataFrame, pd.Series]
) -> None:
    """Requests keep coming while the routes flip 40 times between the champion alone and a
    canary at 50 % with a shadow: none fails, and each is answered by a version its route
    served at that moment (a route read from one change and a slot from another would fail
    or answer from the wrong version)."""
    X, _ = data
    deployments.registry.set_alias(NAME, "challenger", 2)
    service = _serve(deployments)
    alone = service.config
    both = ServeConfig(
        model=alone.model, canary=("cancer@challenger", 50), shadow="cancer@1", poll_interval_s=0
    )
    flipping = threading.Event()  # set after 40 flips
    answered = threading.Event()  # set after 200 answers: flips go on until both hold

    def flip() -> None:
        i = 0
        while i < 40 or not answered.is_set():
            service.apply(both if i % 2 == 0 else alone)
            i += 1
            if i >= 40:
                flipping.set()
            time.sleep(0.002)  # let requests in between flips, however fast the machine

    async def main() -> list[tuple[str, int]]:
        answers = []
        flipper = threading.Thread(target=flip)
        flipper.start()
        i = 0
        while not flipping.is_set() or i < 200:
            batch = [service.predict(X.iloc[[(i + j) % len(X)]], key=f"k{i + j}") for j in range(8)]
            answers += [(r.route, r.version) for r in await asyncio.gather(*batch)]
            i += 8
        answered.set()
        flipper.join()
        await service.stop()
        return answers

    answers = asyncio.run(main())
    assert len(answers) >= 200
    assert set(answers) <= {("champion", 1), ("canary", 2)}
    assert ("canary", 2) in set(answers) and ("champion", 1) in set(answers)


def test_aliases_inside_the_record_are_followed_as_before(
    deployments: DeploymentService, caplog: pytest.LogCaptureFixture
) -> None:
    registry = deployments.registry
    service = _serve(deployments)
    assert service.describe()["routes"] == {"champion": "cancer@1"}
    registry.set_alias(NAME, "champion", 2, reason="promote")
    with caplog.at_level(logging.INFO, logger="loopml.serving"):
        assert service.refresh()  # the record did not change; its champion alias moved
    assert service.describe()["routes"] == {"champion": "cancer@2", "fallback": "cancer@1"}
    assert service.describe()["deployment_version"] == 1
    assert "cancer@champion now serves cancer@2 (was cancer@1); fallback: cancer@1" in caplog.text
    assert not service.refresh()  # nothing moved since
    asyncio.run(service.stop())
