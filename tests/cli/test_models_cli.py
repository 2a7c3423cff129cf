"""`loopml models ...` end to end on a real store: real models trained on bundled data."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import sklearn
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import loopml
from loopml.evaluation.gate_lookup import format_interval
from tests.cli.conftest import Invoke

MODEL = "cancer-clf"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass(frozen=True)
class Registered:
    """What the ``registered`` fixture put in the store."""

    run_id: str
    parent: str
    train: str
    holdout: str
    train_rows: int
    holdout_rows: int
    features: list[str]


@pytest.fixture(scope="module")
def cancer() -> pd.DataFrame:
    frame: pd.DataFrame = load_breast_cancer(as_frame=True).frame
    return frame


@pytest.fixture
def registered(invoke: Invoke, cancer: pd.DataFrame) -> Registered:
    """``cancer@1`` split into ``cancer-train@1`` / ``cancer-holdout@1``, and two logistic
    regressions (C=0.1 -> @1, C=10 -> @2) trained on it and registered inside one run."""
    parent = loopml.datasets.register("cancer", cancer, target="target")
    parts = loopml.datasets.split(parent.ref, fractions={"train": 0.7, "holdout": 0.3})
    train, holdout = parts["train"], parts["holdout"]
    frame = loopml.datasets.load(train.ref)
    x, y = frame.drop(columns=["target"]), frame["target"]
    with loopml.start_run(experiment="cancer", name="logistic") as run:
        for c in (0.1, 10.0):
            model = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(C=c))])
            loopml.models.register(
                model.fit(x, y),
                MODEL,
                training_data=train.ref,
                validation_data=holdout.ref,
                code_commit=COMMIT,
                description=f"logistic regression, C={c}",
            )
    return Registered(
        run_id=run.run_id,
        parent=parent.ref,
        train=train.ref,
        holdout=holdout.ref,
        train_rows=train.rows,
        holdout_rows=holdout.rows,
        features=list(x.columns),
    )


def ok(invoke: Invoke, *args: str) -> str:
    """Run a command that must succeed; return its stdout."""
    code, out, err = invoke(*args)
    assert code == 0, f"loopml {' '.join(args)} -> {code}\n{out}{err}"
    return out


def fails(invoke: Invoke, code: int, *args: str) -> str:
    """Run a command that must fail with ``code`` and a one-line error; return its stderr."""
    got, out, err = invoke(*args)
    assert got == code, f"loopml {' '.join(args)} -> {got}, expected {code}\n{out}{err}"
    assert err.startswith("error: ") and "Traceback" not in err, err
    return err


def test_list_without_models_says_how_to_register(invoke: Invoke) -> None:
    loopml.LoopmlClient()  # a store with no model yet (a read creates no store)
    assert "No models yet" in ok(invoke, "models", "list")


def test_list_and_versions_show_approvals_and_aliases(
    invoke: Invoke, registered: Registered
) -> None:
    out = ok(invoke, "models", "list")
    assert re.search(rf"{MODEL}\s.*\b2\b.*@2\b", out)
    out = ok(invoke, "models", "versions", MODEL)
    for n in (1, 2):
        row = rf"@{n}\s.*sklearn\s.*binary\s.*pending\s.*{registered.train}\s.*{registered.run_id[:12]}"
        assert re.search(row, out), out
    ok(invoke, "models", "approve", f"{MODEL}@2")
    ok(invoke, "models", "alias", MODEL, "champion", "2")
    ok(invoke, "models", "alias", MODEL, "challenger", "1")  # only champion needs approval
    out = ok(invoke, "models", "list")
    assert re.search(rf"{MODEL}\s.*challenger@1, champion@2", out), out
    out = ok(invoke, "models", "versions", MODEL)
    assert re.search(r"@1\s.*pending\s.*challenger\s", out), out
    assert re.search(r"@2\s.*approved\s.*champion\s", out), out


def test_show_prints_flavor_signature_and_package(invoke: Invoke, registered: Registered) -> None:
    out = ok(invoke, "models", "show", f"{MODEL}@1")
    assert re.search(rf"^{MODEL}@1\s+sklearn\s+binary\s+[\d.]+ kB\s+registered ", out, re.M)
    assert "review: pending" in out
    assert re.search(
        rf"run {registered.run_id}\s+train {registered.train}\s+"
        rf"validation {registered.holdout}\s+commit {COMMIT[:12]}\b",
        out,
    )
    assert "logistic regression, C=0.1" in out
    assert re.search(
        r"package: manifest [0-9a-f]{12}, 1 file\(s\), Python 3\.11\.\d+, "
        rf"loopml {re.escape(loopml.__version__)}, scikit-learn {re.escape(sklearn.__version__)}",
        out,
    )
    for column in (registered.features[0], registered.features[-1]):
        assert re.search(rf"│ {column}\s+│ double\s+│ numeric\s+│ no ", out), column
    assert "target" not in out  # the label is not an input
    assert "output: int64, classes [0, 1], predict_proba" in out

    shown = json.loads(ok(invoke, "models", "show", f"{MODEL}@1", "--json"))
    assert set(shown) == {"version", "manifest"}
    version, manifest = shown["version"], shown["manifest"]
    assert (version["name"], version["version"], version["flavor"]) == (MODEL, 1, "sklearn")
    assert manifest["flavor"] == "sklearn"
    assert manifest["libraries"] == {"scikit-learn": sklearn.__version__}
    assert version["manifest_digest"].startswith(re.search(r"manifest (\w+)", out)[1])  # type: ignore[index]
    assert [c["name"] for c in version["signature"]["inputs"]] == registered.features
    assert version["signature"]["output"]["classes"] == [0, 1]
    assert (version["run_id"], version["training_data"], version["validation_data"]) == (
        registered.run_id,
        registered.train,
        registered.holdout,
    )
    assert version["approval"] == "pending" and version["exports"] == []
    for ref in (MODEL, f"{MODEL}@latest"):
        assert json.loads(ok(invoke, "models", "show", ref, "--json"))["version"]["version"] == 2


def test_champion_takes_approved_versions_only(invoke: Invoke, registered: Registered) -> None:
    err = fails(invoke, 1, "models", "alias", MODEL, "champion", "2")
    assert re.search(rf"Cannot point {MODEL}@champion at version 2: it is pending", err)
    assert f"Approve it first (`loopml models approve {MODEL}@2" in err
    assert "LOOPML_ALLOW_UNAPPROVED_CHAMPION=true" in err
    assert re.search(rf"{MODEL}@2 approved by \S+", ok(invoke, "models", "approve", f"{MODEL}@2"))
    out = ok(invoke, "models", "alias", MODEL, "champion", "2", "--reason", "best auc")
    assert re.search(rf"{MODEL}@champion moved: - -> @2 by \S+ \(best auc\)", out)
    assert (
        json.loads(ok(invoke, "models", "show", f"{MODEL}@champion", "--json"))["version"][
            "version"
        ]
        == 2
    )


def test_setting_lets_an_unapproved_champion_through(
    invoke: Invoke, registered: Registered, monkeypatch: pytest.MonkeyPatch
) -> None:
    fails(invoke, 1, "models", "alias", MODEL, "champion", "1")
    monkeypatch.setenv("LOOPML_ALLOW_UNAPPROVED_CHAMPION", "true")  # read on each call
    out = ok(invoke, "models", "alias", MODEL, "champion", "1")
    assert f"{MODEL}@champion moved: - -> @1" in out
    assert re.search(r"@1\s.*pending\s.*champion\s", ok(invoke, "models", "versions", MODEL))


def test_alias_without_name_shows_aliases_and_history(
    invoke: Invoke, registered: Registered
) -> None:
    out = ok(invoke, "models", "alias", MODEL)
    assert f"{MODEL} has no aliases. Set one: `loopml models alias {MODEL} ALIAS N`." in out
    ok(invoke, "models", "approve", f"{MODEL}@1")
    ok(invoke, "models", "alias", MODEL, "champion", "1", "-r", "first model")
    ok(invoke, "models", "alias", MODEL, "challenger", "2", "-r", "try higher C")
    out = ok(invoke, "models", "alias", MODEL, "challenger", "--remove", "-r", "lost the a/b")
    assert re.search(rf"{MODEL}@challenger moved: @2 -> removed by \S+ \(lost the a/b\)", out)
    out = ok(invoke, "models", "alias", MODEL)
    assert f"{MODEL}@champion -> @1" in out and f"{MODEL}@challenger" not in out
    assert "history" in out
    rows = [line for line in out.splitlines() if line.startswith("│")]
    assert len(rows) == 3, out
    assert re.search(r"│ champion\s+│\s+│ @1\s+│ \S+\s+│ first model\s+│", rows[0])
    assert re.search(r"│ challenger\s+│\s+│ @2\s+│ \S+\s+│ try higher C\s+│", rows[1])
    assert re.search(r"│ challenger\s+│ @2\s+│ removed\s+│ \S+\s+│ lost the a/b\s+│", rows[2])


def test_a_rejected_version_needs_a_comment_to_be_approved(
    invoke: Invoke, registered: Registered
) -> None:
    out = ok(invoke, "models", "reject", f"{MODEL}@1", "--comment", "x")
    assert re.search(rf"{MODEL}@1 rejected by \S+: x$", out.strip())
    assert re.search(r"@1\s.*rejected\s", ok(invoke, "models", "versions", MODEL))
    err = fails(invoke, 1, "models", "alias", MODEL, "champion", "1")
    assert "it is rejected" in err
    err = fails(invoke, 2, "models", "approve", f"{MODEL}@1")
    assert re.search(rf"Model {MODEL}@1 was rejected by \S+ \('x'\)", err)
    assert "needs a comment" in err and "--comment" in err
    err = fails(invoke, 2, "models", "approve", f"{MODEL}@1", "-m", "   ")
    assert "was rejected" in err
    ok(invoke, "models", "approve", f"{MODEL}@1", "-m", "retrained data fixed")
    out = ok(invoke, "models", "show", f"{MODEL}@1")
    assert re.search(r"review: approved by \S+ .*: retrained data fixed", out)
    ok(invoke, "models", "alias", MODEL, "champion", "1")
    err = fails(invoke, 2, "models", "reject", f"{MODEL}@2", "--comment", " ")
    assert f"Rejecting {MODEL}@2 needs a comment" in err


def test_rollback_walks_champion_back(invoke: Invoke, registered: Registered) -> None:
    err = fails(invoke, 1, "models", "rollback", MODEL, "--reason", "r")
    assert f"Model '{MODEL}' has no 'champion' alias to roll back" in err
    for n in ("1", "2"):
        ok(invoke, "models", "approve", f"{MODEL}@{n}")
    ok(invoke, "models", "alias", MODEL, "champion", "1")
    ok(invoke, "models", "alias", MODEL, "champion", "2")
    code, _out, err = invoke("models", "rollback", MODEL)  # a usage error, not an internal one
    assert code == 2 and "Missing option '--reason'" in err and "internal error" not in err
    err = fails(invoke, 2, "models", "rollback", MODEL, "--reason", "  ")
    assert f"A rollback of {MODEL}@champion needs a reason" in err
    out = ok(invoke, "models", "rollback", MODEL, "--reason", "r")
    assert re.search(rf"{MODEL}@champion rolled back: @2 -> @1 by \S+ \(r\)", out)
    champion = json.loads(ok(invoke, "models", "show", f"{MODEL}@champion", "--json"))
    assert champion["version"]["version"] == 1
    err = fails(invoke, 1, "models", "rollback", MODEL, "--reason", "again")
    assert re.search(
        rf"Cannot roll back {MODEL}@champion: it has held only version 1 .*"
        "no earlier version to return to",
        err,
    )
    out = ok(invoke, "models", "alias", MODEL)
    assert re.search(r"│ champion \(rollback\)\s+│ @2\s+│ @1\s+│ \S+\s+│ r\s+│", out), out


def test_lineage_both_ways(invoke: Invoke, registered: Registered) -> None:
    ok(invoke, "models", "approve", f"{MODEL}@2")
    ok(invoke, "models", "alias", MODEL, "champion", "2")
    out = ok(invoke, "models", "lineage", f"{MODEL}@champion")
    assert f"{MODEL}@2 (champion) sklearn, approved" in out
    assert f"run {registered.run_id[:12]} logistic (FINISHED)" in out
    assert re.search(
        rf"train: {registered.train} \({registered.train_rows:,} rows, sha256 [0-9a-f]{{12}}\)",
        out,
    )
    assert re.search(rf"validation: {registered.holdout} \({registered.holdout_rows:,} rows", out)
    assert out.count(f"from {registered.parent}") == 2
    assert f"commit {COMMIT}" in out

    line = json.loads(ok(invoke, "models", "lineage", f"{MODEL}@champion", "--json"))
    assert line["version"] == f"{MODEL}@2" and line["aliases"] == ["champion"]
    assert line["run"] == {"run_id": registered.run_id, "name": "logistic", "status": "FINISHED"}
    assert [(d["ref"], d["role"], d["parents"]) for d in line["datasets"]] == [
        (registered.train, "train", [registered.parent]),
        (registered.holdout, "validation", [registered.parent]),
    ]
    assert line["commit"] == COMMIT

    out = ok(invoke, "models", "lineage", "--dataset", registered.train)
    assert re.search(rf"{MODEL}@1\s+\(train, pending\)", out)
    assert re.search(rf"{MODEL}@2\s+\(train, approved\)", out)
    found = json.loads(ok(invoke, "models", "lineage", "--dataset", registered.holdout, "--json"))
    assert found == [
        {"model": f"{MODEL}@1", "role": "validation"},
        {"model": f"{MODEL}@2", "role": "validation"},
    ]
    out = ok(invoke, "models", "lineage", "--dataset", registered.parent)
    assert f"No model version was trained or validated on {registered.parent}." in out
    err = fails(invoke, 3, "models", "lineage", "--dataset", "cancer@7")
    assert "cancer" in err


def test_lineage_of_a_version_registered_outside_a_run(
    invoke: Invoke, registered: Registered, cancer: pd.DataFrame
) -> None:
    x = cancer.drop(columns=["target"])
    model = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())])
    loopml.models.register(model.fit(x, cancer["target"]), MODEL, input_example=x.head())
    out = ok(invoke, "models", "lineage", f"{MODEL}@3")
    assert f"{MODEL}@3 sklearn, pending" in out
    assert "run: none" in out and "commit unknown" in out


def test_export_is_checked_and_listed(invoke: Invoke, registered: Registered) -> None:
    out = ok(invoke, "models", "export", f"{MODEL}@1", "--holdout", registered.holdout)
    assert re.search(
        rf"Exported {MODEL}@1 to ONNX \([0-9a-f]{{12}}\): matches the original on "
        rf"{registered.holdout_rows} rows of {registered.holdout} \(max abs diff [\d.e+-]+, "
        r"tolerance 1e-05\)",
        out,
    )
    digest = re.search(r"ONNX \(([0-9a-f]{12})\)", out)[1]  # type: ignore[index]
    out = ok(invoke, "models", "show", f"{MODEL}@1")
    assert re.search(
        rf"export onnx: {digest}, checked on {registered.holdout_rows} rows of "
        rf"{registered.holdout}, max abs diff [\d.e+-]+ \(tolerance 1e-05\)",
        out,
    )
    exports = json.loads(ok(invoke, "models", "show", f"{MODEL}@1", "--json"))["version"]["exports"]
    assert [(e["format"], e["manifest_digest"][:12]) for e in exports] == [("onnx", digest)]
    assert "export onnx" not in ok(invoke, "models", "show", f"{MODEL}@2")
    out = ok(invoke, "models", "export", f"{MODEL}@2", "--rows", "50")  # the validation data
    assert f"on 50 rows of {registered.holdout}" in out
    err = fails(invoke, 2, "models", "export", f"{MODEL}@2", "--rows", "0")
    assert "'rows' parameter" in err and "Got 0" in err


def test_errors_name_the_value_and_the_fix(invoke: Invoke, registered: Registered) -> None:
    for args in (("versions", "cancer-cl"), ("show", "cancer-cl@1"), ("alias", "cancer-cl")):
        err = fails(invoke, 3, "models", *args)
        assert "No model named 'cancer-cl'. Did you mean 'cancer-clf'?" in err, args
    err = fails(invoke, 3, "models", "alias", MODEL, "champion", "9")
    assert f"Model '{MODEL}' has no version 9; it has versions 1-2 (latest 2)" in err
    err = fails(invoke, 3, "models", "show", f"{MODEL}@3")
    assert "has no version 3" in err
    ok(invoke, "models", "alias", MODEL, "challenger", "1")
    err = fails(invoke, 3, "models", "show", f"{MODEL}@challengr")
    assert re.search(r"has no alias 'challengr' .*Did you mean 'challenger'\?", err)
    err = fails(invoke, 2, "models", "show", f"{MODEL}@-1")
    assert "has version -1: versions are whole numbers from 1 to 2147483647" in err
    err = fails(invoke, 2, "models", "show", f"{MODEL}@0")
    assert "has version 0: versions are whole numbers from 1" in err
    err = fails(invoke, 2, "models", "show", "bad name!@1")
    assert re.search(r"Model name 'bad name!' is not valid: use 1-250 letters", err)
    err = fails(invoke, 2, "models", "alias", MODEL, "latest", "1")
    assert "Alias 'latest' is not valid" in err and "'latest' is reserved" in err
    err = fails(invoke, 2, "models", "alias", MODEL, "Champion", "1")
    assert "Alias 'Champion' is not valid" in err
    assert "latest" not in ok(invoke, "models", "alias", MODEL)


def test_a_bare_name_says_which_version_it_resolved_to(
    invoke: Invoke, registered: Registered, tmp_path: Path
) -> None:
    code, out, err = invoke("models", "show", MODEL)  # no champion: a note, no warning
    assert code == 0 and out.startswith(f"{MODEL}@2 ")
    assert f"note: '{MODEL}' resolved to {MODEL}@2, its latest version." in err
    assert "warning" not in err
    ok(invoke, "models", "approve", f"{MODEL}@1")
    ok(invoke, "models", "alias", MODEL, "champion", "1")
    warning = (
        f"warning: '{MODEL}' resolved to {MODEL}@2, its latest version, which is pending while "
        f"{MODEL}@champion is version 1. Name the version you mean: '{MODEL}@champion' for the "
        f"approved one, or '{MODEL}@latest' to use the latest on purpose."
    )
    for _ in range(2):  # printed on every command, not once per process
        code, out, err = invoke("models", "show", MODEL)
        assert code == 0 and out.startswith(f"{MODEL}@2 ")
        assert err.count("warning:") == 1 and warning in " ".join(err.split())
    rows = loopml.datasets.load(registered.holdout).drop(columns=["target"]).head(20)
    source = tmp_path / "rows.parquet"
    rows.to_parquet(source)
    code, out, err = invoke("predict", MODEL, str(source), "--out", str(tmp_path / "p.parquet"))
    assert code == 0, err
    said = " ".join((out + err).split())
    assert warning in said and f"Wrote 20 predictions of {MODEL}@2" in said
    code, out, err = invoke("models", "show", f"{MODEL}@latest")  # on purpose: nothing said
    assert code == 0 and "warning:" not in err and "note:" not in err
    assert err == "" or err.startswith("store: ")  # only the line naming the store read


def test_rejecting_the_champion_says_to_move_it_first(
    invoke: Invoke, registered: Registered
) -> None:
    for n in ("1", "2"):
        ok(invoke, "models", "approve", f"{MODEL}@{n}")
        ok(invoke, "models", "alias", MODEL, "champion", n)
    err = fails(invoke, 1, "models", "reject", f"{MODEL}@2", "-m", "drifted")
    assert f"Cannot reject {MODEL}@2: it is {MODEL}@champion" in err
    assert f"loopml models rollback {MODEL} --reason" in " ".join(err.split())
    ok(invoke, "models", "rollback", MODEL, "--reason", "drifted")
    assert f"{MODEL}@2 rejected by" in ok(invoke, "models", "reject", f"{MODEL}@2", "-m", "x")


def test_card_prints_markdown_and_writes_html(
    invoke: Invoke, registered: Registered, tmp_path: Path
) -> None:
    evaluation = loopml.evaluate(
        f"{MODEL}@1", datasets=[registered.holdout], baseline=None, resamples=50, costs=False
    )
    ok(invoke, "models", "approve", f"{MODEL}@1", "--comment", "fine on the holdout")
    ok(invoke, "models", "alias", MODEL, "champion", "1", "--reason", "first release")
    out = ok(invoke, "models", "card", f"{MODEL}@champion")
    assert out.startswith(f"# Model card: {MODEL}@1\n")
    assert "logistic regression, C=0.1" in out  # intended use: the version's description
    assert f"| dataset | {registered.train} | train |" in out  # lineage
    auc = evaluation.datasets[0].metric("roc_auc")
    assert auc is not None and auc.value is not None
    assert f"| roc_auc | {format_interval(auc.value, auc.low, auc.high)} |" in out
    assert "| approved | " in out and "fine on the holdout" in out and "first release" in out
    assert "Global importance by permutation on" in out  # recorded by the evaluation
    target = tmp_path / "cards" / "card.html"
    said = ok(invoke, "models", "card", f"{MODEL}@1", "--format", "html", "--output", str(target))
    assert str(target) in said
    page = target.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and evaluation.evaluation_id in page
    assert "<script" not in page and "https://" not in page
    err = fails(invoke, 2, "models", "card", f"{MODEL}@1", "--format", "pdf")
    assert "'md' or 'html'. Got 'pdf'" in err
    err = fails(invoke, 3, "models", "card", "cancer-clff@1")
    assert "Did you mean" in err
