"""Scoring inside an evaluation: the model's own failures are stored as "not computable",
loopml's bugs raise (a real model on scikit-learn's breast cancer data)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

from loopml.core.settings import Settings
from loopml.evaluation import EvaluationService
from loopml.registry import PythonModel
from loopml.registry.enforce import InputEnforcer
from loopml.registry.loaded import PREDICTORS
from loopml.store.backend import open_backend


class Refuses(PythonModel):
    """A model whose own code fails on large batches (it scores its 5-row input example)."""

    classes = (0, 1)

    def predict_proba(self, frame: pd.DataFrame) -> Any:
        if len(frame) > 5:
            raise ValueError("Input contains NaN, infinity or a value too large")
        return np.full((len(frame), 2), 0.5)

    def predict(self, frame: pd.DataFrame) -> Any:
        return (self.predict_proba(frame)[:, 1] > 0.5).astype(int)


@pytest.fixture
def setup(settings: Settings) -> Iterator[tuple[EvaluationService, dict[str, str]]]:
    PREDICTORS.clear()
    service = EvaluationService(open_backend(settings))
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.iloc[:, :5]
    data = service.datasets.register("cancer", X.assign(target=y), target="target").ref
    good = LogisticRegression(max_iter=500).fit(X, y)
    refs = {
        "data": data,
        "good": service.registry.register(good, "clf", input_example=X.head()).ref,
        "refuses": service.registry.register(Refuses(), "clf", input_example=X.head()).ref,
    }
    yield service, refs
    PREDICTORS.clear()


def test_the_models_own_failure_is_stored_as_not_computable(
    setup: tuple[EvaluationService, dict[str, str]],
) -> None:
    service, refs = setup
    evaluation = service.evaluate(
        refs["refuses"], datasets=[refs["data"]], baseline=None, resamples=0, costs=False
    )
    auc = evaluation.datasets[0].metric("roc_auc")
    assert auc is not None and auc.value is None
    assert "failed on these rows (ValueError: Input contains NaN" in auc.reason


def test_a_loopml_bug_while_scoring_raises_and_stores_nothing(
    setup: tuple[EvaluationService, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    service, refs = setup

    def bug(self: InputEnforcer, data: Any) -> pd.DataFrame:
        raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")

    monkeypatch.setattr(InputEnforcer, "enforce", bug)
    with pytest.raises(TypeError, match="unsupported operand"):
        service.evaluate(
            refs["good"], datasets=[refs["data"]], baseline=None, resamples=0, costs=False
        )
    assert service.list("clf") == []
