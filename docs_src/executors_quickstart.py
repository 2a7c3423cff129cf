"""Executors: five folds trained in parallel on a process pool, each fold's accuracy logged;
a function that cannot travel to a worker refused before it runs (docs/pipelines.md)."""

import threading
from concurrent.futures import as_completed

import numpy as np

import loopml
from loopml.compute import get_executor
from loopml.errors import InvalidArgumentError


def fit_fold(fold: int, n_folds: int = 5) -> tuple[int, float]:
    """Train on four folds and score the fifth (runs in a worker process)."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features, labels = load_breast_cancer(return_X_y=True)
    test = np.arange(len(labels)) % n_folds == fold
    model = make_pipeline(StandardScaler(), LogisticRegression())
    model.fit(features[~test], labels[~test])
    return fold, float(model.score(features[test], labels[test]))


if __name__ == "__main__":  # worker processes import this file: keep the work under the guard
    with loopml.start_run(name="5-fold"), get_executor("process", max_workers=2) as executor:
        futures = [executor.submit(fit_fold, fold) for fold in range(5)]
        for future in as_completed(futures):  # in the order they finish
            fold, accuracy = future.result()
            loopml.log_metric("accuracy", accuracy, step=fold)
        assert executor.parallelism == 2

        lock = threading.Lock()

        def guarded() -> int:
            with lock:  # a lock cannot go to another process
                return 1

        try:
            executor.submit(guarded)
        except InvalidArgumentError as exc:
            print(exc)  # Cannot send __main__.guarded to a worker: ... Define the function ...
        else:
            raise AssertionError("a function holding a lock was sent to a worker")

    # The same calls run in this process, one at a time, with equal results.
    with get_executor("inprocess") as executor:
        assert executor.submit(fit_fold, 0).result() == fit_fold(0)
