"""``loopml.sweep``: hyperparameter sweeps with Optuna, each trial a child run.

The SDK's face of :func:`loopml.pipelines.sweep`: the store is the one the settings resolve
to, the sweep's run is nested under the active run (if any), and in each trial the trial's run
is the active run (``loopml.active_run()``, ``loopml.log_metric``) on every executor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from loopml.client.fluent import _get_client, activated, active_run

if TYPE_CHECKING:
    from loopml.compute import Executor
    from loopml.pipelines import SweepResult

__all__ = ["read_sweep", "sweep"]


def sweep(
    objective: Callable[[Any], Any],
    *,
    n_trials: int,
    executor: str | Executor = "inprocess",
    direction: str = "maximize",
    experiment: str | None = None,
    name: str | None = None,
    sampler: Any = None,
    pruner: Any = None,
    timeout: float | None = None,
    parallelism: int | None = None,
) -> SweepResult:
    """Tune hyperparameters with Optuna: ``n_trials`` trials of ``objective``, each a child
    run of the sweep's run, on ``executor``, with pruning.

    ``objective(trial)`` is Optuna's contract: it asks for values with ``trial.suggest_*``,
    may report intermediate values with ``trial.report(value, step)`` and stop early when
    ``trial.should_prune()`` says so (``raise optuna.TrialPruned()``), and returns the number
    to optimize. Each trial's run records the suggested params, each reported value (metric
    ``intermediate_value`` at its step), the returned value (metric ``value``) and the state
    (tag ``loopml.sweep.state``: COMPLETE, PRUNED or FAIL). Inside the objective,
    ``loopml.active_run()`` is the trial's run, on every executor. An objective that raises
    fails its trial (its run FAILED with the error) and the sweep goes on.

    Trials run in parallel on ``process`` and ``ray`` workers, which reach the study through
    Optuna's storage beside the metadata store (a file ``optuna.db`` next to ``loopml.db``,
    or the schema ``optuna`` of the PostgreSQL database): that is how the sampler and the
    pruner see every trial. On a Ray cluster the workers need the stores too (PostgreSQL and
    shared artifacts). A seeded sampler is reseeded on each worker (each would otherwise
    suggest the same values), so only ``inprocess`` sweeps repeat exactly.

    Args:
        objective: ``objective(trial) -> float``; sent to workers with cloudpickle.
        n_trials: How many trials to start.
        executor: ``inprocess`` (one at a time, here), ``process`` or ``ray``, or an
            executor from :func:`loopml.compute.get_executor`.
        direction: ``maximize`` or ``minimize`` the returned value.
        experiment: Experiment of the sweep's run (default: the active run's, or the
            settings' default).
        name: The sweep run's name (default: ``sweep-<objective name>``).
        sampler: An Optuna sampler (default: ``optuna.samplers.TPESampler()``).
        pruner: An Optuna pruner (default: ``optuna.pruners.MedianPruner()``).
        timeout: Start no trial after this many seconds (running trials finish; the first
            trial always starts).
        parallelism: Trials at once (default: the executor's parallelism; for a named
            executor, also its workers).

    Returns:
        The :class:`~loopml.pipelines.SweepResult`: the trials, the best one
        (``best_params``, ``best_value``, ``best_run_id``) and ``register_best``.

    Raises:
        ImportError: Optuna is not installed (``pip install 'loopml[sweeps]'``), before
            anything runs.
        InvalidArgumentError: A bad argument, or an objective that cannot be pickled for
            the executor's workers, before anything runs.
        SweepFailedError: No trial completed (the sweep's run is FAILED with the counts).

    Example:
        >>> def objective(trial):  # doctest: +SKIP
        ...     alpha = trial.suggest_float("alpha", 1e-5, 1e-1, log=True)
        ...     return cross_val_score(SGDClassifier(alpha=alpha), X, y).mean()
        >>> result = loopml.sweep(objective, n_trials=20, executor="process")  # doctest: +SKIP
        >>> result.best_params  # doctest: +SKIP
        {'alpha': 0.0012}
    """
    from loopml.pipelines import sweep as run_sweep

    outer = active_run()
    return run_sweep(
        objective,
        n_trials=n_trials,
        executor=executor,
        direction=direction,
        experiment=experiment,
        name=name,
        sampler=sampler,
        pruner=pruner,
        timeout=timeout,
        parallelism=parallelism,
        settings=_get_client().settings,
        parent_run_id=None if outer is None else outer.run_id,
        activate=activated,
    )


def read_sweep(run_id: str) -> SweepResult:
    """Read a finished sweep back from the store by its run's id.

    Raises:
        NotFoundError: No such run.
        InvalidArgumentError: The run is not a sweep's run.
    """
    from loopml.pipelines import read_sweep as read

    return read(_get_client().service, run_id)
