"""loopml.monitoring.log_labels: the SDK's front of the label service, on the default store,
whose spool (``.loopml/spool``) and log store are searched for the ids."""

from __future__ import annotations

import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

import loopml
import loopml.monitoring
from loopml.core.entities import LabelSummary
from loopml.core.settings import Settings
from loopml.registry import ModelRegistry
from loopml.store.backend import open_backend
from loopml.store.logs import PredictionLog, PredictionRecord


@pytest.mark.usefixtures("store_env")
def test_log_labels_through_the_sdk(settings: Settings) -> None:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.iloc[:, :3]
    registry = ModelRegistry(open_backend(settings))
    version = registry.register(
        LogisticRegression(max_iter=500).fit(X, y), "cancer", input_example=X.head()
    )
    plog = PredictionLog(settings.home / "spool" / "cancer-1", flush_interval=0.05)
    plog.append(
        PredictionRecord(
            prediction_id="p1",
            model="cancer",
            version=1,
            route="champion",
            at=1,
            latency_ms=1.0,
            inputs={},
            output=1,
        )
    )
    plog.close()
    summary = loopml.monitoring.log_labels(version.ref, ["p1", "p2", "p3"], [1, 0, "0"])
    assert isinstance(summary, LabelSummary)
    assert (summary.matched, summary.unknown, summary.bad_type) == (1, 1, 1)
    assert "log_labels" in loopml.monitoring.__all__
