"""Values between steps: each kind stored in a real artifact store and loaded back equal;
the same value gives the same digest; what cannot be stored is refused with its type."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from loopml.core.errors import InvalidArgumentError
from loopml.pipelines import StoredValue
from loopml.pipelines.values import load_value, store_value
from loopml.store.artifacts import ContentAddressedStore, open_artifact_store


@pytest.fixture
def store(tmp_path: Path) -> ContentAddressedStore:
    return open_artifact_store(str(tmp_path / "artifacts"))


def round_trip(store: ContentAddressedStore, value: Any) -> tuple[StoredValue, Any]:
    stored = store_value(store, value, what="output of step 'x'")
    assert StoredValue.from_dict(stored.to_dict()) == stored
    return stored, load_value(store, stored)


def test_frames_and_series_are_parquet(store: ContentAddressedStore) -> None:
    frame = pd.DataFrame(
        {"a": [1, 2, 3], "b": ["x", None, "z"], "t": pd.date_range("2024-01-01", periods=3)},
        index=[10, 20, 30],
    )
    stored, loaded = round_trip(store, frame)
    assert stored.kind == "dataframe" and stored.type == "pandas.DataFrame"
    pd.testing.assert_frame_equal(loaded, frame)
    again = store_value(store, frame.copy(), what="x")
    assert again.digest == stored.digest  # equal contents, equal digest
    assert store_value(store, frame.assign(a=[1, 2, 4]), what="x").digest != stored.digest
    for series in (pd.Series([0.5, 1.5], name="score"), pd.Series([1, 2])):
        stored, loaded = round_trip(store, series)
        assert stored.kind == "series"
        pd.testing.assert_series_equal(loaded, series)


def test_arrays_json_and_bytes(store: ContentAddressedStore) -> None:
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    stored, loaded = round_trip(store, array)
    assert stored.kind == "ndarray"
    np.testing.assert_array_equal(loaded, array)
    assert loaded.dtype == np.float32
    value = {"auc": np.float64(0.91), "n": np.int64(3), "tags": ("a", "b"), "nan": float("nan")}
    stored, loaded = round_trip(store, value)
    assert stored.kind == "json"
    assert loaded["auc"] == 0.91 and loaded["n"] == 3 and loaded["tags"] == ["a", "b"]
    assert np.isnan(loaded["nan"])
    assert round_trip(store, b"\x00raw")[1] == b"\x00raw"
    assert round_trip(store, None)[1] is None


def test_a_fitted_model_is_stored_by_its_registry_flavor(store: ContentAddressedStore) -> None:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    features, labels = load_iris(return_X_y=True, as_frame=True)
    model = LogisticRegression(max_iter=500).fit(features, labels)
    stored, loaded = round_trip(store, model)
    assert stored.kind == "model" and stored.type == "sklearn.LogisticRegression"
    assert isinstance(loaded, LogisticRegression)
    np.testing.assert_array_equal(loaded.predict_proba(features), model.predict_proba(features))


@pytest.mark.parametrize(
    ("value", "type_name"),
    [
        (threading.Lock(), "_thread.lock"),
        (np.array([object(), 1]), "numpy.ndarray"),
        ({1: "int key"}, "dict"),
        (pd.DataFrame({"mixed": [1, "x"]}), "pandas.DataFrame"),
        (lambda x: x, "function"),
    ],
)
def test_what_cannot_be_stored_is_refused(
    store: ContentAddressedStore, value: Any, type_name: str
) -> None:
    with pytest.raises(
        InvalidArgumentError,
        match=rf"The output of step 'x' is a {type_name}, which loopml cannot store between "
        r"steps.*A step may return a pandas DataFrame or Series",
    ):
        store_value(store, value, what="output of step 'x'")
