"""The demo behind ``make demo``: a small model sweep tracked in the embedded store.

Registers scikit-learn's bundled breast-cancer data (569 rows, no download) as a dataset
version, splits it reproducibly into train and test versions, trains logistic regression,
random forests and gradient boosting on them, and logs each model as a nested run under one
sweep run (its dataset inputs, params, metrics, a learning curve, a confusion-matrix figure,
feature importances as Parquet) and registers each model as a version of ``breast-cancer``.
Then it searches the runs, prints a comparison table, approves the best version and makes it
the ``champion`` if it passes a release gate (evaluated on the test split by slice, with
bootstrap intervals, against the previous champion), writes the HTML report, loads the
champion back by alias and scores the test split with it.

Run it with ``make demo`` or ``python -m loopml.examples.demo``.
"""

from __future__ import annotations

import time
from typing import Any

EXPERIMENT = "breast-cancer-demo"
MODEL = "breast-cancer"


def _models(seed: int) -> list[tuple[str, Any, dict[str, Any]]]:
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    out: list[tuple[str, Any, dict[str, Any]]] = []
    for c in (0.1, 1.0, 10.0):
        params = {"model": "logistic_regression", "C": c}
        out.append(
            (
                f"logreg-C{c}",
                make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000)),
                params,
            )
        )
    for depth in (3, 8):
        params = {"model": "random_forest", "max_depth": depth, "n_estimators": 200}
        out.append(
            (
                f"forest-d{depth}",
                RandomForestClassifier(
                    n_estimators=200, max_depth=depth, random_state=seed, n_jobs=1
                ),
                params,
            )
        )
    params = {
        "model": "gradient_boosting",
        "max_depth": 2,
        "n_estimators": 150,
        "learning_rate": 0.1,
    }
    out.append(
        (
            "gboost",
            GradientBoostingClassifier(
                n_estimators=150, max_depth=2, learning_rate=0.1, random_state=seed
            ),
            params,
        )
    )
    return out


def _confusion_figure(y_true: Any, y_pred: Any, title: str) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from sklearn.metrics import ConfusionMatrixDisplay

    fig = Figure(figsize=(3.5, 3.5))
    ax = fig.add_subplot()
    ConfusionMatrixDisplay.from_predictions(y_true, y_pred, ax=ax, colorbar=False)
    ax.set_title(title)
    return fig


def run_demo(seed: int = 7) -> str:
    """Run the sweep and return the sweep run's id."""
    import pandas as pd
    from sklearn.datasets import load_breast_cancer
    from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score

    import loopml

    bundled = load_breast_cancer(as_frame=True)
    features = list(bundled.feature_names)
    dataset = loopml.datasets.register(
        "breast-cancer",
        bundled.frame,
        target="target",
        description="scikit-learn's bundled Wisconsin breast cancer data (569 rows)",
    )
    parts = loopml.datasets.split(dataset.ref, fractions={"train": 0.7, "test": 0.3}, seed=seed)
    train, test = (loopml.datasets.load(parts[p].ref) for p in ("train", "test"))
    X_train, y_train = train[features], train["target"]
    X_test, y_test = test[features], test["target"]

    with loopml.start_run(experiment=EXPERIMENT, name="sweep", tags={"demo": "true"}) as sweep:
        sweep.log_params({"dataset": dataset.ref, "seed": seed, "rows": dataset.rows})
        for name, model, params in _models(seed):
            with loopml.start_run(experiment=EXPERIMENT, name=name) as run:
                run.log_input(parts["train"], role="train")
                run.log_input(parts["test"], role="test")
                run.log_params(params)
                started = time.perf_counter()
                model.fit(X_train, y_train)
                run.log_metric("fit_seconds", time.perf_counter() - started)
                proba = model.predict_proba(X_test)[:, 1]
                pred = (proba >= 0.5).astype(int)
                run.log_metrics(
                    {
                        "auc": roc_auc_score(y_test, proba),
                        "accuracy": accuracy_score(y_test, pred),
                        "f1": f1_score(y_test, pred),
                        "log_loss": log_loss(y_test, proba),
                    }
                )
                if hasattr(model, "staged_predict_proba"):  # a learning curve, step by step
                    for step, staged in enumerate(model.staged_predict_proba(X_test)):
                        run.log_metric("val_auc", roc_auc_score(y_test, staged[:, 1]), step=step)
                run.log_artifact(_confusion_figure(y_test, pred, name), name="confusion.png")
                estimator = model[-1] if hasattr(model, "steps") else model
                weights = getattr(estimator, "feature_importances_", None)
                if weights is None:
                    weights = abs(estimator.coef_[0])
                importance = pd.DataFrame({"feature": features, "importance": weights})
                run.log_artifact(
                    importance.sort_values("importance", ascending=False),
                    name="feature_importance.parquet",
                )
                version = run.log_model(
                    model,
                    MODEL,
                    input_example=X_train.head(),
                    training_data=parts["train"],
                    validation_data=parts["test"],
                    description=name,
                )
                run.set_tag("model_version", version.ref)
        return sweep.run_id


def print_comparison(sweep_id: str) -> None:
    """Print the sweep's runs, best AUC first, as a Rich table."""
    from rich.console import Console
    from rich.table import Table

    import loopml

    frame = loopml.search_runs(
        EXPERIMENT,
        filter=f"parent_run_id = '{sweep_id}' and metrics.auc > 0.5",
        order_by=["metrics.auc desc", "metrics.log_loss"],
    )
    table = Table(title=f"{len(frame)} models on breast cancer (sweep {sweep_id[:8]}), best first")
    for col in ("name", "auc", "accuracy", "f1", "log_loss", "fit s"):
        table.add_column(col, justify="left" if col == "name" else "right")
    for row in frame.to_dict("records"):
        table.add_row(
            row["name"],
            *[
                f"{row[f'metrics.{m}']:.4f}"
                for m in ("auc", "accuracy", "f1", "log_loss", "fit_seconds")
            ],
        )
    console = Console()
    console.print(table)
    console.print(
        "Explore: [bold].venv/bin/loopml runs list -e breast-cancer-demo[/], "
        f"[bold].venv/bin/loopml runs show {frame.run_id.iloc[0][:8]}[/], "
        f"[bold].venv/bin/loopml runs compare {frame.run_id.iloc[0][:8]} "
        f"{frame.run_id.iloc[-1][:8]}[/]"
    )


#: The demo's release gate: the best model must clear it to become champion.
GATE = {
    "name": "demo-release",
    "rules": [
        {"metric": "auc", "min": 0.95, "use": "low"},
        {"metric": "log_loss", "max": 0.35},
        {
            "slices": {
                "metric": "accuracy",
                "min_support": 30,
                "max_drop": 0.10,
                "versus": "overall",
            }
        },
        {"cost": {"p99_1_ms": 250, "artifact_mb": 50}},
    ],
}


def promote_best(sweep_id: str) -> bool:
    """Evaluate the sweep's best model on the test split (by slice, with intervals, against
    the current champion if there is one), gate it, and make it champion if the gate passes;
    then load it back by alias and score with it. Returns whether it became champion."""
    from rich.console import Console
    from sklearn.metrics import roc_auc_score

    import loopml

    console = Console()
    best = loopml.search_runs(
        EXPERIMENT,
        filter=f"parent_run_id = '{sweep_id}'",
        order_by=["metrics.auc desc", "metrics.log_loss"],
        limit=1,
        output="runs",
    )[0]
    ref = best.tags["model_version"]
    version = loopml.models.get(ref)
    evaluation = loopml.evaluate(
        ref,
        datasets=[version.validation_data or ""],
        slices=[{"column": "mean radius", "bins": [0, 12, 15, 30]}],
        resamples=500,
    )
    decision = loopml.gate(ref, GATE, evaluation=evaluation)
    from loopml.core.settings import resolve_settings

    report = resolve_settings().home / "reports" / f"{MODEL}-{version.version}.html"
    loopml.evaluation_report(evaluation, report, decision=decision)
    for check in decision.checks:
        mark = "[green]pass[/]" if check.passed else "[red]FAIL[/]"
        console.print(f"  {mark} {check.rule}: {check.observed}")
    if not decision.passed:
        console.print(f"Gate failed: {ref} stays a candidate. Report: {report}")
        return False
    loopml.models.approve(ref, comment=f"gate {decision.policy} passed ({best.name})")
    move = loopml.models.set_alias(MODEL, "champion", version.version, reason="passed the gate")
    champion = loopml.models.load(f"{MODEL}@champion")
    test = loopml.datasets.load(version.validation_data or "")
    auc = roc_auc_score(test["target"], champion.predict_proba(test)[1])
    console.print(
        f"Champion: [bold]{MODEL}@{move.to_version}[/] ({best.name}, {version.flavor}), "
        f"AUC on {version.validation_data} loaded by alias: {auc:.4f}. Report: {report}"
    )
    console.print(
        f"Explore: [bold].venv/bin/loopml models versions {MODEL}[/], "
        f"[bold].venv/bin/loopml models lineage {MODEL}@champion[/], "
        f"[bold].venv/bin/loopml evaluations list {MODEL}[/]"
    )
    return True


def serve_champion() -> None:
    """Export the champion to ONNX when it converts (checked against the original), then
    answer the test split one request at a time through the model server's service, in
    process, and read the prediction log back from Parquet."""
    import asyncio
    import statistics

    from rich.console import Console

    import loopml
    from loopml.core.errors import LoopmlError
    from loopml.core.settings import resolve_settings
    from loopml.serving import InferenceService, ServeConfig
    from loopml.store.logs import read_predictions

    console = Console()
    settings = resolve_settings()
    champion = loopml.models.get(f"{MODEL}@champion")
    try:
        loopml.models.export_onnx(champion.ref)  # checked on its validation data
        runtime = "onnx"
    except (LoopmlError, ImportError) as exc:
        runtime = "native"
        console.print(f"  (no ONNX export: {exc})")
    test = loopml.datasets.load(champion.validation_data or "").drop(columns=["target"])
    records = test.to_dict(orient="records")
    config = ServeConfig(
        model=f"{MODEL}@champion",
        poll_interval_s=0,
        spool_dir=settings.home / "spool" / "demo",
        logs_url=settings.logs_url,
    )
    service = InferenceService(loopml.LoopmlClient().backend, config)

    async def replay() -> list[float]:
        latencies = [(await service.predict(record)).latency_ms for record in records]
        await service.stop()  # flushes the log and compacts it into Parquet
        return latencies

    latencies = sorted(asyncio.run(replay()))
    logged = read_predictions(settings.logs_url, model=MODEL).num_rows
    console.print(
        f"Served {len(records)} requests from {MODEL}@champion ({runtime} runtime) in process: "
        f"p50 {statistics.median(latencies):.2f} ms, p99 "
        f"{latencies[int(0.99 * (len(latencies) - 1))]:.2f} ms; {logged} predictions in the "
        f"log at {settings.logs_url}. Over HTTP: [bold].venv/bin/loopml serve "
        f"{MODEL}@champion[/]"
    )


def main() -> None:
    """Entry point of ``make demo``."""
    from loopml.core.settings import resolve_settings

    settings = resolve_settings()
    print(f"loopml demo: tracking into {settings.db_url}")
    sweep_id = run_demo()
    print_comparison(sweep_id)
    if promote_best(sweep_id):
        serve_champion()


if __name__ == "__main__":
    main()
