"""`loopml predict --executor`: the chunks scored on a process pool or Ray equal the in-process
scores, in the input order, logged the same way."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier

import loopml
from loopml.core.settings import resolve_settings
from loopml.store.logs import read_predictions
from tests.cli.conftest import Invoke


@pytest.fixture
def rows(invoke: Invoke, tmp_path: Path) -> Path:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.iloc[:, :8]
    fitted = RandomForestClassifier(n_estimators=20, random_state=0).fit(X, y)
    loopml.models.register(fitted, "cancer", input_example=X.head())
    source = tmp_path / "rows.parquet"
    X.assign(row_id=[f"r{i:03d}" for i in range(len(X))]).to_parquet(source)
    return source


def _predict(invoke: Invoke, source: Path, out: Path, *extra: str) -> pd.DataFrame:
    args = ["predict", "cancer@1", str(source), "-o", str(out), "--batch-size", "50"]
    code, _out, err = invoke(*args, "--id-column", "row_id", *extra)
    assert code == 0, err
    return pd.read_parquet(out)


@pytest.mark.parametrize("executor", ["process", "ray"])
def test_predict_on_an_executor_equals_in_process(
    invoke: Invoke, rows: Path, tmp_path: Path, executor: str, request: pytest.FixtureRequest
) -> None:
    if executor == "ray":
        request.getfixturevalue("ray_local")
    here = _predict(invoke, rows, tmp_path / "here.parquet")
    there = _predict(
        invoke, rows, tmp_path / "there.parquet", "--executor", executor, "--max-workers", "2"
    )
    assert len(there) == 569  # 12 chunks of 50, more than the workers hold at once
    assert there["row_id"].tolist() == pd.read_parquet(rows)["row_id"].tolist()  # input order
    same = [c for c in here.columns if c != "prediction_id"]
    pd.testing.assert_frame_equal(there[same], here[same])
    assert set(there["prediction_id"]).isdisjoint(here["prediction_id"])
    logged = read_predictions(resolve_settings().logs_url, model="cancer").to_pandas()
    on_executor = logged[logged["prediction_id"].isin(there["prediction_id"])]
    assert len(on_executor) == len(there) and set(on_executor["route"]) == {"batch"}
    by_id = dict(zip(on_executor["prediction_id"], on_executor["caller_id"], strict=True))
    assert [by_id[p] for p in there["prediction_id"]] == there["row_id"].tolist()


def test_predict_refuses_an_unknown_executor_before_scoring(
    invoke: Invoke, rows: Path, tmp_path: Path
) -> None:
    out = tmp_path / "never.parquet"
    code, _out, err = invoke("predict", "cancer@1", str(rows), "-o", str(out), "--executor", "rey")
    assert code == 2
    assert "Unknown executor 'rey'; use one of inprocess, process, ray. Did you mean 'ray'?" in err
    assert not out.exists()
