"""Guardrails on a real model: every input and output action, and the out-of-distribution
score against the training dataset's profile."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from loopml.core.errors import InvalidArgumentError
from loopml.core.settings import Settings
from loopml.registry import ModelRegistry
from loopml.registry.loaded import PREDICTORS
from loopml.serving import GuardrailRejectedError, Guardrails, InferenceService, ServeConfig
from loopml.store.backend import open_backend


@pytest.fixture
def setup(settings: Settings) -> Iterator[tuple[ModelRegistry, pd.DataFrame]]:
    PREDICTORS.clear()
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.iloc[:, :4]
    registry = ModelRegistry(open_backend(settings))
    train = registry.datasets.register("cancer", X.assign(target=y), target="target")
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    for _ in range(2):  # @1 is the fallback ("previous"), @2 the champion
        version = registry.register(
            model, "cancer", input_example=X.head(), training_data=train.ref
        )
        registry.approve(version.ref, comment="ok")
        registry.set_alias("cancer", "champion", version.version)
    yield registry, X
    PREDICTORS.clear()


def _serve(registry: ModelRegistry, rules: dict[str, Any], rows: Any) -> Any:
    service = InferenceService(
        registry.backend,
        ServeConfig(model="cancer@champion", guardrails=rules, poll_interval_s=0),
    )

    async def go() -> Any:
        try:
            return await service.predict(rows)
        finally:
            await service.stop()

    return asyncio.run(go()), service


def test_reject_clip_and_fallback_on_inputs(setup: tuple[ModelRegistry, pd.DataFrame]) -> None:
    registry, X = setup
    row = X.head(1).to_dict(orient="records")
    too_big = [{**row[0], "mean radius": 500.0}]
    with pytest.raises(GuardrailRejectedError, match="mean radius in \\[5.0, 30.0\\]"):
        _serve(registry, {"inputs": [{"column": "mean radius", "min": 5, "max": 30}]}, too_big)
    clipped, _ = _serve(
        registry,
        {"inputs": [{"column": "mean radius", "min": 5, "max": 30, "action": "clip"}]},
        too_big,
    )
    expected, _ = _serve(registry, {}, [{**row[0], "mean radius": 30.0}])
    assert clipped.route == "champion" and clipped.proba == expected.proba
    fell, service = _serve(
        registry,
        {"inputs": [{"column": "mean radius", "max": 30, "action": "fallback"}]},
        too_big,
    )
    assert (fell.route, fell.version) == ("fallback", 1)
    assert fell.reason is not None and "guardrail" in fell.reason
    assert service.metrics.value("loopml_fallbacks_total", reason="guardrail") == 1


def test_out_of_distribution_score_uses_the_training_profile(
    setup: tuple[ModelRegistry, pd.DataFrame],
) -> None:
    registry, X = setup
    rules = {"inputs": [{"ood": 0.4, "action": "fallback"}]}
    normal, _ = _serve(registry, rules, X.head(1))
    assert normal.route == "champion"
    strange = X.head(1).assign(**{"mean radius": 1e6, "mean texture": -5.0})
    odd, _ = _serve(registry, rules, strange)  # 2 of 4 columns never seen: score 0.5
    assert odd.route == "fallback" and "out-of-distribution" in (odd.reason or "")
    guard = Guardrails(rules, profile=registry.datasets.get("cancer@1").profile)
    assert guard.ood_scores(strange).tolist() == [0.5]


def test_output_rules(setup: tuple[ModelRegistry, pd.DataFrame]) -> None:
    registry, X = setup
    clipped, _ = _serve(registry, {"outputs": [{"clip": [0.2, 0.8]}]}, X.head(5))
    for row in clipped.proba:
        assert all(0.19 <= p <= 0.81 for p in row.values())
    strict, _ = _serve(registry, {"outputs": [{"threshold": 0.999999}]}, X.head(20))
    assert set(strict.predictions) <= {0, 1} and strict.predictions.count(1) < 20
    fell, _ = _serve(registry, {"outputs": [{"allowed": [1], "action": "fallback"}]}, X.head(20))
    assert fell.route == "fallback"


def test_bad_guardrails_are_refused(setup: tuple[ModelRegistry, pd.DataFrame]) -> None:
    with pytest.raises(InvalidArgumentError, match="inputs\\[0\\]: 'action' must be one of"):
        Guardrails({"inputs": [{"column": "a", "min": 1, "action": "explode"}]})
    with pytest.raises(InvalidArgumentError, match="min 5.0 is above max 1.0"):
        Guardrails({"inputs": [{"column": "a", "min": 5, "max": 1}]})
    with pytest.raises(InvalidArgumentError, match="no training dataset"):
        Guardrails({"inputs": [{"ood": 0.3}]})
    with pytest.raises(InvalidArgumentError, match="'threshold' must be a probability"):
        Guardrails({"outputs": [{"threshold": 2}]})
