"""loopml.monitoring.log_predictions: rows of a model served elsewhere, checked whole, then
written to the log store with typed columns that read_log returns."""

from __future__ import annotations

import datetime as dt
import inspect
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

import loopml
from loopml.client import fluent
from loopml.core.errors import InvalidArgumentError, NotFoundError
from loopml.core.settings import Settings, resolve_settings
from loopml.health.ingest import log_predictions
from loopml.registry import ModelRegistry
from loopml.store.backend import close_cached_backends, open_backend
from loopml.store.logs import read_log

NAME = "cancer"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A SQLite store with ``cancer@1`` (binary, classes 'no'/'yes') as champion."""
    root = tmp_path_factory.mktemp("ingest")
    settings = resolve_settings(
        {
            "home": root / ".loopml",
            "db_url": f"sqlite:///{root / 'loopml.db'}",
            "artifacts_url": str(root / ".loopml" / "artifacts"),
            "capture_env": False,
        },
        cwd=root,
    )
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.iloc[:, :3]
    labels = np.where(y == 1, "yes", "no")
    model = LogisticRegression(max_iter=1000).fit(X, labels)
    registry = ModelRegistry(open_backend(settings))
    version = registry.register(model, NAME, input_example=X.head())
    registry.approve(version.ref, comment="ok")
    registry.set_alias(NAME, "champion", version.version)
    yield {"settings": settings, "registry": registry, "model": model, "X": X}
    close_cached_backends()


def fresh_logs(tmp_path: Path) -> str:
    return str(tmp_path / "logs")


def test_rows_round_trip_with_ids_times_and_probabilities(
    env: dict[str, Any], tmp_path: Path
) -> None:
    X, model, logs = env["X"].head(4), env["model"], fresh_logs(tmp_path)
    frame = X.assign(comment="not an input")  # extra columns are ignored
    times = [
        "2024-03-01T10:00:00Z",
        dt.datetime(2024, 3, 1, 11),
        pd.Timestamp(1709294400000, unit="ms"),
        1709298000000,
    ]
    ids = log_predictions(
        env["registry"],
        logs,
        f"{NAME}@champion",
        frame,
        model.predict(X),
        ids=[101, 102, 103, 104],
        probabilities=model.predict_proba(X),
        timestamps=times,
        latency_ms=2.5,
    )
    assert ids == ["101", "102", "103", "104"]
    table = read_log(logs, model=NAME)
    assert table.column("caller_id").to_pylist() == ids
    assert set(table.column("route").to_pylist()) == {"external"}
    assert set(table.column("version").to_pylist()) == {1}  # the alias, resolved once
    assert table.column("latency_ms").to_pylist() == [2.5] * 4
    events = table.column("event_at").cast("int64").to_pylist()
    assert events == [1709287200000, 1709290800000, 1709294400000, 1709298000000]
    assert table.column("in.mean radius").to_pylist() == X["mean radius"].tolist()
    assert "in.comment" not in table.column_names
    assert table.column("out").to_pylist() == model.predict(X).tolist()
    assert table.column("p.yes").to_pylist() == pytest.approx(model.predict_proba(X)[:, 1])
    # the same caller ids again (a retry) do not count the rows twice
    log_predictions(
        env["registry"], logs, f"{NAME}@1", X, model.predict(X), ids=[101, 102, 103, 104]
    )
    assert read_log(logs, model=NAME).num_rows == 4


def test_without_ids_prediction_ids_are_made_and_returned(
    env: dict[str, Any], tmp_path: Path
) -> None:
    X, logs = env["X"].head(3), fresh_logs(tmp_path)
    ids = log_predictions(env["registry"], logs, f"{NAME}@1", X, [0, 1, 0])
    table = read_log(logs, model=NAME)
    assert sorted(table.column("prediction_id").to_pylist()) == sorted(ids)
    assert len(set(ids)) == 3 and all(len(i) == 32 for i in ids)
    assert table.column("caller_id").null_count == 3
    assert table.column("latency_ms").null_count == 3
    assert table.column("out").type == "double"


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"model": NAME}, InvalidArgumentError, "'name@version' or 'name@alias'"),
        ({"model": f"{NAME}@staging"}, NotFoundError, "staging"),
        ({"frame": "rows"}, InvalidArgumentError, "must be a pandas DataFrame"),
        (
            {"drop": "mean texture"},
            InvalidArgumentError,
            r"lacks the input columns \['mean texture'\]",
        ),
        ({"predictions": [1, 0]}, InvalidArgumentError, r"one value per row of the frame \(3\)"),
        ({"ids": ["a", "b", "a"]}, InvalidArgumentError, r"'a' is at rows \[0, 2\]"),
        ({"ids": ["a", "", "c"]}, InvalidArgumentError, r"rows \[1\] have an empty"),
        ({"ids": ["a", "b"]}, InvalidArgumentError, r"one id per row of the frame \(3\)"),
        ({"probabilities": np.full((3, 3), 0.3)}, InvalidArgumentError, r"order \['no', 'yes'\]"),
        ({"probabilities": [[0.5, 0.5], [1.2, -0.2], [0, 1]]}, InvalidArgumentError, r"rows \[1\]"),
        ({"timestamps": ["2024-01-01", None, "2024-01-02"]}, InvalidArgumentError, r"rows \[1\]"),
        ({"timestamps": ["2024-01-01", "soon", "2024-01-02"]}, InvalidArgumentError, "ISO"),
        ({"timestamps": [1, 2]}, InvalidArgumentError, r"one time per row of the frame \(3\)"),
        ({"latency_ms": -1}, InvalidArgumentError, "numbers >= 0"),
    ],
)
def test_bad_arguments_are_refused_and_nothing_is_written(
    env: dict[str, Any], tmp_path: Path, change: dict[str, Any], error: type, match: str
) -> None:
    X = env["X"].head(3)
    args: dict[str, Any] = {"model": f"{NAME}@1", "frame": X, "predictions": ["no", "yes", "no"]}
    drop = change.pop("drop", None)
    if drop is not None:
        args["frame"] = X.drop(columns=[drop]).assign(**{"mean textur": 1.0})
    args.update(change)
    logs = fresh_logs(tmp_path)
    with pytest.raises(error, match=match):
        log_predictions(
            env["registry"],
            logs,
            args.pop("model"),
            args.pop("frame"),
            args.pop("predictions"),
            **args,
        )
    assert not Path(logs).exists()


def test_missing_column_suggests_the_near_name(env: dict[str, Any], tmp_path: Path) -> None:
    frame = env["X"].head(2).rename(columns={"mean radius": "mean radus"})
    with pytest.raises(InvalidArgumentError, match="Did you mean 'mean radus'"):
        log_predictions(env["registry"], fresh_logs(tmp_path), f"{NAME}@1", frame, [0, 1])


def test_sdk_fronts_the_service_with_the_same_options(
    env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    sdk = list(inspect.signature(loopml.monitoring.log_predictions).parameters.values())
    service = [  # the registry and log store are the SDK's; at and prediction_ids the server's
        p
        for p in list(inspect.signature(log_predictions).parameters.values())[2:]
        if p.name not in ("at", "prediction_ids")
    ]
    assert [(p.name, p.kind, p.default) for p in sdk] == [
        (p.name, p.kind, p.default) for p in service
    ]
    settings: Settings = env["settings"]
    for key, value in {
        "LOOPML_HOME": str(settings.home),
        "LOOPML_DB_URL": settings.db_url,
        "LOOPML_ARTIFACTS_URL": settings.artifacts_url,
        "LOOPML_CAPTURE_ENV": "false",
    }.items():
        monkeypatch.setenv(key, value)
    try:
        X = env["X"].head(5)
        ids = loopml.monitoring.log_predictions(f"{NAME}@champion", X, env["model"].predict(X))
    finally:
        fluent.reset_client()
    table = read_log(settings.logs_url, model=NAME, spool_dirs=[settings.home / "spool"])
    assert set(ids) <= set(table.column("prediction_id").to_pylist())
    assert os.path.isdir(settings.logs_url)


def test_a_hundred_thousand_rows_round_trip(env: dict[str, Any], tmp_path: Path) -> None:
    X, model, logs = env["X"], env["model"], fresh_logs(tmp_path)
    big = X.sample(100_000, replace=True, random_state=0).reset_index(drop=True)
    times = pd.date_range("2024-01-01", periods=len(big), freq="min")  # about 70 days
    ids = log_predictions(
        env["registry"],
        logs,
        f"{NAME}@1",
        big,
        model.predict(big),
        ids=[f"row-{i}" for i in range(len(big))],
        probabilities=model.predict_proba(big),
        timestamps=times,
    )
    assert len(ids) == 100_000
    table = read_log(logs, model=NAME)
    assert table.num_rows == 100_000
    assert table.column("caller_id").to_pylist() == ids  # in event-time order
    assert table.column("in.mean radius").to_pylist() == big["mean radius"].tolist()
    assert table.column("p.yes").to_numpy() == pytest.approx(model.predict_proba(big)[:, 1])
    start = int(pd.Timestamp("2024-02-01", tz="UTC").value // 10**6)
    window = read_log(
        logs, model=NAME, since=start, until=start + 86_400_000, features=["mean radius"]
    )
    assert window.num_rows == 1440
    assert window.column_names[-4:] == ["in.mean radius", "out", "p.no", "p.yes"]


def test_probabilities_as_a_labelled_frame_or_the_positive_column(
    env: dict[str, Any], tmp_path: Path
) -> None:
    X, model = env["X"].head(3), env["model"]
    proba = model.predict_proba(X)
    logs = fresh_logs(tmp_path)
    labelled = pd.DataFrame({"yes": proba[:, 1], "no": proba[:, 0]})  # columns out of order
    log_predictions(
        env["registry"],
        logs,
        f"{NAME}@1",
        X,
        model.predict(X),
        ids=[1, 2, 3],
        probabilities=labelled,
    )
    log_predictions(
        env["registry"],
        logs,
        f"{NAME}@1",
        X,
        model.predict(X),
        ids=[4, 5, 6],
        probabilities=proba[:, 1],
    )
    table = read_log(logs, model=NAME).sort_by("caller_id")
    assert table.column("caller_id").to_pylist() == ["1", "2", "3", "4", "5", "6"]
    assert table.column("p.yes").to_numpy() == pytest.approx(np.tile(proba[:, 1], 2))
    assert table.column("p.no").to_numpy() == pytest.approx(np.tile(proba[:, 0], 2))
