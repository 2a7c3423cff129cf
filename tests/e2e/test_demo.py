"""`make demo`'s job end to end on the embedded default: real models on real bundled data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import loopml
from loopml.store.logs import read_predictions


def test_demo_trains_logs_and_compares(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env["COLUMNS"] = "200"
    done = subprocess.run(
        [sys.executable, "-m", "loopml.examples.demo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "6 models on breast cancer" in done.stdout
    client = loopml.LoopmlClient(home=tmp_path / ".loopml")
    frame = client.search_runs(
        "breast-cancer-demo", filter="parent_run_id is not null", order_by=["metrics.auc desc"]
    )
    assert len(frame) == 6
    assert frame["metrics.auc"].min() > 0.9  # real models on real data, not placeholders
    assert (frame["status"] == "FINISHED").all()
    best, worst = frame.iloc[0], frame.iloc[-1]
    assert done.stdout.index(f" {best['name']} ") < done.stdout.index(f" {worst['name']} ")
    paths = {a.path for a in client.list_artifacts(best["run_id"])}
    assert {"confusion.png", "feature_importance.parquet", "loopml/requirements.txt"} <= paths
    inputs = {(v.ref, role) for v, role in client.datasets.inputs_of(best["run_id"])}
    assert inputs == {
        ("breast-cancer-train@1", "train"),
        ("breast-cancer-test@1", "test"),
        ("breast-cancer-test@1", "validation"),  # recorded again by log_model
    }
    assert client.datasets.get("breast-cancer-train@1").parents == ("breast-cancer@1",)
    gboost = frame[frame["name"] == "gboost"].iloc[0]
    curve = client.get_metric_history(gboost["run_id"], "val_auc")
    assert len(curve) == 150
    # every model is a registered version; the best is approved, champion and loads by alias
    versions = client.models.versions("breast-cancer")
    assert len(versions) == 6 and {v.run_id for v in versions} == set(frame["run_id"])
    champion = client.models.get("breast-cancer@champion")
    assert champion.run_id == best["run_id"] and champion.approval.value == "approved"
    assert champion.training_data == "breast-cancer-train@1"
    assert "Champion: breast-cancer@" in done.stdout
    test = client.datasets.load("breast-cancer-test@1")
    predicted = client.models.load("breast-cancer@champion").predict(test)
    assert ((predicted == test["target"]).mean()) > 0.9
    # it was evaluated and gated before becoming champion, and the report is on disk
    (record,) = client.evaluations.list(champion.ref)
    assert record.datasets == ("breast-cancer-test@1",)
    assert [e.subject for e in client.events(kind="gate.passed")] == [f"model:{champion.ref}"]
    report = tmp_path / ".loopml" / "reports" / f"breast-cancer-{champion.version}.html"
    assert report.is_file() and "PASSED" in report.read_text()
    # then it was served, one request per test row, and every answer is in the Parquet log
    assert f"Served {len(test)} requests from breast-cancer@champion" in done.stdout
    logged = read_predictions(str(tmp_path / ".loopml" / "logs"), model="breast-cancer")
    assert logged.num_rows == len(test)
    assert set(logged.column("version").to_pylist()) == {champion.version}
    served = sorted(int(p) for p in logged.column("output").to_pylist())
    assert served == sorted(int(p) for p in predicted)  # the champion's own answers
