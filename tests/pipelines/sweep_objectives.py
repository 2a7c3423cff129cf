"""Objectives of the sweep tests: a real scikit-learn model on bundled data.

An SGD classifier learns the breast-cancer data (scikit-learn ships it) epoch by epoch and
reports its validation accuracy after each one. ``features="noise"`` trains it on random
columns instead of the measurements: its accuracy stays near the majority class's share, the
bad intermediate values a pruner should stop early.
"""

from __future__ import annotations

import os
import signal
import time
from functools import cache
from typing import Any

import numpy as np
import optuna
import pandas as pd

import loopml

EPOCHS = 5


@cache
def data() -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray]:
    """Standardized measurements (train, validation) and labels (train, validation)."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    frame, target = load_breast_cancer(return_X_y=True, as_frame=True)
    x_train, x_valid, y_train, y_valid = train_test_split(
        frame, target.to_numpy(), test_size=0.3, random_state=0
    )
    scaler = StandardScaler().set_output(transform="pandas").fit(x_train)
    return scaler.transform(x_train), scaler.transform(x_valid), y_train, y_valid


def model(alpha: float) -> Any:
    from sklearn.linear_model import SGDClassifier

    return SGDClassifier(loss="log_loss", alpha=alpha, random_state=0)


def features(kind: str, frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The measurements, or random columns of the same names and shape."""
    if kind == "measured":
        return frame
    noise = np.random.default_rng(seed).normal(size=frame.shape)
    return pd.DataFrame(noise, columns=frame.columns, index=frame.index)


def train(trial: optuna.Trial) -> float:
    """The objective: suggest, fit epoch by epoch, report, prune, return the accuracy."""
    alpha = trial.suggest_float("alpha", 1e-5, 1e-1, log=True)
    kind = trial.suggest_categorical("features", ["measured", "noise"])
    x_train, x_valid, y_train, y_valid = data()
    x_train, x_valid = features(kind, x_train, 1), features(kind, x_valid, 2)
    clf = model(alpha)
    run = loopml.active_run()
    assert run is not None  # the trial's run, on every executor
    loopml.log_metric("train_rows", float(len(y_train)))
    accuracy = 0.0
    for epoch in range(EPOCHS):
        clf.partial_fit(x_train, y_train, classes=np.array([0, 1]))
        accuracy = float(clf.score(x_valid, y_valid))
        trial.report(accuracy, epoch)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return accuracy


class ByNumber(optuna.samplers.BaseSampler):
    """Suggests by trial number, so parallel sweeps are repeatable: trials 0 to 3 and every
    odd one get the measured features, the even ones from 4 on get noise."""

    def infer_relative_search_space(self, study: Any, trial: Any) -> dict[str, Any]:
        return {}

    def sample_relative(self, study: Any, trial: Any, search_space: Any) -> dict[str, Any]:
        return {}

    def sample_independent(self, study: Any, trial: Any, name: str, distribution: Any) -> Any:
        n = trial.number
        if name == "features":
            return "noise" if n >= 4 and n % 2 == 0 else "measured"
        return 10.0 ** -(2 + n % 3)


def bad_trials(numbers: range) -> set[int]:
    """The trials :class:`ByNumber` gives noise."""
    return {n for n in numbers if n >= 4 and n % 2 == 0}


def fail_on_noise(trial: optuna.Trial) -> float:
    """Fails the trials that draw noise, with an error of the caller's own."""
    kind = trial.suggest_categorical("features", ["measured", "noise"])
    if kind == "noise":
        raise LedgerError(f"trial {trial.number}: no measurements to train on")
    return train(trial)


def constant(trial: optuna.Trial) -> float:
    trial.suggest_int("depth", 1, 3)
    return 1.0


def slow(trial: optuna.Trial) -> float:
    """Takes longer than the sweep's timeout of the test (work, not a synchronization)."""
    time.sleep(0.2)
    return trial.suggest_float("x", 0.0, 1.0)


def always_fail(trial: optuna.Trial) -> float:
    trial.suggest_int("depth", 1, 3)
    raise ValueError("the training data is empty")


class LedgerError(Exception):
    """An exception type of the test's own, raised in a worker."""


def die_on_two(trial: optuna.Trial) -> float:
    """Trial 2 kills its own worker process (as the out-of-memory killer would)."""
    x = trial.suggest_float("x", 0.0, 1.0)
    if trial.number == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return x
