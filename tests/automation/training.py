"""Training functions the loop policies of the tests name (``tests.automation.training:fit``):
real scikit-learn models fitted on real data (scikit-learn's breast cancer set), read from
the store through the SDK by the dataset ref the agent passes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

import loopml
from loopml.pipelines import read_dataset, register_model
from loopml.registry import PythonModel

#: The columns served: ten measurements of the tumour.
FEATURES = [
    "mean radius",
    "mean texture",
    "mean perimeter",
    "mean area",
    "mean smoothness",
    "mean compactness",
    "mean concavity",
    "mean concave points",
    "mean symmetry",
    "mean fractal dimension",
]
#: Two measurements that say little about the diagnosis: the planted weak champion's.
WEAK = ["mean fractal dimension", "mean symmetry"]
TARGET = "malignant"


def cancer() -> pd.DataFrame:
    """The 569 tumours: the ten features and the label (True: malignant), shuffled once."""
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    frame = X[FEATURES].copy()
    frame[TARGET] = y.to_numpy() == 0
    frame = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    frame.index = pd.Index([f"t{i}" for i in range(len(frame))], name="id")
    return frame


def weak(frame: pd.DataFrame) -> Pipeline:
    """A champion that sees two weak features only (its inputs are still all ten)."""
    pick = ColumnTransformer([("weak", StandardScaler(), WEAK)], remainder="drop")
    model = Pipeline([("pick", pick), ("model", LogisticRegression(max_iter=500))])
    return model.fit(frame[FEATURES], frame[TARGET])


def fit(data: str, c: float = 1.0) -> Any:
    """A good challenger: every feature, standardized, logistic regression."""
    frame = loopml.datasets.load(data)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=500))
    return model.fit(frame[FEATURES], frame[TARGET])


def fit_weak(data: str) -> Any:
    """A challenger that passes a lenient offline gate but is worse than a good champion: it
    sees the two weak features only."""
    return weak(loopml.datasets.load(data))


def fit_shuffled(data: str, seed: int = 0) -> Any:
    """A bad challenger: trained on labels shuffled at random (it learned nothing)."""
    frame = loopml.datasets.load(data)
    labels = np.random.default_rng(seed).permutation(frame[TARGET].to_numpy())
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    return model.fit(frame[FEATURES], labels)


def fit_and_register(data: str) -> dict[str, Any]:
    """A training that registers its model itself and returns the version with a metric."""
    model = fit(data)
    version = loopml.models.register(model, "cancer", training_data=data)
    return {"model": version, "train_rows": len(loopml.datasets.load(data))}


def broken(data: str) -> Any:
    """A training that fails."""
    raise RuntimeError(f"the training on {data} ran out of memory")


class Flaky(PythonModel):
    """A good model that raises on a large tumour scored on its own (about one request in
    six of the tests' traffic): the server's fallback answers those."""

    classes = (False, True)

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def _check(self, frame: pd.DataFrame) -> None:
        if len(frame) == 1 and float(frame["mean area"].iloc[0]) > 900:
            raise RuntimeError("numeric overflow on a large tumour")

    def predict(self, frame: pd.DataFrame) -> Any:
        self._check(frame)
        return self.inner.predict(frame)

    def predict_proba(self, frame: pd.DataFrame) -> Any:
        self._check(frame)
        return self.inner.predict_proba(frame)


def fit_flaky(data: str) -> Any:
    """A challenger more accurate than the weak champion, that fails on some requests."""
    return Flaky(fit(data))


@loopml.step
def fit_step(frame: pd.DataFrame, *, c: float = 1.0) -> Any:
    """The good challenger, as a pipeline step."""
    model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=500))
    return model.fit(frame[FEATURES], frame[TARGET])


@loopml.step
def rows_of(frame: pd.DataFrame) -> int:
    return len(frame)


@loopml.pipeline
def train_pipeline(data: str = "cancer@latest", c: float = 1.0) -> Any:
    """The same training as a pipeline of cached steps that registers its model itself."""
    rows = read_dataset(data)
    model = fit_step(rows, c=c)
    version = register_model(model, "cancer", training_data=rows)
    return {"model": version, "train_rows": rows_of(rows)}
