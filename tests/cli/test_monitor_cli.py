"""``loopml monitor run`` on files (no store needed or created) and on dataset refs: the Rich
summary, --json, --report, --fail-on-drift, and bad options as usage errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.cli.conftest import Invoke


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    reference = pd.DataFrame(
        {
            "amount": rng.lognormal(size=4_000),
            "kind": rng.choice(["a", "b", "c"], size=4_000),
            "when": pd.date_range("2024-01-01", periods=4_000, freq="15min", tz="UTC"),
        }
    )
    current = reference.sample(2_000, random_state=1).assign(
        when=pd.date_range("2024-03-01", periods=2_000, freq="30min", tz="UTC")
    )
    current.loc[current.index[1_000:], "amount"] *= 3  # the second half drifts
    paths = {"reference": tmp_path / "reference.parquet", "current": tmp_path / "current.csv"}
    reference.to_parquet(paths["reference"])
    current.to_csv(paths["current"], index=False)
    return paths


def _on_files(files: dict[str, Path], *args: str) -> list[str]:
    """``loopml monitor run`` of the current file against the reference file, plus ``args``."""
    current, reference = str(files["current"]), str(files["reference"])
    return ["monitor", "run", "--current", current, "--reference", reference, *args]


def test_monitor_run_on_files(invoke: Invoke, files: dict[str, Path], tmp_path: Path) -> None:
    html = tmp_path / "out" / "drift.html"
    code, out, err = invoke(
        *_on_files(files),
        "--window",
        "1000",
        "--timestamp-column",
        "when",
        "--feature",
        "amount",
        "--feature",
        "kind",
        "--no-multivariate",
        "--report",
        str(html),
    )
    assert code == 0, err
    assert "dataset drift" in out and "amount" in out and "Report written to" in out
    assert html.read_text().startswith("<!doctype html>")
    assert not (tmp_path / ".loopml").exists()  # files alone create no store
    code, out, err = invoke(
        *_on_files(files),
        "--window",
        "1000",
        "--timestamp-column",
        "when",
        "--no-multivariate",
        "--json",
        "--fail-on-drift",
        "--threshold",
        "dataset_share=0.5",
    )
    assert code == 1  # the second window drifted
    report = json.loads(out)
    first, second = report["windows"]
    assert first["dataset_drift"] is False and second["features"]["amount"]["drifted"] is True


def test_monitor_run_on_dataset_refs(invoke: Invoke, files: dict[str, Path]) -> None:
    assert invoke("data", "register", "ref", str(files["reference"]), "--timestamp", "when")[0] == 0
    assert invoke("data", "register", "cur", str(files["current"]))[0] == 0
    code, out, err = invoke(
        "monitor",
        "run",
        "--current",
        "cur@1",
        "--reference",
        "ref@1",
        "--window",
        "1d",
        "--timestamp-column",
        "when",
        "--no-multivariate",
        "--test",
        "amount=psi",
        "--json",
    )
    assert code == 0, err
    windows = json.loads(out)["windows"]
    assert len(windows) == 42 and windows[0]["start"] == "2024-03-01T00:00:00Z"
    assert {w["features"]["amount"]["test"] for w in windows} == {"psi"}


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--window", "fortnight"], "is not a window"),
        (["--threshold", "alpha"], "write it as name=value"),
        (["--test", "amount=kss"], "Unknown drift test 'kss'"),
        (["--feature", "nope"], "Feature 'nope' is not a column"),
    ],
)
def test_bad_options_are_usage_errors(
    invoke: Invoke, files: dict[str, Path], args: list[str], match: str
) -> None:
    code, _out, err = invoke(*_on_files(files, *args))
    assert code == 2 and match in err


def test_monitor_run_with_a_model(invoke: Invoke) -> None:
    """A real classifier on scikit-learn's breast-cancer table: the model's columns appear,
    the estimate is calibrated on the validation data, realized metrics use the labels."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import loopml

    data = load_breast_cancer(as_frame=True).frame.rename(columns=lambda c: c.replace(" ", "_"))
    features = [c for c in data.columns if c != "target"][:8]
    data = data[[*features, "target"]].sample(frac=1.0, random_state=0)
    train, validation, current = data.iloc[:250], data.iloc[250:400], data.iloc[400:]
    train_v = loopml.datasets.register("cancer-train", train, target="target")
    valid_v = loopml.datasets.register("cancer-valid", validation, target="target")
    loopml.datasets.register("cancer-now", current, target="target")
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(train[features], train["target"])
    loopml.models.register(
        model,
        "cancer",
        input_example=train[features].head(),
        training_data=train_v.ref,
        validation_data=valid_v.ref,
    )
    code, out, err = invoke("monitor", "run", "cancer@1", "--current", "cancer-now@1")
    assert code == 0, err
    assert "score drift" in out and "estimated" in out and "cancer-valid@1" in out
    code, out, err = invoke("monitor", "run", "cancer@1", "--current", "cancer-now@1", "--json")
    window = json.loads(out)["windows"][0]
    assert window["rows"] == len(current) and window["label_coverage"] == 1.0
    assert window["performance"]["roc_auc"]["value"] > 0.9
    assert (
        abs(window["estimated"]["accuracy"]["value"] - window["performance"]["accuracy"]["value"])
        < 0.1
    )
    assert window["multivariate"]["drifted"] is False  # the rows were shuffled: no drift
    # the same rows "served elsewhere", half labeled later: monitored from the log, then
    # turned into a training dataset with `monitor to-dataset`
    ids = [f"row-{i}" for i in current.index]
    loopml.monitoring.log_predictions(
        "cancer@1",
        current[features],
        model.predict(current[features]),
        ids=ids,
        probabilities=model.predict_proba(current[features]),
        timestamps=["2026-01-05T10:00:00Z"] * len(current),
    )
    half = len(current) // 2
    loopml.monitoring.log_labels("cancer@1", ids[:half], current["target"].iloc[:half])
    code, out, err = invoke("monitor", "run", "cancer@1", "--json")
    assert code == 0, err
    window = json.loads(out)["windows"][0]
    assert window["rows"] == len(current) and window["label_coverage"] == half / len(current)
    code, out, err = invoke("monitor", "to-dataset", "cancer@1", "--start", "2026-01-05")
    assert code == 0, err
    assert f"registered cancer-production@1: {half} rows" in out and "'target'" in out
    code, out, err = invoke("monitor", "to-dataset", "cancer@1", "--end", "2026-01-01")
    assert code == 2 and "No labeled logged rows" in err


def test_monitor_run_with_alerts(
    invoke: Invoke, cli_env: dict[str, str], files: dict[str, Path], tmp_path: Path
) -> None:
    """--alerts: a bad file fails before any work; rules that hold are printed, in --json and
    in the event log; a second run within the cooldown is suppressed."""
    from loopml.store.backend import open_backend

    rules = tmp_path / "alerts.yaml"
    rules.write_text("rules:\n  - name: amount\n    when: feature amount drifted\n    sevrity: x\n")
    base = _on_files(files, "--window", "1000", "--no-multivariate")
    code, _out, err = invoke(*base, "--alerts", str(rules))
    assert code == 2 and "unknown field 'sevrity'" in err
    rules.write_text(
        "rules:\n  - name: amount\n    when: feature amount drifted\n    severity: critical\n"
        "    sinks: [stdout]\n"
    )
    if cli_env["LOOPML_DB_URL"].startswith("sqlite"):  # (the session's PostgreSQL has tables)
        code, out, err = invoke(*base, "--alerts", str(rules))
        assert code == 3 and "No loopml store" in err  # the log and cooldown need a store
    assert invoke("init")[0] == 0
    code, out, err = invoke(*base, "--alerts", str(rules))
    assert code == 0, err
    assert "ALERT [critical] amount: feature amount drifted held on data:a DataFrame" in out
    assert "ALERT critical amount" in out  # the summary's line
    code, out, err = invoke(*base, "--alerts", str(rules), "--json")
    assert code == 0, err
    (alert,) = json.loads(out)["alerts"]
    assert alert["status"] == "suppressed" and alert["window"] == 1
    from loopml.core.settings import resolve_settings

    events = open_backend(resolve_settings()).events.list_events(kind="monitor.alert")
    assert [e.data["rule"] for e in events] == ["amount"]
