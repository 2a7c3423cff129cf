"""``loopml labels log``: labels from a CSV (ids kept as text) and Parquet, the Rich summary,
--json, and a missing column named with the file's columns."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

from loopml.core.settings import Settings
from loopml.registry import ModelRegistry
from loopml.store.backend import open_backend
from loopml.store.logs import PredictionLog, PredictionRecord
from tests.cli.conftest import Invoke


@pytest.fixture
def model(settings: Settings) -> str:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.iloc[:, :3]
    registry = ModelRegistry(open_backend(settings))
    version = registry.register(
        LogisticRegression(max_iter=500).fit(X, y), "cancer", input_example=X.head()
    )
    registry.approve(version.ref, comment="ok")
    registry.set_alias("cancer", "champion", version.version)
    plog = PredictionLog(settings.home / "spool" / "cancer-1", flush_interval=0.05)
    for pid in ("007", "008"):
        plog.append(
            PredictionRecord(
                prediction_id=f"p{pid}",
                model="cancer",
                version=1,
                route="champion",
                at=1,
                latency_ms=1.0,
                inputs={},
                output=1,
                caller_id=pid,
            )
        )
    plog.close()
    return "cancer@champion"


def test_labels_log_from_a_csv(
    invoke: Invoke, model: str, tmp_path: Path, settings: Settings
) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("row,truth,when\n007,1,2026-03-01T00:00:00Z\n008,0,\n009,2,\n007,0,\n")
    args = ["labels", "log", str(path), "--model", model, "--id-column", "row"]
    code, out, err = invoke(*args, "--label-column", "truth", "--timestamp-column", "when")
    assert code == 0, err
    assert "Labels for cancer@1" in out and "refused: wrong type" in out
    assert "Label 2 at position 2 (id '009') is not one of the classes" in out
    table = open_backend(settings).labels.get_labels("cancer").to_pydict()
    assert table["row_id"] == ["007", "008"]  # ids stay text: 007 is not 7
    assert table["label_json"] == ["0", "0"]  # the last label of 007 won
    code, out, err = invoke(*args, "--label-column", "truth", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert {k: summary[k] for k in ("received", "stored", "matched", "duplicates", "bad_type")} == {
        "received": 4,
        "stored": 2,
        "matched": 2,
        "duplicates": 3,  # one within the file, two replacing the first run's labels
        "bad_type": 1,
    }


def test_labels_log_from_parquet(invoke: Invoke, model: str, tmp_path: Path) -> None:
    path = tmp_path / "labels.parquet"
    pd.DataFrame({"row": ["007", "zz"], "truth": [1, 1]}).to_parquet(path)
    code, out, err = invoke(
        "labels",
        "log",
        str(path),
        "--model",
        model,
        "--id-column",
        "row",
        "--label-column",
        "truth",
        "--json",
    )
    assert code == 0, err
    assert (json.loads(out)["matched"], json.loads(out)["unknown"]) == (1, 1)


def test_a_missing_column_lists_the_columns(invoke: Invoke, model: str, tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("row,truth\n007,1\n")
    code, _out, err = invoke(
        "labels",
        "log",
        str(path),
        "--model",
        model,
        "--id-column",
        "row",
        "--label-column",
        "truht",
    )
    assert code == 2
    assert "--label-column 'truht' is not a column of labels.csv" in err
    assert "'row', 'truth'" in err and "Did you mean 'truth'?" in err
