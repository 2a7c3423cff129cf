"""Fixtures of the agent's tests: a store on each backend with real data and a real champion
(the ``world``), loop policies as mappings, and real served traffic with its delayed labels.

The world: dataset ``cancer@1`` (150 tumours), ``cancer-holdout@1`` (119 others), model
``cancer@1`` (a weak champion: two uninformative features; approved, ``champion``) and the
deployment ``prod`` serving ``cancer@champion``. Traffic is answered by an inference service
following ``prod`` in this process (so a canary the agent starts takes its share), logged to
the store's prediction log, then labeled with the tumours' real diagnosis.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pytest

from loopml.client.fluent import reset_client
from loopml.core.settings import Settings
from loopml.data import DatasetService
from loopml.health.labels import LabelService
from loopml.registry import ModelRegistry
from loopml.registry.loaded import PREDICTORS
from loopml.serving import InferenceService, ServeConfig
from loopml.serving.deployments import DeploymentService
from loopml.store.backend import Backend, open_backend
from tests.automation.training import FEATURES, TARGET, cancer, weak

GATE = {"name": "offline", "rules": [{"metric": "accuracy", "min": 0.8}]}


@pytest.fixture
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The test's store in the environment too, so training functions (run by the agent in
    this process, or by ``loopml agent`` in a child) read it through the SDK."""
    for name, value in (
        ("LOOPML_HOME", settings.home),
        ("LOOPML_DB_URL", settings.db_url),
        ("LOOPML_ARTIFACTS_URL", settings.artifacts_url),
        ("LOOPML_LOGS_URL", settings.logs_url),
        ("LOOPML_CAPTURE_ENV", "false"),
    ):
        monkeypatch.setenv(name, str(value))
    reset_client()
    PREDICTORS.clear()
    yield settings
    reset_client()
    PREDICTORS.clear()


@dataclass
class World:
    """The store the agent works on, and the data."""

    settings: Settings
    backend: Backend
    frame: pd.DataFrame
    registry: ModelRegistry
    deployments: DeploymentService
    datasets: DatasetService

    def new_data(self, rows: slice = slice(0, 300)) -> str:
        """Register the next version of dataset ``cancer`` (what a dataset trigger sees)."""
        return self.datasets.register("cancer", plain(self.frame.iloc[rows]), target=TARGET).ref

    def serve(self, rows: slice = slice(150, 450), *, label: bool = True) -> list[tuple[str, int]]:
        """Send these tumours through a server following ``prod`` (one request each, keyed
        by the tumour's id), flush its log into the store; then log their labels."""
        chosen = self.frame.iloc[rows]
        config = ServeConfig(
            deployment="prod",
            poll_interval_s=0,
            compact_interval_s=0,
            spool_dir=self.settings.home / "spool" / "test-server",
            logs_url=self.settings.logs_url,
        )
        service = InferenceService(self.backend, config, seed=0)

        async def main() -> list[tuple[str, int]]:
            answers = []
            for row_id, row in chosen[FEATURES].iterrows():
                result = await service.predict(
                    row.to_frame().T.astype(float), key=str(row_id), ids=[str(row_id)]
                )
                answers.append((result.route, result.version))
            await service.stop()
            return answers

        answers = asyncio.run(main())
        if label:
            LabelService(self.backend).log_labels(
                "cancer", [str(i) for i in chosen.index], chosen[TARGET].tolist()
            )
        return answers

    def events(self, kind: str | None = None, subject: str | None = None) -> list[Any]:
        return self.backend.events.list_events(kind=kind, subject=subject)


def plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows without their id index (datasets hold the columns only)."""
    return frame.reset_index(drop=True)


@pytest.fixture
def world(env: Settings) -> World:
    frame = cancer()
    backend = open_backend(env)
    datasets = DatasetService(backend)
    datasets.register("cancer", plain(frame.iloc[:150]), target=TARGET)
    datasets.register("cancer-holdout", plain(frame.iloc[450:]), target=TARGET)
    registry = ModelRegistry(backend)
    champion = registry.register(weak(frame.iloc[:150]), "cancer", training_data="cancer@1")
    registry.approve(champion.ref, comment="the first model")
    registry.set_alias("cancer", "champion", 1)
    deployments = DeploymentService(registry)
    deployments.create("prod", champion="cancer@champion")
    return World(env, backend, frame, registry, deployments, datasets)


def policy(**changes: Any) -> dict[str, Any]:
    """The tests' policy (retrain ``cancer`` when dataset ``cancer`` has a new version,
    canary at 50%, promote on 60 labeled rows), with top-level fields or sections replaced
    or merged (``release={"mode": "shadow"}``)."""
    base: dict[str, Any] = {
        "name": "cancer-loop",
        "model": "cancer",
        "deployment": "prod",
        "triggers": [{"dataset": "cancer"}],
        "train": {
            "pipeline": "tests.automation.training:fit",
            "params": {"c": 1.0},
            "data": "cancer@latest",
        },
        "evaluate": {
            "datasets": ["cancer-holdout@latest"],
            "gate": copy.deepcopy(GATE),
            "resamples": 100,
        },
        "release": {"mode": "canary", "share": 50},
        "promote": {"min_labeled": 60, "metric": "accuracy"},
        "rollback": {"metric_drop": 0.02, "max_error_rate": 0.2},
        "approval": "none",
    }
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return base
