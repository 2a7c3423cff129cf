"""`loopml evaluate`, `loopml gate` and `loopml evaluations` against a real store and real models
(scikit-learn's breast cancer data: a good model and one with a planted slice regression)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import loopml
from loopml.cli.evaluation import parse_slice
from loopml.registry import PythonModel
from tests.cli.conftest import Invoke


class Broken(PythonModel):
    """Flips its probabilities for large tumours: a regression planted in one slice."""

    classes = (0, 1)

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def predict_proba(self, frame: pd.DataFrame) -> Any:
        proba = self.inner.predict_proba(frame)
        big = (frame["mean radius"] > 15).to_numpy()
        proba[big] = proba[big][:, ::-1]
        return proba

    def predict(self, frame: pd.DataFrame) -> Any:
        return (self.predict_proba(frame)[:, 1] >= 0.5).astype(int)


@pytest.fixture
def models(invoke: Invoke) -> dict[str, str]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.iloc[:, :6]
    frame = X.assign(target=y, size=pd.cut(X["mean radius"], [0, 12, 15, 40]).astype(str))
    loopml.datasets.register("cancer", frame, target="target")
    good = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    v1 = loopml.models.register(good, "cancer-clf", input_example=X.head())
    v2 = loopml.models.register(Broken(good), "cancer-clf", input_example=X.head())
    loopml.models.approve(v1.ref)
    loopml.models.set_alias("cancer-clf", "champion", 1)
    return {"good": v1.ref, "broken": v2.ref}


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "gate.yaml"
    path.write_text(
        "name: release\nrules:\n  - metric: auc\n    min: 0.5\n"
        "  - slices:\n      metric: auc\n      min_support: 20\n      max_drop: 0.02\n"
    )
    return path


def test_evaluate_prints_metrics_slices_and_writes_the_report(
    invoke: Invoke, models: dict[str, str], tmp_path: Path
) -> None:
    report = tmp_path / "ev.html"
    code, out, err = invoke(
        "evaluate",
        models["broken"],
        "-d",
        "cancer@1",
        "-s",
        "size",
        "--resamples",
        "50",
        "--report",
        str(report),
    )
    assert code == 0, err
    assert "cancer-clf@2 (binary) vs cancer-clf@1" in out
    assert re.search(r"roc_auc\s+│ 0\.\d{4} \[0\.\d{4}, 0\.\d{4}\]", out), out
    assert "size = '(15, 40]'" in out and report.is_file()
    evaluation_id = re.search(r"evaluation ([0-9a-f]{32})", out).group(1)  # type: ignore[union-attr]
    code, out, _ = invoke("evaluations", "list", "cancer-clf")
    assert code == 0 and evaluation_id in out
    code, out, _ = invoke("evaluations", "show", evaluation_id, "--json")
    assert code == 0 and json.loads(out)["model"] == models["broken"]


def test_gate_fails_with_exit_1_and_passes_with_exit_0(
    invoke: Invoke, models: dict[str, str], policy: Path, tmp_path: Path
) -> None:
    code, out, _ = invoke(
        "gate",
        models["broken"],
        "--policy",
        str(policy),
        "-d",
        "cancer@1",
        "-s",
        "size",
        "--resamples",
        "30",
        "--report",
        str(tmp_path / "gate.html"),
    )
    assert code == 1
    assert "FAIL" in out and "size = '(15, 40]'" in out and "FAILED" in out
    assert "FAILED" in (tmp_path / "gate.html").read_text()
    code, out, _ = invoke(
        "gate",
        models["good"],
        "--policy",
        str(policy),
        "-d",
        "cancer@1",
        "-s",
        "size",
        "--baseline",
        "none",
        "--resamples",
        "30",
    )
    assert code == 1 and "no baseline to compare slices with" in out  # not checked = not passed
    simple = tmp_path / "simple.yaml"
    simple.write_text("name: floor\nrules:\n  - metric: auc\n    min: 0.9\n    use: low\n")
    code, out, _ = invoke("gate", models["good"], "--policy", str(simple), "-d", "cancer@1")
    assert code == 0, out
    assert "PASSED" in out
    events = loopml.LoopmlClient().events(kind="gate.failed")
    assert [e.subject for e in events] == [f"model:{models['broken']}", f"model:{models['good']}"]
    passed = loopml.LoopmlClient().events(kind="gate.passed")
    assert [e.subject for e in passed] == [f"model:{models['good']}"]


def test_gate_errors(invoke: Invoke, models: dict[str, str], tmp_path: Path) -> None:
    code, _, err = invoke(
        "gate", models["good"], "--policy", str(tmp_path / "nope.yaml"), "-d", "cancer@1"
    )
    assert code == 2 and "nope.yaml" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nrules:\n  - metric: acc\n    min: 0.5\n")
    code, _, err = invoke("gate", models["good"], "--policy", str(bad), "-d", "cancer@1")
    assert code == 2 and "rules[0]" in err
    code, _, err = invoke("gate", models["good"], "--policy", str(bad))
    assert code == 2 and "--dataset" in err


def test_gate_reads_the_policy_before_evaluating(
    invoke: Invoke, models: dict[str, str], tmp_path: Path
) -> None:
    """A missing policy or a misspelled metric fails before any work: nothing is stored."""
    client = loopml.LoopmlClient()
    before = len(client.events())
    bad = tmp_path / "typo.yaml"
    bad.write_text("name: x\nrules:\n  - metric: rocauc\n    min: 0.5\n")
    for path in (tmp_path / "missing.yaml", bad):
        code, _, err = invoke("gate", models["good"], "--policy", str(path), "-d", "cancer@1")
        assert code == 2, err
        assert str(path.name) in err
    assert "Did you mean 'roc_auc'" in err
    assert client.evaluations.list(models["good"]) == []
    assert len(client.events()) == before
    assert client.events(kind="evaluation.created") == []


def test_evaluation_ids_list_in_full_and_any_unique_prefix_works(
    invoke: Invoke, models: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = iter(range(100))
    monkeypatch.setattr(
        "loopml.evaluation.service.new_event_id", lambda: f"abcd{next(counter):x}".ljust(32, "0")
    )
    for _ in range(2):
        code, out, err = invoke(
            "evaluate", models["good"], "-d", "cancer@1", "--resamples", "0", "-b", "none"
        )
        assert code == 0, err
    code, out, _ = invoke("evaluations", "list", "cancer-clf", "--json")
    assert code == 0
    ids = [r["evaluation_id"] for r in json.loads(out)]
    assert len(ids) == 2 and all(len(i) == 32 and i.startswith("abcd") for i in ids)
    code, out, _ = invoke("evaluations", "list", "cancer-clf")
    assert all(i in out for i in ids)  # full ids, not truncated
    first = ids[1]  # newest first: the first evaluation is listed second
    code, out, err = invoke("evaluations", "show", first[:12], "--json")
    assert code == 0, err
    assert json.loads(out)["evaluation_id"] == first
    code, _, err = invoke("evaluations", "show", "abcd")
    assert code == 2
    assert "prefix 'abcd' is ambiguous: it starts " in err and ids[0] in err and ids[1] in err
    code, _, err = invoke("evaluations", "show", "ffff")
    assert code != 0 and "No evaluation id starts with 'ffff'" in err
    simple = tmp_path / "simple.yaml"
    simple.write_text("name: floor\nrules:\n  - metric: auc\n    min: 0.5\n")
    code, out, err = invoke(
        "gate", models["good"], "--policy", str(simple), "--evaluation", first[:8]
    )
    assert code == 0, out + err
    assert "PASSED" in out


def test_slice_option_forms() -> None:
    assert parse_slice("origin") == "origin"
    assert parse_slice("origin,carrier") == ("origin", "carrier")
    assert parse_slice("distance:0,500,1000") == {
        "column": "distance",
        "bins": [0.0, 500.0, 1000.0],
    }
    assert parse_slice("distance:4") == {"column": "distance", "bins": 4}
    assert parse_slice("night=hour >= 21") == {"name": "night", "where": "hour >= 21"}
