"""Steps and pipelines the pipeline tests run: a real model on scikit-learn's bundled breast
cancer data, two branches that wait for each other, and steps that fail on purpose."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd

import loopml
from loopml.pipelines import read_dataset, register_dataset, register_model

#: How long a branch waits for the other to start before saying they did not overlap.
RENDEZVOUS_SECONDS = 120.0


@loopml.step
def load_cancer() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer(as_frame=True).frame


@loopml.step
def split(
    frame: pd.DataFrame, *, test_size: float = 0.25, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    test = frame.sample(frac=test_size, random_state=seed)
    return frame.drop(index=test.index), test


@loopml.step
def fit(train: pd.DataFrame, *, n_estimators: int = 20) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    model = RandomForestClassifier(n_estimators=n_estimators, random_state=0, n_jobs=1)
    return model.fit(train.drop(columns="target"), train["target"])


@loopml.step
def evaluate(model: Any, test: pd.DataFrame) -> float:
    return float(model.score(test.drop(columns="target"), test["target"]))


@loopml.pipeline
def train(n_estimators: int = 20, test_size: float = 0.25) -> Any:
    data = load_cancer()
    train_set, test_set = split(data, test_size=test_size)
    model = fit(train_set, n_estimators=n_estimators)
    return {"model": model, "accuracy": evaluate(model, test_set)}


@loopml.pipeline
def train_registered(dataset: str = "cancer@1", name: str = "cancer-rf") -> Any:
    data = read_dataset(dataset)
    train_set, test_set = split(data)
    model = fit(train_set)
    version = register_model(model, name, training_data=data)
    return {"version": version, "accuracy": evaluate(model, test_set)}


# -- two branches -------------------------------------------------------------------------


@loopml.step
def numbers(rows: int) -> pd.DataFrame:
    return pd.DataFrame({"x": range(rows)})


@loopml.step(cache=False)
def branch(frame: pd.DataFrame, *, name: str, rendezvous: str) -> dict[str, Any]:
    """Mark this branch started, then wait until the other one has started too (so a
    pipeline finishing proves the two ran at the same time)."""
    if rendezvous:
        folder = Path(rendezvous)
        (folder / name).touch()
        other = folder / ("right" if name == "left" else "left")
        deadline = time.monotonic() + RENDEZVOUS_SECONDS
        while not other.exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"branch {name!r}: the other branch never started")
            time.sleep(0.01)
    return {"name": name, "sum": float(frame["x"].sum()), "pid": os.getpid()}


@loopml.step
def join(left: dict[str, Any], right: dict[str, Any]) -> float:
    return float(left["sum"] + right["sum"])


@loopml.pipeline
def fork(rows: int = 100, rendezvous: str = "") -> Any:
    frame = numbers(rows)
    left = branch(frame, name="left", rendezvous=rendezvous)
    right = branch(frame, name="right", rendezvous=rendezvous)
    return join(left, right)


# -- failures -----------------------------------------------------------------------------


@loopml.step
def counted(rows: int, *, counter: str) -> pd.DataFrame:
    """A good step that counts its own calls in a file."""
    with Path(counter).open("a") as file:
        file.write("ran\n")
    return pd.DataFrame({"x": range(rows)})


@loopml.step
def feed(frame: pd.DataFrame, *, marker: str) -> pd.DataFrame:
    if not Path(marker).exists():
        raise ConnectionError("the upstream feed is down")
    return frame.assign(y=frame["x"] * 2)


@loopml.step
def total(frame: pd.DataFrame) -> float:
    return float(frame["y"].sum())


@loopml.pipeline
def resumable(counter: str, marker: str, rows: int = 10) -> Any:
    frame = counted(rows, counter=counter)
    return total(feed(frame, marker=marker))


@loopml.step(retries=1, cache=False)
def fails_once(marker: str) -> str:
    path = Path(marker)
    if not path.exists():
        path.write_text("failed once")
        raise RuntimeError("a transient error")
    return "second time lucky"


@loopml.pipeline
def retried(marker: str) -> Any:
    return fails_once(marker)


@loopml.step(cache=False)
def kills_its_worker(marker: str, always: bool = False) -> str:
    path = Path(marker)
    if always or not path.exists():
        path.write_text("killed")
        os.kill(os.getpid(), signal.SIGKILL)
    return "survived"


@loopml.pipeline
def dies(marker: str, always: bool = False) -> Any:
    return kills_its_worker(marker, always=always)


@loopml.step
def returns_a_lock() -> Any:
    return threading.Lock()


@loopml.pipeline
def unstorable() -> Any:
    return returns_a_lock()


@loopml.step
def two_values() -> tuple[int, int]:
    return 1  # type: ignore[return-value]


@loopml.pipeline
def miscounted() -> Any:
    return two_values()


@loopml.step
def features(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[["mean radius", "mean texture", "mean area", "target"]]


@loopml.step
def inputs_of(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns="target")


@loopml.pipeline
def derived(name: str = "cancer-small") -> Any:
    table = register_dataset(features(load_cancer()), name, target="target")
    train_set, test_set = split(table)
    model = fit(train_set, n_estimators=5)
    example = inputs_of(test_set)
    return register_model(model, name, input_example=example, training_data=table)
