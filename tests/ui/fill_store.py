"""Fill a store for the UI's browser tests with real runs, a real dataset and real models.

Run as ``python -m tests.ui.fill_store FACTS.json`` with ``LOOPML_HOME`` set: it writes what
the pages must show (run ids, metrics, versions, the gate's checks) to ``FACTS.json``, read
from the store through the SDK, so the tests compare the pages with the store and not with
numbers written here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import orjson
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import loopml

EXPERIMENT = "ui-demo"
MODEL = "ui-model"
RUNS = 12
STEPS = 20


def main(facts_path: Path) -> None:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    frame = X.iloc[:, :8].copy()
    frame["malignant"] = 1 - y
    data = loopml.datasets.register("ui-cancer", frame, target="malignant")
    parts = loopml.datasets.split(data.ref, fractions={"train": 0.7, "valid": 0.3})
    train = loopml.datasets.load(parts["train"].ref)
    features, label = train.drop(columns="malignant"), train["malignant"]

    for i in range(RUNS):  # a sweep's worth of runs with curves per step
        with loopml.start_run(experiment=EXPERIMENT, name=f"sweep-{i:02d}"):
            lr = round(0.01 * (i + 1), 2)
            loopml.log_params({"lr": lr, "depth": 2 + i % 4})
            for step in range(STEPS):
                loopml.log_metric("loss", 1.0 / (1 + lr * 10 * (step + 1)), step=step)
            loopml.log_metric("auc", 0.80 + 0.01 * i)

    with loopml.start_run(experiment=EXPERIMENT, name="train-models") as run:
        run.log_input(parts["train"], role="train")
        loopml.log_params({"model": "logistic+forest"})
        figure, axes = plt.subplots(figsize=(4, 3))
        axes.plot(range(STEPS), [1 / (s + 1) for s in range(STEPS)])
        loopml.log_artifact(figure, name="loss.png")
        plt.close(figure)
        loopml.log_dict({"features": list(features.columns)}, "features.json")
        logistic = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        v1 = run.log_model(
            logistic.fit(features, label),
            MODEL,
            input_example=features.head(),
            training_data=parts["train"],
            validation_data=parts["valid"],
            description="logistic regression on 8 features",
        )
        forest = RandomForestClassifier(n_estimators=30, random_state=0)
        v2 = run.log_model(
            forest.fit(features, label),
            MODEL,
            input_example=features.head(),
            training_data=parts["train"],
            description="random forest",
        )
        v3 = run.log_model(
            RandomForestClassifier(n_estimators=5, random_state=1).fit(features, label),
            MODEL,
            input_example=features.head(),
            training_data=parts["train"],
            description="a small forest nobody reviews",
        )
        train_run = run.run_id
    loopml.models.approve(v1.ref, comment="first model")
    loopml.models.set_alias(MODEL, "champion", v1.version, reason="first release")
    evaluation = loopml.evaluate(
        v2.ref,
        datasets=[parts["valid"].ref],
        baseline="champion",
        slices=[{"column": "mean radius", "bins": [0, 12, 15, 40]}],
        resamples=50,
    )
    policy = {
        "name": "ui-release",
        "rules": [
            {"metric": "auc", "min": 0.9},
            {"metric": "auc", "no_worse_than_baseline_by": 0.05},
        ],
    }
    decision = loopml.gate(v2.ref, policy, evaluation=evaluation)
    deployment = loopml.deployments.create(
        "ui-prod", champion=f"{MODEL}@champion", shadows=[v3.ref], reason="go live"
    )
    valid = loopml.datasets.load(parts["valid"].ref)
    report = loopml.monitor(f"{MODEL}@champion", current=valid, window=50, multivariate=False)

    runs = loopml.search_runs(EXPERIMENT, output="runs")
    facts = {
        "experiment": EXPERIMENT,
        "runs": [
            {
                "run_id": r.run_id,
                "name": r.name,
                "params": dict(r.params),
                "metrics": dict(r.metrics),
            }
            for r in runs
        ],
        "train_run": train_run,
        "dataset": parts["train"].ref,
        "dataset_rows": parts["train"].rows,
        "dataset_means": {
            c.name: c.numeric.mean for c in parts["train"].profile.columns if c.numeric
        },
        "model": MODEL,
        "versions": [v1.version, v2.version, v3.version],
        "evaluation": evaluation.evaluation_id,
        "evaluation_metrics": {
            m.name: m.value for m in evaluation.datasets[0].metrics if m.value is not None
        },
        "slices": [s.name for s in evaluation.datasets[0].slices],
        "deployment": {"name": deployment.name, "champion": deployment.champion},
        "monitoring": [
            {"index": w.index, "rows": w.rows, "drift_share": w.drift_share} for w in report.windows
        ],
        "explanations": {
            found.method: [[f.feature, f.importance] for f in found.features]
            for found in loopml.models.explanations(v2.ref)
        },
        "gate": {
            "passed": decision.passed,
            "checks": [{"rule": c.rule, "passed": c.passed} for c in decision.checks],
        },
    }
    facts_path.write_bytes(orjson.dumps(facts, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
