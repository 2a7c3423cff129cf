"""Sweeps: an SGD classifier on the breast-cancer data tuned with Optuna on a process pool,
each epoch's accuracy reported so the pruner stops bad trials early; each trial a child run;
the best trial's model refit and registered (docs/pipelines.md)."""

import numpy as np
import optuna
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import loopml

features, labels = load_breast_cancer(return_X_y=True, as_frame=True)
x_train, x_valid, y_train, y_valid = train_test_split(features, labels, random_state=0)
scaler = StandardScaler().set_output(transform="pandas").fit(x_train)
x_train, x_valid = scaler.transform(x_train), scaler.transform(x_valid)


def objective(trial: optuna.Trial) -> float:
    """Fit epoch by epoch, report the validation accuracy, stop when the pruner says so."""
    model = SGDClassifier(
        loss=trial.suggest_categorical("loss", ["log_loss", "hinge"]),
        alpha=trial.suggest_float("alpha", 1e-6, 1.0, log=True),
        random_state=0,
    )
    accuracy = 0.0
    for epoch in range(5):
        model.partial_fit(x_train, y_train, classes=np.array([0, 1]))
        accuracy = float(model.score(x_valid, y_valid))
        trial.report(accuracy, step=epoch)  # metric "intermediate_value" of the trial's run
        if trial.should_prune():
            raise optuna.TrialPruned()
    loopml.log_metric("coef_norm", float(np.linalg.norm(model.coef_)))  # the trial's run
    return accuracy


if __name__ == "__main__":  # worker processes import this file: keep the work under the guard
    result = loopml.sweep(
        objective,
        n_trials=8,
        executor="process",
        parallelism=2,
        experiment="bc-tuning",
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3),
    )
    print(result.counts())  # e.g. {'COMPLETE': 6, 'PRUNED': 2, 'FAIL': 0}
    print(result.best_params, result.best_value)  # e.g. {'loss': 'log_loss', 'alpha': ...} 0.97

    trials = loopml.search_runs("bc-tuning", filter=f"parent_run_id = '{result.run_id}'")
    assert len(trials) == 8 and set(trials["tags.loopml.sweep.state"]) <= {"COMPLETE", "PRUNED"}

    best = SGDClassifier(**result.best_params, random_state=0).fit(x_train, y_train)
    version = result.register_best("bc-sgd", best, input_example=x_valid.head())
    assert version.run_id == result.best_run_id  # its lineage leads to the best trial
    print(version.ref)  # bc-sgd@1
