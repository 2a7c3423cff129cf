"""`loopml deploy create|set|show|history|list|delete` and `loopml serve --deployment`, in
process, on SQLite and PostgreSQL, over models trained on scikit-learn's breast cancer data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

import loopml
from tests.cli.conftest import Invoke


@pytest.fixture
def models(invoke: Invoke) -> None:
    """``cancer`` versions 1-3, approved; champion -> 1."""
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.iloc[:, :4]
    for c in (1.0, 0.1, 0.01):
        fitted = LogisticRegression(C=c, max_iter=500).fit(X, y)
        version = loopml.models.register(fitted, "cancer", input_example=X.head())
        loopml.models.approve(version.ref)
    loopml.models.set_alias("cancer", "champion", 1)


def test_create_set_show_history_list_delete(invoke: Invoke, models: None, tmp_path: Path) -> None:
    code, out, err = invoke(
        "deploy", "create", "prod", "--champion", "cancer@champion",
        "--canary", "cancer@challenger:0", "--shadow", "cancer@3", "-r", "first",
    )  # fmt: skip
    assert code == 0, err
    assert "Created deployment prod, version 1" in out
    assert "canary (0%): cancer@challenger" in out and "shadow: cancer@3" in out

    code, _, err = invoke("deploy", "set", "prod", "--canary-share", "20")
    assert code == 3 and "field 'canary'" in err and "no alias 'challenger'" in err
    assert invoke("models", "alias", "cancer", "challenger", "2")[0] == 0
    code, out, err = invoke("deploy", "set", "prod", "--canary-share", "20", "-r", "start")
    assert code == 0, err
    assert "now version 2" in out and "canary (20%): cancer@challenger" in out
    code, out, _ = invoke("deploy", "set", "prod", "--canary", "cancer@challenger:20")
    assert code == 0 and "already serves that (version 2)" in out

    rules = tmp_path / "rules.yaml"
    rules.write_text("outputs:\n  - {threshold: 0.7}\n")
    code, out, err = invoke(
        "deploy", "set", "prod", "--guardrails", str(rules), "--fallback", "none",
        "--no-shadows", "--expected-version", "2",
    )  # fmt: skip
    assert code == 0, err
    assert "guardrails: 0 input rule(s), 1 output rule(s)" in out and "fallback: none" in out
    code, _, err = invoke("deploy", "set", "prod", "--no-canary", "--expected-version", "2")
    assert code == 1 and "is at version 3, not 2 as expected" in err

    code, out, _ = invoke("deploy", "show", "prod")
    assert code == 0
    assert "champion: cancer@champion -> cancer@1" in out
    assert "canary (20%): cancer@challenger -> cancer@2" in out
    code, out, _ = invoke("deploy", "show", "prod", "--json")
    shown = json.loads(out)
    assert shown["version"] == 3 and shown["canary"] == {"ref": "cancer@challenger", "share": 20.0}
    assert shown["guardrails"] == {"outputs": [{"threshold": 0.7}]} and shown["fallback"] is None

    code, out, _ = invoke("deploy", "history", "prod")
    assert code == 0
    assert "cancer@challenger (0%) -> cancer@challenger (20%)" in out and "start" in out
    code, out, _ = invoke("deploy", "history", "prod", "--json")
    events = json.loads(out)
    assert [e["data"]["version"] for e in events] == [1, 2, 3]
    assert events[2]["data"]["changed"] == ["shadows", "fallback", "guardrails"]

    code, out, _ = invoke("deploy", "list")
    assert code == 0 and "prod" in out and "cancer@challenger 20%" in out
    code, out, _ = invoke("deploy", "delete", "prod", "-r", "retired")
    assert code == 0 and "it was at version 3" in out
    code, out, _ = invoke("deploy", "list")
    assert "No deployments yet" in out
    code, out, _ = invoke("deploy", "history", "prod", "--json")
    assert [e["kind"] for e in json.loads(out)][-1] == "deployment.deleted"


def test_bad_input_is_one_error_line_naming_the_field(invoke: Invoke, models: None) -> None:
    assert invoke("deploy", "create", "prod", "--champion", "cancer@champion")[0] == 0
    for args, code, message in (
        (
            ["create", "prod", "--champion", "cancer@1"],
            1,
            "exists (version 1, champion cancer@champion)",
        ),
        (
            ["create", "p2", "--champion", "cancer"],
            2,
            "field 'champion' is 'cancer': name a version or an alias",
        ),
        (
            ["create", "p2", "--champion", "cancer@9"],
            3,
            "field 'champion': Model 'cancer' has no version 9",
        ),
        (
            ["create", "p2", "--champion", "cancer@1", "--canary", "cancer@2"],
            2,
            "A canary is 'ref:percent'",
        ),
        (
            ["create", "p2", "--champion", "cancer@1", "--canary", "cancer@2:150"],
            2,
            "field 'canary.share' must be a percentage in [0, 100]",
        ),
        (
            ["create", "p2", "--champion", "cancer@1", "--runtime", "gpu"],
            2,
            "'runtime' must be one of auto, native, onnx",
        ),
        (
            ["create", "p2", "--champion", "cancer@1", "--guardrails", "nope.yaml"],
            2,
            "field 'guardrails': there is no file",
        ),
        (["set", "prod"], 2, "Nothing to change in deployment 'prod'"),
        (["set", "prod", "--canary-share", "5"], 2, "has no canary to resize"),
        (
            ["set", "prod", "--no-canary", "--canary-share", "5"],
            2,
            "give --no-canary or --canary/--canary-share, not both",
        ),
        (["set", "prod", "--canary", "cancer@2:5", "--canary-share", "6"], 2, "give it once"),
        (["set", "prd", "--canary-share", "5"], 3, "There is no deployment 'prd'"),
        (["show", "prd"], 3, "Did you mean 'prod'?"),
    ):
        got, _out, err = invoke("deploy", *args)
        assert (got, message in err) == (code, True), err
        assert "Traceback" not in err
    code, out, _ = invoke("deploy", "history", "prod", "--json")
    assert len(json.loads(out)) == 1  # nothing else was written


def test_serve_a_deployment_is_checked_before_workers_start(
    invoke: Invoke, models: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    started: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda *_a, **k: started.update(k))
    loopml.models.set_alias("cancer", "challenger", 2)
    loopml.deployments.create(
        "prod", champion="cancer@champion", canary="cancer@challenger", canary_share=10
    )
    code, _, err = invoke("serve", "--deployment", "prod", "--workers", "2")
    assert code == 0, err
    assert "following deployment prod" in err and "deployment: prod version 1" in err
    assert "champion: cancer@1, native runtime" in err
    assert "canary (10%): cancer@2, native runtime" in err
    assert started["workers"] == 2
    started.clear()
    for args, message in (
        (["cancer@champion", "--deployment", "prod"], "not both"),
        ([], "not neither"),
        (["--deployment", "prod", "--canary", "cancer@2:5"], "drop --canary"),
        (
            ["--deployment", "prod", "--runtime", "onnx", "--fallback", "none"],
            "drop --fallback, --runtime",
        ),
        (["--deployment", "prd"], "There is no deployment 'prd'"),
    ):
        code, _, err = invoke("serve", *args)
        assert code in (2, 3) and message in err, err
    assert started == {}  # no server started on bad input
