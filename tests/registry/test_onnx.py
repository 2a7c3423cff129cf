"""ONNX flavor and export: real scikit-learn models on bundled data, checked against onnxruntime."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.ensemble import (
    GradientBoostingClassifier,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from loopml.core.entities.data import ColumnRole, ColumnSchema
from loopml.core.errors import InvalidArgumentError, ModelExportError
from loopml.registry.flavors.onnx import OnnxFlavor, OnnxPredictor
from loopml.registry.onnx_export import (
    EquivalenceReport,
    check_equivalence,
    convert_sklearn,
    export_onnx,
)


class SklearnAdapter:
    """The Predictor convention over a fitted estimator (the sklearn flavor is separate)."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.classes: tuple[Any, ...] = tuple(getattr(model, "classes_", ()))

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model.predict(frame)).ravel()

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray | None:
        if not hasattr(self.model, "predict_proba"):
            return None
        return np.asarray(self.model.predict_proba(frame))


def schema(frame: pd.DataFrame) -> list[ColumnSchema]:
    out = []
    for name, dtype in frame.dtypes.items():
        if pd.api.types.is_float_dtype(dtype):
            out.append(ColumnSchema(str(name), "double", ColumnRole.NUMERIC, False))
        elif pd.api.types.is_integer_dtype(dtype):
            out.append(ColumnSchema(str(name), "int64", ColumnRole.NUMERIC, False))
        else:
            out.append(ColumnSchema(str(name), "string", ColumnRole.CATEGORICAL, False))
    return out


def split(loader: Any) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    x, y = loader(return_X_y=True, as_frame=True)
    return train_test_split(x, y, test_size=0.3, random_state=0)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def cancer() -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    return split(load_breast_cancer)


@pytest.fixture(scope="module")
def mixed() -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    x = x.iloc[:, :8].copy()
    x["size"] = pd.cut(x["mean radius"], 3, labels=["small", "medium", "large"]).astype(str)
    x["count"] = (x["mean texture"] // 5).astype("int64")
    return train_test_split(x, y, test_size=0.3, random_state=0)  # type: ignore[no-any-return]


def mixed_pipeline(frame: pd.DataFrame, clf: Any) -> Pipeline:
    numeric = [c for c in frame.columns if c != "size"]
    prep = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["size"]),
            ("num", StandardScaler(), numeric),
        ]
    )
    return Pipeline([("prep", prep), ("clf", clf)])


CLASSIFIERS = [
    pytest.param(lambda: LogisticRegression(max_iter=5000), id="logistic"),
    pytest.param(lambda: RandomForestClassifier(n_estimators=20, random_state=0), id="forest"),
    pytest.param(
        lambda: GradientBoostingClassifier(n_estimators=20, max_depth=2, random_state=0),
        id="boosting",
    ),
]


@pytest.mark.parametrize("make", CLASSIFIERS)
@pytest.mark.parametrize("loader", [load_breast_cancer, load_iris], ids=["binary", "iris"])
def test_classifier_export_passes_default_tolerance(make: Any, loader: Any) -> None:
    x_train, x_test, y_train, _ = split(loader)
    model = make().fit(x_train, y_train)
    data, report = export_onnx(model, SklearnAdapter(model), schema(x_train), x_test)
    assert report.passed, report.detail
    assert report.rows == len(x_test)
    assert report.tolerance == 1e-5
    assert report.max_abs_diff <= 1e-5
    assert report.differing_rows == 0
    exported = OnnxPredictor.from_bytes(data)
    assert exported.classes == tuple(model.classes_.tolist())
    np.testing.assert_array_equal(exported.predict(x_test), model.predict(x_test))


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: RandomForestRegressor(n_estimators=20, random_state=0), id="forest"),
        pytest.param(LinearRegression, id="linear"),
    ],
)
def test_regressor_export_passes_default_tolerance(make: Any) -> None:
    x_train, x_test, y_train, _ = split(load_diabetes)
    model = make().fit(x_train, y_train)
    data, report = export_onnx(model, SklearnAdapter(model), schema(x_train), x_test)
    assert report.passed, report.detail
    assert report.max_abs_diff <= 1e-5
    assert report.label_mismatches == 0
    exported = OnnxPredictor.from_bytes(data)
    assert exported.classes == ()
    assert exported.predict_proba(x_test) is None
    assert exported.predict(x_test).shape == (len(x_test),)


@pytest.mark.parametrize(
    "clf",
    [
        pytest.param(LogisticRegression(max_iter=5000), id="logistic"),
        pytest.param(RandomForestClassifier(n_estimators=20, random_state=0), id="forest"),
    ],
)
def test_mixed_pipeline_exports_one_input_per_column(clf: Any, mixed: Any) -> None:
    x_train, x_test, y_train, _ = mixed
    model = mixed_pipeline(x_train, clf).fit(x_train, y_train)
    inputs = schema(x_train)
    data, report = export_onnx(model, SklearnAdapter(model), inputs, x_test)
    assert report.passed, report.detail
    exported = OnnxPredictor.from_bytes(data)
    assert exported.session.get_inputs()[0].name == "mean_radius"  # renamed
    unseen = x_test.assign(size="enormous")  # handle_unknown='ignore' in both
    proba = exported.predict_proba(unseen)
    assert proba is not None
    np.testing.assert_allclose(proba, model.predict_proba(unseen), atol=1e-5)
    with pytest.raises(InvalidArgumentError, match=r"needs the column 'size'.*Did you mean"):
        exported.predict(x_test.drop(columns=["size"]).assign(sizes="small"))


def test_flavor_round_trip(tmp_path: Path, cancer: Any) -> None:
    import onnx

    x_train, x_test, y_train, _ = cancer
    model = RandomForestClassifier(n_estimators=10, random_state=0).fit(x_train, y_train)
    proto = onnx.load_from_string(convert_sklearn(model, schema(x_train)))
    flavor = OnnxFlavor()
    assert flavor.detect(proto)
    assert not flavor.detect(model)
    assert not flavor.detect(b"bytes")
    assert (flavor.name, flavor.extra, flavor.uses_pickle) == ("onnx", "onnx", False)
    details = flavor.save(proto, tmp_path)
    assert json.loads(json.dumps(details)) == details
    assert (tmp_path / "model.onnx").is_file()
    assert details["inputs"] == [{"name": "X", "type": "float", "shape": [None, 30]}]
    assert details["outputs"] == ["label", "probabilities"]
    assert details["classes"] == [0, 1]
    loaded = flavor.load(tmp_path, details)
    assert loaded.classes == (0, 1)
    np.testing.assert_array_equal(loaded.predict(x_test), model.predict(x_test))
    proba = loaded.predict_proba(x_test)
    assert proba is not None
    np.testing.assert_allclose(proba, model.predict_proba(x_test), atol=1e-5)
    wrapped = flavor.wrap(proto)
    np.testing.assert_array_equal(wrapped.predict(x_test), loaded.predict(x_test))


@pytest.mark.parametrize(
    ("make", "elem"),
    [
        pytest.param(lambda: LogisticRegression(max_iter=5000), "DOUBLE", id="linear-double"),
        pytest.param(lambda: RandomForestClassifier(n_estimators=5), "FLOAT", id="tree-float"),
    ],
)
def test_input_element_type(make: Any, elem: str, cancer: Any) -> None:
    """Trees get float32 (scikit-learn walks trees on float32), linear models double."""
    import onnx

    x_train, _, y_train, _ = cancer
    model = make().fit(x_train, y_train)
    proto = onnx.load_from_string(convert_sklearn(model, schema(x_train)))
    elem_type = proto.graph.input[0].type.tensor_type.elem_type
    assert elem_type == getattr(onnx.TensorProto, elem)


def test_mismatched_export_fails_with_counts(cancer: Any) -> None:
    x_train, x_test, y_train, _ = cancer
    model = LogisticRegression(max_iter=5000).fit(x_train, y_train)
    other = RandomForestClassifier(n_estimators=5, random_state=1).fit(x_train, y_train)
    exported = OnnxPredictor.from_bytes(convert_sklearn(other, schema(x_train)))
    report = check_equivalence(SklearnAdapter(model), exported, x_test)
    assert not report.passed
    assert 0 < report.differing_rows <= report.rows == len(x_test)
    assert report.max_abs_diff > 1e-5
    assert EquivalenceReport.from_dict(json.loads(json.dumps(report.to_dict()))) == report

    with pytest.raises(
        ModelExportError,
        match=rf"differs from the original on \d+ of {len(x_test)} held-out rows "
        r"\(max abs diff [0-9.e-]+ > tolerance 1e-05",
    ) as info:
        export_onnx(other, SklearnAdapter(model), schema(x_train), x_test)
    assert info.value.report.differing_rows > 0  # type: ignore[attr-defined]


def test_regressor_mismatch_is_relative(cancer: Any) -> None:
    x_train, x_test, _, _ = split(load_diabetes)
    y = x_train["bmi"] * 1000
    model = LinearRegression().fit(x_train, y)
    shifted = LinearRegression().fit(x_train, y + 0.5)
    exported = OnnxPredictor.from_bytes(convert_sklearn(shifted, schema(x_train)))
    report = check_equivalence(SklearnAdapter(model), exported, x_test)
    assert not report.passed
    assert report.differing_rows > 0
    loose = check_equivalence(SklearnAdapter(model), exported, x_test, tolerance=0.6)
    assert loose.passed


@pytest.mark.parametrize("tolerance", [-1, 0, 0.0, float("nan"), "1e-5", True])
def test_bad_tolerance(tolerance: Any, cancer: Any) -> None:
    x_train, x_test, y_train, _ = cancer
    model = LogisticRegression(max_iter=5000).fit(x_train, y_train)
    adapter = SklearnAdapter(model)
    with pytest.raises(
        InvalidArgumentError,
        match=r"The 'tolerance' parameter of check_equivalence must be a float > 0\. Got ",
    ):
        check_equivalence(adapter, adapter, x_test, tolerance=tolerance)


def test_empty_frame_and_missing_holdout_columns(cancer: Any) -> None:
    x_train, x_test, y_train, _ = cancer
    model = LogisticRegression(max_iter=5000).fit(x_train, y_train)
    adapter = SklearnAdapter(model)
    with pytest.raises(InvalidArgumentError, match=r"at least one row\. Got 0 rows"):
        check_equivalence(adapter, adapter, x_test.iloc[:0])
    with pytest.raises(InvalidArgumentError, match=r"lacks the input columns \['mean radius'\]"):
        export_onnx(model, adapter, schema(x_train), x_test.drop(columns=["mean radius"]))


class Custom(ClassifierMixin, BaseEstimator):
    def fit(self, x: pd.DataFrame, y: pd.Series) -> Custom:
        self.classes_ = np.unique(y)
        return self

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        return np.full(len(x), self.classes_[0])


def test_unsupported_estimator(cancer: Any) -> None:
    x_train, x_test, y_train, _ = cancer
    model = Custom().fit(x_train, y_train)
    with pytest.raises(
        ModelExportError,
        match=r"^Cannot convert Custom to ONNX: no ONNX converter is registered for "
        r"tests\.registry\.test_onnx\.Custom\. An export converts .+ or keep serving the native "
        r"model\.$",
    ) as info:
        export_onnx(model, SklearnAdapter(model), schema(x_train), x_test)
    assert "Traceback" not in str(info.value)


def test_unsupported_column_type(cancer: Any) -> None:
    x_train, _, y_train, _ = cancer
    model = LogisticRegression(max_iter=5000).fit(x_train, y_train)
    inputs = schema(x_train)
    inputs[0] = ColumnSchema("mean radius", "timestamp[us]", ColumnRole.DATETIME, False)
    with pytest.raises(ModelExportError, match=r"column 'mean radius' of Arrow type"):
        convert_sklearn(model, inputs)
