"""`loopml predict`: batch scoring of a file in chunks, logged like the server; `loopml serve`'s
check of the deployment before any worker starts."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import loopml
from loopml.api.limits import LimitedHttpToolsProtocol
from loopml.core.settings import resolve_settings
from loopml.store.logs import read_predictions
from tests.cli.conftest import Invoke


@pytest.fixture
def model(invoke: Invoke) -> pd.DataFrame:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.iloc[:, :5]
    fitted = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    version = loopml.models.register(fitted, "cancer", input_example=X.head())
    loopml.models.approve(version.ref)
    loopml.models.set_alias("cancer", "champion", version.version)
    return X.assign(proba=fitted.predict_proba(X)[:, 1], expected=fitted.predict(X))


def test_predict_scores_a_file_in_chunks_and_logs_every_row(
    invoke: Invoke, model: pd.DataFrame, tmp_path: Path
) -> None:
    source = tmp_path / "rows.parquet"
    model.drop(columns=["proba", "expected"]).to_parquet(source)
    out = tmp_path / "scored.parquet"
    code, _out, err = invoke(
        "predict", "cancer@champion", str(source), "-o", str(out), "--batch-size", "100"
    )
    assert code == 0, err
    assert f"Wrote {len(model):,} predictions" in err
    scored = pd.read_parquet(out)
    assert scored["prediction"].tolist() == model["expected"].tolist()
    assert scored["proba_1"].to_numpy() == pytest.approx(model["proba"].to_numpy())
    assert scored["prediction_id"].is_unique
    logged = read_predictions(resolve_settings().logs_url, model="cancer")
    assert sorted(logged.column("prediction_id").to_pylist()) == sorted(scored["prediction_id"])
    assert set(logged.column("route").to_pylist()) == {"batch"}


def test_predict_with_the_onnx_runtime(invoke: Invoke, model: pd.DataFrame, tmp_path: Path) -> None:
    source = tmp_path / "rows.parquet"
    model.drop(columns=["proba", "expected"]).to_parquet(source)
    out = tmp_path / "scored.parquet"
    args = ("predict", "cancer@champion", str(source), "-o", str(out), "--no-log")
    code, _out, err = invoke(*args, "--runtime", "onnx")
    assert code == 3 and "has no ONNX export" in err  # asked for, not there: said
    assert invoke(*args, "--runtime", "fast")[0] == 2
    loopml.models.export_onnx("cancer@1", holdout=model.drop(columns=["proba", "expected"]))
    code, _out, err = invoke(*args, "--runtime", "auto")
    assert code == 0, err
    assert "of cancer@1 (onnx runtime)" in err  # auto took the export
    scored = pd.read_parquet(out)
    assert scored["prediction"].tolist() == model["expected"].tolist()
    assert scored["proba_1"].to_numpy() == pytest.approx(model["proba"].to_numpy(), abs=1e-5)


def test_predict_errors(invoke: Invoke, model: pd.DataFrame, tmp_path: Path) -> None:
    code, _, err = invoke(
        "predict",
        "cancer@champion",
        str(tmp_path / "nope.parquet"),
        "-o",
        str(tmp_path / "o.parquet"),
    )
    assert code == 3 and "No input file" in err
    bad = tmp_path / "bad.parquet"
    model[["mean radius"]].to_parquet(bad)
    code, _, err = invoke("predict", "cancer@champion", str(bad), "-o", str(tmp_path / "o.parquet"))
    assert code == 2 and "mean texture" in err
    assert not (tmp_path / "o.parquet").exists()  # nothing half-written


def test_serve_checks_the_deployment_before_starting_workers(
    invoke: Invoke, model: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wrong ref, a missing export or a bad fallback is one clear error up front; with
    several workers it used to be a traceback per worker, restarted without end."""
    import uvicorn

    def no_server(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("uvicorn must not start")

    monkeypatch.setattr(uvicorn, "run", no_server)
    for args, code, message in (
        (["nosuch@champion"], 3, "No model named 'nosuch'"),
        (["cancer@champion", "--canary", "cancer@7:10"], 3, "has no version 7"),
        (["cancer@champion", "--runtime", "onnx"], 3, "has no ONNX export"),
        (["cancer@champion", "--fallback", "python:no_such_module:f"], 2, "Cannot import"),
        (["cancer@champion", "--fallback", "value:[1]"], 2, "one number, text or boolean"),
        (["cancer@champion", "--header-timeout", "0"], 2, "'header_timeout_s'"),
        (["cancer@champion", "--max-header-bytes", "10"], 2, "at least 1024 bytes"),
    ):
        got, _out, err = invoke("serve", *args, "--workers", "2")
        assert (got, message in err) == (code, True), err
        assert "Traceback" not in err
    started: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda *_a, **k: started.update(k))  # it would start
    got, _out, err = invoke(
        "serve", "cancer@champion", "--fallback", "value:0", "--max-connections", "500"
    )
    assert got == 0, err
    assert started["limit_concurrency"] == 501 and started["timeout_keep_alive"] == 5.0
    assert started["http"] is LimitedHttpToolsProtocol
    assert "champion: cancer@1, native runtime" in err and "fallback: value:0" in err


def test_serve_options_default_to_the_serve_config_defaults() -> None:
    """`loopml serve`'s defaults and the worker's rebuilt config are ServeConfig's own."""
    import inspect

    from loopml.api.server import config_from_options
    from loopml.cli.serving import serve_command
    from loopml.serving.config import ServeConfig

    options = {
        p.name: p.default.default for p in inspect.signature(serve_command).parameters.values()
    }
    base = ServeConfig(model="m@champion")
    assert options["fallback"] == base.fallback
    assert options["max_batch"] == base.max_batch
    assert options["max_wait_ms"] == base.max_wait_ms
    assert options["poll"] == base.poll_interval_s
    assert options["runtime"] == base.runtime
    from dataclasses import fields

    from loopml.api.limits import ConnectionLimits

    limits = {f.name: f.default for f in fields(ConnectionLimits)}
    assert options["header_timeout"] == limits["header_timeout_s"]
    assert options["body_timeout"] == limits["body_timeout_s"]
    assert options["keep_alive"] == limits["keep_alive_s"]
    assert options["max_header_bytes"] == limits["max_header_bytes"]
    assert options["max_connections"] == limits["max_connections"]
    rebuilt = config_from_options({"model": "m@champion"}, resolve_settings(), spool=None)
    assert rebuilt == ServeConfig(model="m@champion", freeze_heap=True, logs_url=rebuilt.logs_url)


def test_serve_workers_print_what_a_swap_serves(capsys: pytest.CaptureFixture[str]) -> None:
    """`loopml serve` logs at warning level: the workers print the serving log's lines (a hot
    swap's new version and fallback) on stderr themselves, once each."""
    import logging

    from loopml.api.server import announce_serving_log

    log = logging.getLogger("loopml.serving")
    before, level = list(log.handlers), log.level
    try:
        announce_serving_log()
        announce_serving_log()
        assert len(log.handlers) == len(before) + 1
        log.info("cancer@champion now serves cancer@1 (was cancer@2); fallback: none")
        err = capsys.readouterr().err
        assert err.count("now serves cancer@1 (was cancer@2); fallback: none") == 1
        assert err.startswith("[worker ")
    finally:
        log.handlers[:] = before
        log.setLevel(level)


def test_predict_refuses_bad_time_or_id_columns_before_scoring(
    invoke: Invoke, model: pd.DataFrame, tmp_path: Path
) -> None:
    rows = model.drop(columns=["proba", "expected"]).head(4)
    source = tmp_path / "rows.csv"
    rows.assign(when=["2024-01-05", "2024-01-06", "soon", "2024-01-07"], order=[1, 2, 3, 1]).to_csv(
        source, index=False
    )
    out = tmp_path / "o.parquet"
    base = ("predict", "cancer@champion", str(source), "-o", str(out))
    for extra, message in (
        (("--timestamp-column", "wen"), "has no column 'wen'"),
        (("--timestamp-column", "when"), "timestamps[2] is 'soon', not an ISO 8601 time"),
        (("--id-column", "order"), "ids[3] is '1', the same as ids[0]"),
    ):
        code, _, err = invoke(*base, *extra)
        assert code == 2 and message in " ".join(err.split()), err
        assert not out.exists()  # refused before anything was scored
    assert read_predictions(resolve_settings().logs_url, model="cancer").num_rows == 0
    code, _, err = invoke(*base, "--id-column", "when")  # unique text: fine as ids
    assert code == 0, err
    assert read_predictions(resolve_settings().logs_url, model="cancer").num_rows == 4
