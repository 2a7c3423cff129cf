"""The demo's model and its training: a gradient-boosted classifier of late arrivals on the
flights' departure delay, distance, hour and schedule, origin airport and carrier.

:func:`make_model` builds the scikit-learn pipeline (categories ordinal-encoded, unknown ones
mapped to -1); :func:`objective` is the Optuna objective of the first sweep; :func:`train` is
the function the loop policies name (``train.pipeline:
loopml.examples.flights_training:train``): the agent calls it with the pinned training data's
ref and the policy's params, and registers the model it returns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopml.examples.flights import CATEGORICAL, FEATURES, TARGET

if TYPE_CHECKING:
    import pandas as pd

#: The hyperparameters the sweep tunes, and the seed of every fit.
SEED = 0


def make_model(*, learning_rate: float = 0.1, max_leaf_nodes: int = 31, max_iter: int = 100) -> Any:
    """An unfitted pipeline: categories encoded as integers (unknown ones as -1), then
    scikit-learn's histogram gradient boosting (seeded)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    encode = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
    prep = ColumnTransformer([("cat", encode, CATEGORICAL)], remainder="passthrough")
    boost = HistGradientBoostingClassifier(
        learning_rate=learning_rate,
        max_leaf_nodes=max_leaf_nodes,
        max_iter=max_iter,
        early_stopping=False,
        random_state=SEED,
    )
    return Pipeline([("prep", prep), ("model", boost)])


def fit(frame: pd.DataFrame, **params: Any) -> Any:
    """:func:`make_model` with ``params``, fitted on ``frame``'s features and label."""
    return make_model(**params).fit(frame[FEATURES], frame[TARGET].astype(bool))


def train(
    data: str, learning_rate: float = 0.1, max_leaf_nodes: int = 31, max_iter: int = 100
) -> Any:
    """The loop policies' training: fit :func:`make_model` on the dataset version ``data``
    (the agent passes the pinned ref: the labeled prediction log, or a new export) and return
    the fitted model, which the agent registers with that lineage."""
    import loopml

    frame = loopml.datasets.load(data)
    return fit(frame, learning_rate=learning_rate, max_leaf_nodes=max_leaf_nodes, max_iter=max_iter)


def objective(train_frame: pd.DataFrame, valid_frame: pd.DataFrame) -> Any:
    """The sweep's objective over ``train_frame``, scored by validation accuracy: Optuna
    suggests the learning rate, the leaves per tree and the number of trees."""
    from sklearn.metrics import accuracy_score, roc_auc_score

    def run(trial: Any) -> float:
        import loopml

        params = {
            "learning_rate": trial.suggest_float("learning_rate", 0.03, 0.3, log=True),
            "max_leaf_nodes": trial.suggest_int("max_leaf_nodes", 8, 48),
            "max_iter": trial.suggest_int("max_iter", 50, 200, step=50),
        }
        model = fit(train_frame, **params)
        proba = model.predict_proba(valid_frame[FEATURES])[:, 1]
        truth = valid_frame[TARGET].astype(bool)
        accuracy = float(accuracy_score(truth, proba >= 0.5))
        loopml.log_metrics({"accuracy": accuracy, "roc_auc": float(roc_auc_score(truth, proba))})
        return accuracy

    return run
