"""Deployment records through the service, on SQLite and PostgreSQL, with real models trained
on scikit-learn's breast cancer data: create, set, history, delete; refs checked (a canary
alias not set yet is accepted at share 0 only); every bad input names the field and the fix."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

from loopml.core.entities import CanaryRoute
from loopml.core.errors import (
    AlreadyExistsError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
)
from loopml.core.settings import Settings
from loopml.registry import ModelRegistry
from loopml.registry.loaded import PREDICTORS
from loopml.serving.deployments import DeploymentService
from loopml.store.backend import open_backend

NAME = "cancer"
GUARDRAILS = {"inputs": [{"column": "mean radius", "min": 0, "max": 50, "action": "clip"}]}


@pytest.fixture(scope="module")
def fitted() -> tuple[list[LogisticRegression], pd.DataFrame]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.iloc[:, :4]
    models = [LogisticRegression(C=c, max_iter=500).fit(X, y) for c in (1.0, 0.1, 0.01)]
    return models, X


@pytest.fixture
def registry(
    settings: Settings, fitted: tuple[list[LogisticRegression], pd.DataFrame]
) -> Iterator[ModelRegistry]:
    """``cancer`` versions 1-3 (approved; champion -> 1) and ``other`` version 1."""
    PREDICTORS.clear()
    registry = ModelRegistry(open_backend(settings))
    models, X = fitted
    for model in models:
        version = registry.register(model, NAME, input_example=X.head())
        registry.approve(version.ref, comment="ok")
    registry.register(models[0], "other", input_example=X.head())
    registry.set_alias(NAME, "champion", 1)
    yield registry
    PREDICTORS.clear()


@pytest.fixture
def deployments(registry: ModelRegistry) -> DeploymentService:
    return DeploymentService(registry)


def test_create_set_and_history(deployments: DeploymentService, tmp_path: Path) -> None:
    created = deployments.create(
        "prod", champion=f"{NAME}@champion", shadows=[f"{NAME}@3"], reason="first"
    )
    assert (created.version, created.champion, created.shadows) == (
        1,
        "cancer@champion",
        ("cancer@3",),
    )
    assert (created.canary, created.fallback, created.runtime) == (None, "previous", "auto")
    assert created.created_by == created.updated_by == deployments.registry.actor
    assert deployments.get("prod") == created
    deployments.registry.set_alias(NAME, "challenger", 2)
    started = deployments.set(
        "prod", canary=f"{NAME}@challenger", canary_share=20, reason="start the canary"
    )
    assert started.version == 2 and started.canary == CanaryRoute("cancer@challenger", 20.0)
    assert started.created_at == created.created_at and started.shadows == created.shadows
    rules = tmp_path / "rules.yaml"
    rules.write_text("inputs:\n  - {column: mean radius, min: 0, max: 50, action: clip}\n")
    resized = deployments.set("prod", canary_share=50, guardrails=rules, fallback="value:0")
    assert resized.canary == CanaryRoute("cancer@challenger", 50.0)
    assert resized.guardrails == GUARDRAILS and resized.fallback == "value:0"
    stopped = deployments.set("prod", canary=None, shadows=[], champion=f"{NAME}@2")
    assert (stopped.version, stopped.canary, stopped.shadows) == (4, None, ())
    assert [d.name for d in deployments.list_deployments()] == ["prod"]
    history = deployments.history("prod")
    assert [(e.kind, e.data["version"]) for e in history] == [
        ("deployment.created", 1),
        ("deployment.changed", 2),
        ("deployment.changed", 3),
        ("deployment.changed", 4),
    ]
    assert [e.reason for e in history[:2]] == ["first", "start the canary"]
    assert history[0].data["before"] is None and history[0].data["after"] == created.routes()
    for before, after in itertools.pairwise(history):  # a chain: nothing lost
        assert after.data["before"] == before.data["after"]
    assert history[1].data["changed"] == ["canary"]
    assert history[3].data["changed"] == ["champion", "canary", "shadows"]
    assert history[1].links == {"champion": "cancer@champion", "canary": "cancer@challenger"}
    assert all(e.subject == "deployment:prod" for e in history)


def test_a_set_that_changes_nothing_writes_nothing(deployments: DeploymentService) -> None:
    deployments.create("prod", champion=f"{NAME}@champion")
    again = deployments.set("prod", champion=f"{NAME}@champion", fallback="previous")
    assert again.version == 1 and len(deployments.history("prod")) == 1
    assert deployments.set("prod", canary=None).version == 1  # no canary to stop


def test_a_stale_expected_version_is_refused(deployments: DeploymentService) -> None:
    deployments.create("prod", champion=f"{NAME}@champion")
    read = deployments.get("prod")
    deployments.set("prod", shadows=[f"{NAME}@2"], reason="someone else")
    with pytest.raises(ConflictError, match=r"is at version 2, not 1 as expected.*deploy show"):
        deployments.set("prod", champion=f"{NAME}@3", expected_version=read.version)
    assert deployments.get("prod").champion == "cancer@champion"
    assert deployments.set("prod", champion=f"{NAME}@3", expected_version=2).version == 3
    with pytest.raises(ConflictError, match="not 2 as expected"):
        deployments.delete("prod", expected_version=2)


def test_delete_keeps_history_and_numbering_goes_on(deployments: DeploymentService) -> None:
    deployments.create("prod", champion=f"{NAME}@champion")
    gone = deployments.delete("prod", reason="retired")
    assert gone.version == 1
    with pytest.raises(NotFoundError, match=r"There is no deployment 'prod' \(deployments: none"):
        deployments.get("prod")
    assert deployments.create("prod", champion=f"{NAME}@2").version == 3
    kinds = [e.kind for e in deployments.history("prod")]
    assert kinds == ["deployment.created", "deployment.deleted", "deployment.created"]
    with pytest.raises(AlreadyExistsError, match="exists .version 3.*loopml deploy set prod"):
        deployments.create("prod", champion=f"{NAME}@champion")
    with pytest.raises(NotFoundError, match="no deployment 'prd'.*Did you mean 'prod'"):
        deployments.history("prd")


def test_a_canary_alias_not_set_yet_is_accepted_at_share_zero_only(
    deployments: DeploymentService,
) -> None:
    created = deployments.create(
        "prod", champion=f"{NAME}@champion", canary=f"{NAME}@challenger", canary_share=0
    )
    assert created.canary == CanaryRoute("cancer@challenger", 0.0)
    with pytest.raises(NotFoundError, match=r"field 'canary'.*no alias 'challenger'.*share 0"):
        deployments.set("prod", canary_share=20)
    with pytest.raises(NotFoundError, match="field 'canary'.*no alias 'challenger'"):
        deployments.create(
            "p2", champion=f"{NAME}@champion", canary=f"{NAME}@challenger", canary_share=5
        )
    # at 0 the model must exist, and a version number must exist
    with pytest.raises(NotFoundError, match="field 'canary'.*No model named 'nosuch'"):
        deployments.set("prod", canary="nosuch@challenger", canary_share=0)
    with pytest.raises(NotFoundError, match="field 'canary'.*has no version 9"):
        deployments.set("prod", canary=f"{NAME}@9", canary_share=0)
    deployments.registry.set_alias(NAME, "challenger", 2)
    assert deployments.set("prod", canary_share=20).canary == CanaryRoute("cancer@challenger", 20)


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"name": "bad name!"}, InvalidArgumentError, "Deployment name 'bad name!' is not valid"),
        (
            {"champion": "cancer"},
            InvalidArgumentError,
            "field 'champion' is 'cancer': name a version or an alias.*'cancer@champion'",
        ),
        ({"champion": "cancer@latest"}, InvalidArgumentError, "field 'champion'.*not the latest"),
        ({"champion": "cancer@Champ"}, InvalidArgumentError, "field 'champion'.*'name@alias'"),
        ({"champion": "cancer@9"}, NotFoundError, "field 'champion'.*has no version 9"),
        (
            {"champion": "cancer@nosuch"},
            NotFoundError,
            "field 'champion'.*no alias 'nosuch'.*loopml models alias",
        ),
        (
            {"canary": "cancer@2", "canary_share": 101},
            InvalidArgumentError,
            r"field 'canary.share' must be a percentage in \[0, 100\]. Got 101.*--canary-share 20",
        ),
        (
            {"canary": "cancer@2", "canary_share": True},
            InvalidArgumentError,
            "field 'canary.share'.*Got True",
        ),
        (
            {"canary_share": 5},
            InvalidArgumentError,
            "field 'canary.share' is 5 but there is no canary.*--canary REF:SHARE",
        ),
        ({"canary": "cancer@champion"}, InvalidArgumentError, "field 'canary'.*the champion's ref"),
        (
            {"shadows": ["cancer@2", "cancer@2"]},
            InvalidArgumentError,
            r"field 'shadows\[1\]' is 'cancer@2' a second time",
        ),
        (
            {"shadows": ["cancer@champion"]},
            InvalidArgumentError,
            "field 'shadows'.*the champion's ref",
        ),
        ({"shadows": ["cancer@7"]}, NotFoundError, r"field 'shadows\[0\]'.*has no version 7"),
        (
            {"fallback": 3},
            InvalidArgumentError,
            "field 'fallback' must be 'previous', a ref.*Got 3",
        ),
        ({"fallback": "cancer@8"}, NotFoundError, "field 'fallback'.*has no version 8"),
        (
            {"fallback": "value:[1]"},
            InvalidArgumentError,
            "field 'fallback'.*one number, text or boolean",
        ),
        (
            {"fallback": "python:no_such_module:f"},
            InvalidArgumentError,
            "field 'fallback'.*Cannot import",
        ),
        (
            {"guardrails": "missing.yaml"},
            InvalidArgumentError,
            "field 'guardrails': there is no file 'missing.yaml'",
        ),
        (
            {"guardrails": {"inputs": [{"ood": 0.3}]}},
            InvalidArgumentError,
            "field 'guardrails'.*no training dataset.*training_data=",
        ),
        (
            {"guardrails": {"inputs": [{"column": "x", "min": 1, "max": 0}]}},
            InvalidArgumentError,
            r"field 'guardrails'.*inputs\[0\]: min 1.0 is above max 0.0",
        ),
        ({"guardrails": ["inputs"]}, InvalidArgumentError, "field 'guardrails' must be a mapping"),
        (
            {"runtime": "gpu"},
            InvalidArgumentError,
            "'runtime' must be one of auto, native, onnx. Got 'gpu'",
        ),
        (
            {"runtime": "onnx"},
            NotFoundError,
            "field 'runtime'.*no ONNX export.*loopml models export",
        ),
    ],
)
def test_bad_input_names_the_field_and_the_fix(
    deployments: DeploymentService, change: dict[str, object], error: type[Exception], message: str
) -> None:
    fields: dict[str, object] = {"champion": f"{NAME}@champion"} | change
    name = str(fields.pop("name", "prod"))
    with pytest.raises(error, match=message):
        deployments.create(name, **fields)  # type: ignore[arg-type]
    assert deployments.list_deployments() == []  # nothing written


def test_bad_changes_name_the_field_and_write_nothing(deployments: DeploymentService) -> None:
    deployments.create("prod", champion=f"{NAME}@champion")
    for change, error, message in [
        ({}, InvalidArgumentError, "Nothing to change in deployment 'prod'.*--canary-share"),
        ({"canary_share": 10}, InvalidArgumentError, "has no canary to resize.*--canary REF:10"),
        (
            {"champion": "other@1"},
            InvalidArgumentError,
            "'other@1' is a version of 'other', but this deployment serves model 'cancer'",
        ),
        (
            {"canary": None, "canary_share": 5},
            InvalidArgumentError,
            "share was given while the canary is stopped",
        ),
        (
            {"expected_version": 0},
            InvalidArgumentError,
            "'expected_version' must be a version number",
        ),
        ({"shadows": "cancer@9"}, NotFoundError, r"'shadows\[0\]'.*no version 9"),
    ]:
        with pytest.raises(error, match=message):  # type: ignore[arg-type]
            deployments.set("prod", **change)  # type: ignore[arg-type]
    with pytest.raises(
        NotFoundError, match="There is no deployment 'nope'.*loopml deploy create nope"
    ):
        deployments.set("nope", canary_share=1)
    assert len(deployments.history("prod")) == 1
