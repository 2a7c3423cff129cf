"""Pipelines: a model trained in cached steps from a registered dataset, two branches at once
on a process pool, the best model registered; run again from the cache; one parameter
changed re-runs only what it reaches (docs/pipelines.md)."""

from typing import Any

import pandas as pd
from sklearn.datasets import load_breast_cancer

import loopml
from loopml.pipelines import read_dataset, register_model


@loopml.step
def split(frame: pd.DataFrame, *, test_size: float = 0.25) -> tuple[pd.DataFrame, pd.DataFrame]:
    test = frame.sample(frac=test_size, random_state=0)
    return frame.drop(index=test.index), test


@loopml.step
def fit_forest(train: pd.DataFrame, *, trees: int = 50) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    forest = RandomForestClassifier(n_estimators=trees, random_state=0)
    return forest.fit(train.drop(columns="target"), train["target"])


@loopml.step
def fit_logistic(train: pd.DataFrame) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    return model.fit(train.drop(columns="target"), train["target"])


@loopml.step
def pick_best(forest: Any, logistic: Any, test: pd.DataFrame) -> Any:
    features, labels = test.drop(columns="target"), test["target"]
    return max((forest, logistic), key=lambda model: model.score(features, labels))


@loopml.step
def accuracy(model: Any, test: pd.DataFrame) -> float:
    return float(model.score(test.drop(columns="target"), test["target"]))


@loopml.pipeline
def train(trees: int = 50) -> Any:
    data = read_dataset("cancer@latest")
    train_set, test_set = split(data)
    forest = fit_forest(train_set, trees=trees)  # these two branches do not depend on
    logistic = fit_logistic(train_set)  # each other: they run at once on process or ray
    best = pick_best(forest, logistic, test_set)
    version = register_model(best, "cancer-clf", training_data=data)
    return {"model": version, "accuracy": accuracy(best, test_set)}


if __name__ == "__main__":  # worker processes import this file: keep the work under the guard
    loopml.datasets.register("cancer", load_breast_cancer(as_frame=True).frame, target="target")

    first = train.run(executor="process", max_workers=2)
    print(first.outputs)  # {'model': {'model': 'cancer-clf', 'version': 1, ...}, 'accuracy': ...}
    for name, step in first.steps.items():
        print(f"{name:14} hit={step.cache_hit} key={step.cache_key[:12]} {step.seconds:.2f}s")
    assert first.outputs["model"]["ref"] == "cancer-clf@1"
    assert first.outputs["accuracy"] > 0.9

    again = train.run()  # in this process; nothing to compute
    assert all(s.cache_hit for name, s in again.steps.items() if name != "read_dataset")
    assert again.outputs == first.outputs  # and no second model version

    more = train.run(trees=80)  # fit_forest and what follows it miss; the rest hits
    assert more.steps["split"].cache_hit and more.steps["fit_logistic"].cache_hit
    assert not more.steps["fit_forest"].cache_hit
