"""Model flavors: detection order, fitted checks, and exact save/load round trips on real data."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from loopml.core.errors import InvalidArgumentError, NotFittedError
from loopml.registry import flavors
from loopml.registry.flavors import (
    FLAVOR_NAMES,
    detect_flavor,
    get_flavor,
    library_versions,
)
from loopml.registry.flavors.base import Flavor, Predictor
from loopml.registry.python_model import PythonModel

Data = tuple[pd.DataFrame, pd.Series]


@cache
def binary() -> Data:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X, y


@cache
def iris_strings() -> Data:
    X, y = load_iris(return_X_y=True, as_frame=True)
    names = np.array(["setosa", "versicolor", "virginica"], dtype=object)
    return X, pd.Series(names[y.to_numpy()], name="species", dtype=object)


@cache
def iris_codes() -> Data:
    X, y = load_iris(return_X_y=True, as_frame=True)
    return X, y


@cache
def diabetes() -> Data:
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    return X, y


def round_trip(flavor: Flavor, model: Any, folder: Path) -> tuple[Predictor, dict[str, Any]]:
    flavor.check_fitted(model)
    folder.mkdir()
    details = flavor.save(model, folder)
    details = json.loads(json.dumps(details))  # details are JSON-ready
    return flavor.load(folder, details), details


def assert_same(original: Predictor, loaded: Predictor, frame: pd.DataFrame) -> None:
    assert loaded.classes == original.classes
    np.testing.assert_array_equal(loaded.predict(frame), original.predict(frame))
    assert loaded.predict(frame).shape == (len(frame),)
    proba, loaded_proba = original.predict_proba(frame), loaded.predict_proba(frame)
    if proba is None:
        assert loaded_proba is None
    else:
        assert loaded_proba is not None
        assert loaded_proba.shape == (len(frame), len(original.classes))
        np.testing.assert_allclose(loaded_proba, proba, rtol=0, atol=1e-12)


# --- scikit-learn -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "data", "classes"),
    [
        (lambda: LogisticRegression(max_iter=5000), binary, (0, 1)),
        (
            lambda: RandomForestClassifier(n_estimators=20, random_state=0),
            iris_strings,
            ("setosa", "versicolor", "virginica"),
        ),
        (Ridge, diabetes, ()),
    ],
    ids=["logistic-binary", "forest-iris-strings", "ridge-diabetes"],
)
def test_sklearn_round_trip(make: Any, data: Any, classes: tuple[Any, ...], tmp_path: Path) -> None:
    X, y = data()
    model = make().fit(X, y)
    flavor = detect_flavor(model)
    assert flavor.name == "sklearn"
    loaded, details = round_trip(flavor, model, tmp_path / "pkg")
    assert details["format"] == "pickle"
    assert details["estimator"] == f"{type(model).__module__}.{type(model).__qualname__}"
    assert (tmp_path / "pkg" / "model.pkl").is_file()
    assert loaded.classes == classes
    assert all(type(c) in {int, str} for c in loaded.classes)
    assert_same(flavor.wrap(model), loaded, X)


def test_sklearn_fitted_on_numpy_gets_numpy(tmp_path: Path) -> None:
    X, y = diabetes()
    model = LinearRegression().fit(X.to_numpy(), y.to_numpy())
    loaded, _ = round_trip(get_flavor("sklearn"), model, tmp_path / "pkg")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X.to_numpy()))
    assert loaded.predict_proba(X) is None


def test_pipeline_with_column_transformer_round_trips(tmp_path: Path) -> None:
    X, y = binary()
    X = X.assign(size=np.where(X["mean radius"] > 14, "large", "small"))
    model = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [
                        ("onehot", OneHotEncoder(handle_unknown="ignore"), ["size"]),
                        ("scale", StandardScaler(), list(X.columns[:-1])),
                    ]
                ),
            ),
            ("clf", LogisticRegression(max_iter=5000)),
        ]
    ).fit(X, y)
    flavor = detect_flavor(model)
    assert flavor.name == "sklearn"
    loaded, _ = round_trip(flavor, model, tmp_path / "pkg")
    assert loaded.classes == (0, 1)
    assert_same(flavor.wrap(model), loaded, X)
    unseen = X.head(5).assign(size="medium")  # handle_unknown='ignore'
    np.testing.assert_array_equal(loaded.predict(unseen), model.predict(unseen))


# --- XGBoost ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "data", "classes"),
    [
        (lambda: xgb.XGBClassifier(n_estimators=20, max_depth=3), binary, (0, 1)),
        (lambda: xgb.XGBClassifier(n_estimators=20, max_depth=3), iris_codes, (0, 1, 2)),
        (lambda: xgb.XGBRegressor(n_estimators=20, max_depth=3), diabetes, ()),
    ],
    ids=["classifier-binary", "classifier-iris", "regressor-diabetes"],
)
def test_xgboost_round_trip(make: Any, data: Any, classes: tuple[Any, ...], tmp_path: Path) -> None:
    X, y = data()
    model = make().fit(X, y)
    flavor = detect_flavor(model)
    assert flavor.name == "xgboost"
    loaded, details = round_trip(flavor, model, tmp_path / "pkg")
    assert details == {
        "estimator": f"xgboost.sklearn.{type(model).__name__}",
        "format": "ubj",
    }
    assert [p.name for p in (tmp_path / "pkg").iterdir()] == ["model.ubj"]
    assert loaded.classes == classes
    assert_same(flavor.wrap(model), loaded, X)


@pytest.mark.parametrize("objective", ["binary:logistic", "reg:squarederror"])
def test_xgboost_booster_round_trip(objective: str, tmp_path: Path) -> None:
    X, y = binary()
    booster = xgb.train(
        {"objective": objective, "max_depth": 3}, xgb.DMatrix(X, label=y), num_boost_round=10
    )
    flavor = detect_flavor(booster)
    assert flavor.name == "xgboost"
    loaded, details = round_trip(flavor, booster, tmp_path / "pkg")
    assert details["estimator"] == "xgboost.core.Booster"
    original = flavor.wrap(booster)
    assert_same(original, loaded, X)
    if objective == "binary:logistic":
        assert loaded.classes == (0, 1)
        np.testing.assert_array_equal(
            loaded.predict(X), (booster.predict(xgb.DMatrix(X)) > 0.5).astype(int)
        )
    else:
        np.testing.assert_array_equal(loaded.predict(X), booster.predict(xgb.DMatrix(X)))


# --- LightGBM -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "data", "objective", "classes"),
    [
        (
            lambda: lgb.LGBMClassifier(n_estimators=20, verbose=-1),
            binary,
            "binary",
            (0, 1),
        ),
        (
            lambda: lgb.LGBMClassifier(n_estimators=20, verbose=-1),
            iris_strings,
            "multiclass",
            ("setosa", "versicolor", "virginica"),
        ),
        (
            lambda: lgb.LGBMRegressor(n_estimators=20, verbose=-1),
            diabetes,
            "regression",
            (),
        ),
    ],
    ids=["classifier-binary", "classifier-iris-strings", "regressor-diabetes"],
)
def test_lightgbm_round_trip(
    make: Any, data: Any, objective: str, classes: tuple[Any, ...], tmp_path: Path
) -> None:
    X, y = data()
    model = make().fit(X, y)
    flavor = detect_flavor(model)
    assert flavor.name == "lightgbm"
    loaded, details = round_trip(flavor, model, tmp_path / "pkg")
    assert details == {
        "estimator": f"lightgbm.sklearn.{type(model).__name__}",
        "format": "text",
        "objective": objective,
        "classes": list(classes),
    }
    assert [p.name for p in (tmp_path / "pkg").iterdir()] == ["model.txt"]
    assert loaded.classes == classes
    assert_same(flavor.wrap(model), loaded, X)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_lightgbm_booster_round_trip(tmp_path: Path) -> None:
    X, y = binary()
    booster = lgb.train(
        {"objective": "binary", "verbose": -1}, lgb.Dataset(X, label=y), num_boost_round=10
    )
    flavor = detect_flavor(booster)
    assert flavor.name == "lightgbm"
    loaded, details = round_trip(flavor, booster, tmp_path / "pkg")
    assert details["objective"] == "binary"
    assert loaded.classes == (0, 1)
    assert_same(flavor.wrap(booster), loaded, X)
    proba = loaded.predict_proba(X)
    assert proba is not None
    np.testing.assert_allclose(proba[:, 1], booster.predict(X), rtol=0, atol=0)


def test_lightgbm_custom_objective_is_refused(tmp_path: Path) -> None:
    X, y = diabetes()

    def squared(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return y_pred - y_true, np.ones_like(y_pred)

    model = lgb.LGBMRegressor(n_estimators=5, objective=squared, verbose=-1).fit(X, y)
    with pytest.raises(InvalidArgumentError, match="custom objective function.*PythonModel"):
        get_flavor("lightgbm").save(model, tmp_path)
    assert list(tmp_path.iterdir()) == []


# --- generic ------------------------------------------------------------------------------


class Vocabulary(PythonModel):
    """Flags rows whose word is in a vocabulary file (an artifact)."""

    classes = (False, True)

    def __init__(self, path: Path) -> None:
        self.artifacts = {"vocab": path}
        self.words: set[str] = set()
        self.loaded_from: Path | None = None

    def load(self, artifacts: Mapping[str, Path]) -> None:
        self.loaded_from = artifacts["vocab"]
        self.words = set(artifacts["vocab"].read_text().split())

    def predict(self, frame: pd.DataFrame) -> Any:
        return frame["word"].isin(self.words).to_numpy()

    def predict_proba(self, frame: pd.DataFrame) -> Any:
        hit = self.predict(frame).astype(float)
        return np.column_stack([1 - hit, hit])


class Doubler:
    """Not a PythonModel, but it has a predict method."""

    def predict(self, frame: pd.DataFrame) -> Any:
        return frame[["x"]].to_numpy() * 2  # shape (n, 1): ravelled


class NoPredict:
    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame


def test_python_model_with_artifact_round_trips(tmp_path: Path) -> None:
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("apple\nbanana\n")
    model = Vocabulary(vocab)
    model.load({"vocab": vocab})
    flavor = detect_flavor(model)
    assert flavor.name == "generic"
    loaded, details = round_trip(flavor, model, tmp_path / "pkg")
    assert details == {
        "class": f"{__name__}.Vocabulary",
        "format": "cloudpickle",
        "python_model": True,
        "artifacts": {"vocab": "artifacts/vocab/vocab.txt"},
    }
    frame = pd.DataFrame({"word": ["apple", "cherry", "banana"]})
    assert_same(flavor.wrap(model), loaded, frame)  # wrap loads the original's artifacts
    vocab.unlink()  # the package has its own copy
    packaged = tmp_path / "pkg" / "artifacts" / "vocab" / "vocab.txt"
    assert packaged.read_text() == "apple\nbanana\n"
    inner = loaded.model  # type: ignore[attr-defined]
    assert isinstance(inner, Vocabulary)
    assert inner.loaded_from == packaged
    assert loaded.classes == (False, True)
    np.testing.assert_array_equal(loaded.predict(frame), [True, False, True])


def test_python_model_missing_artifact_is_named(tmp_path: Path) -> None:
    model = Vocabulary(tmp_path / "nope.txt")
    folder = tmp_path / "pkg"
    folder.mkdir()
    with pytest.raises(InvalidArgumentError, match=r"artifact 'vocab' of Vocabulary .*nope\.txt"):
        get_flavor("generic").save(model, folder)
    assert list(folder.iterdir()) == []


def test_object_with_predict_round_trips(tmp_path: Path) -> None:
    flavor = detect_flavor(Doubler())
    assert flavor.name == "generic"
    loaded, details = round_trip(flavor, Doubler(), tmp_path / "pkg")
    assert details["python_model"] is False
    assert details["artifacts"] == {}
    frame = pd.DataFrame({"x": [1.0, 2.5]})
    np.testing.assert_array_equal(loaded.predict(frame), [2.0, 5.0])
    assert loaded.predict_proba(frame) is None
    assert loaded.classes == ()


def test_class_defined_in_main_is_pickled_by_value(tmp_path: Path) -> None:
    script = (
        "import pathlib, sys\n"
        "from loopml.registry.python_model import PythonModel\n"
        "from loopml.registry.flavors import get_flavor\n"
        "class Plus(PythonModel):\n"
        "    def predict(self, frame):\n"
        "        return frame['x'] + 1\n"
        "print(get_flavor('generic').save(Plus(), pathlib.Path(sys.argv[1]))['class'])\n"
    )
    folder = tmp_path / "pkg"
    folder.mkdir()
    out = subprocess.run(
        [sys.executable, "-c", script, str(folder)], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "__main__.Plus"
    loaded = get_flavor("generic").load(folder, {"artifacts": {}})
    np.testing.assert_array_equal(loaded.predict(pd.DataFrame({"x": [1, 2]})), [2, 3])


# --- detection, fitted checks, registry ---------------------------------------------------


@pytest.mark.parametrize(
    ("model", "name"),
    [
        (xgb.XGBClassifier(), "xgboost"),
        (lgb.LGBMClassifier(), "lightgbm"),
        (Pipeline([("scale", StandardScaler()), ("lr", LogisticRegression())]), "sklearn"),
        (LogisticRegression(), "sklearn"),
        (Vocabulary(Path("vocab.txt")), "generic"),
        (Doubler(), "generic"),
    ],
    ids=["xgboost", "lightgbm", "pipeline", "logistic", "python-model", "plain-predict"],
)
def test_detection_order(model: object, name: str) -> None:
    assert detect_flavor(model).name == name


def test_transformer_without_predict_is_not_sklearn() -> None:
    assert not get_flavor("sklearn").detect(StandardScaler())
    assert not get_flavor("generic").detect(Doubler)  # a class, not a model


def test_object_without_predict_lists_supported_flavors() -> None:
    with pytest.raises(
        InvalidArgumentError,
        match=r"type tests\.registry\.test_flavors\.NoPredict: no model flavor supports it\. "
        r"Supported are scikit-learn estimators and Pipelines, XGBoost and LightGBM .*"
        r"ONNX ModelProto, any object with a callable predict.*PythonModel",
    ):
        detect_flavor(NoPredict())


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (
            LogisticRegression(),
            r"^The scikit-learn estimator LogisticRegression is not fitted: call fit\(X, y\) "
            r"before logging it\.$",
        ),
        (xgb.XGBClassifier(), r"XGBoost estimator XGBClassifier is not fitted: call fit"),
        (lgb.LGBMClassifier(), r"LightGBM estimator LGBMClassifier is not fitted: call fit"),
        (xgb.Booster(), r"XGBoost Booster has no trees"),
    ],
    ids=["sklearn", "xgboost", "lightgbm", "xgboost-booster"],
)
def test_unfitted_models_raise_not_fitted(model: object, message: str) -> None:
    with pytest.raises(NotFittedError, match=message):
        detect_flavor(model).check_fitted(model)


def test_get_flavor_suggests_a_close_name() -> None:
    with pytest.raises(
        InvalidArgumentError,
        match=r"Unknown model flavor 'skelarn'\. The flavor must be one of 'xgboost', .*"
        r"Did you mean 'sklearn'\?",
    ):
        get_flavor("skelarn")


def test_flavors_are_cached_and_described() -> None:
    for name in FLAVOR_NAMES:
        if name == "onnx":
            continue  # written separately
        flavor = get_flavor(name)
        assert flavor is get_flavor(name)
        assert flavor.name == name
    assert get_flavor("xgboost").uses_pickle is False
    assert get_flavor("lightgbm").uses_pickle is False
    assert get_flavor("sklearn").uses_pickle is True
    assert get_flavor("generic").uses_pickle is True


def test_detection_skips_a_flavor_module_that_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(flavors, "_instances", {})
    monkeypatch.setitem(sys.modules, "loopml.registry.flavors.onnx", None)
    assert detect_flavor(Doubler()).name == "generic"
    with pytest.raises(InvalidArgumentError, match="no model flavor supports it"):
        detect_flavor(NoPredict())


def test_library_versions_record_installed_distributions() -> None:
    assert set(library_versions(get_flavor("sklearn"))) == {"scikit-learn"}
    assert set(library_versions(get_flavor("lightgbm"))) == {"lightgbm"}
    assert set(library_versions(get_flavor("xgboost"))) <= {"xgboost-cpu", "xgboost"}
    assert library_versions(get_flavor("xgboost"))
    assert library_versions(get_flavor("generic"))["cloudpickle"].count(".") >= 1


def test_missing_library_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "lightgbm", None)  # import lightgbm -> ImportError
    with pytest.raises(ImportError, match=r"pip install 'loopml\[lightgbm\]'"):
        get_flavor("lightgbm").load(Path("unused"), {})


def test_import_loads_no_model_library() -> None:
    code = (
        "import sys; import loopml.registry.flavors as f; "
        "f.detect_flavor(type('M', (), {'predict': lambda self, x: x})()); "
        "print(','.join(m for m in ('sklearn', 'xgboost', 'lightgbm') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize(
    "make",
    [
        lambda: LogisticRegression(max_iter=5000),
        lambda: RandomForestClassifier(n_estimators=20, random_state=0),
        lambda: __import__("sklearn.ensemble", fromlist=["x"]).HistGradientBoostingClassifier(
            max_iter=20
        ),
        lambda: __import__("sklearn.neighbors", fromlist=["x"]).KNeighborsClassifier(),
        lambda: __import__("sklearn.naive_bayes", fromlist=["x"]).GaussianNB(),
        lambda: __import__("sklearn.calibration", fromlist=["x"]).CalibratedClassifierCV(
            __import__("sklearn.svm", fromlist=["x"]).SVC(), ensemble=False
        ),
    ],
)
def test_one_pass_predictions_equal_predict(make: Any) -> None:
    from sklearn.datasets import load_iris

    from loopml.registry.flavors.sklearn import SklearnPredictor

    X, y = load_iris(return_X_y=True, as_frame=True)
    labels = pd.Series(np.array(["setosa", "versicolor", "virginica"])[y], index=X.index)
    model = make().fit(X, labels)
    predictor = SklearnPredictor(model)
    predictions, proba = predictor.predict_with_proba(X)
    np.testing.assert_array_equal(predictions, model.predict(X))
    np.testing.assert_array_equal(proba, model.predict_proba(X))
