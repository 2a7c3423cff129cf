"""Hyperparameter sweeps with Optuna: each trial a child run, on the chosen executor, with
pruning; the best trial recorded on the sweep's run and registrable.

The objective is Optuna's own contract, ``objective(trial) -> float`` with
``trial.suggest_*``, ``trial.report(value, step)`` and ``trial.should_prune()``. The driver
(this module) checks everything first, creates the study in Optuna's storage beside the
metadata store (:mod:`.sweep_storage`: a schema ``optuna`` on PostgreSQL, a file
``optuna.db`` embedded), starts the sweep's run and submits one task per trial to the executor,
at most ``parallelism`` at a time. Each task (:mod:`.sweep_trial`) asks the study for its
trial on the worker, which is how Optuna distributes a study: samplers and pruners on every
worker read the other trials from the storage. A trial whose worker died is marked FAIL at the
end. The sweep's run then gets the best trial (tags ``loopml.sweep.best_*``, metric
``best_value``) and the counts of trials per state.
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from loopml.compute import Executor, get_executor
from loopml.core.entities import MetricPoint, RunStatus
from loopml.core.errors import InvalidArgumentError, StoreError, SweepFailedError, did_you_mean
from loopml.core.ids import RunId
from loopml.core.settings import Settings, resolve_settings
from loopml.pipelines.sweep_result import (
    TAG_BEST_PARAMS,
    TAG_BEST_RUN,
    TAG_BEST_TRIAL,
    TAG_DIRECTION,
    TAG_STORAGE,
    TAG_STUDY,
    SweepResult,
    TrialRecord,
    TrialState,
    best_of,
)
from loopml.pipelines.sweep_storage import (
    close_storage,
    import_optuna,
    mask_storage_url,
    open_storage,
    prepare_storage,
)
from loopml.pipelines.sweep_trial import RUN_ATTR, Activate, TrialTask, record_trial, run_trial

if TYPE_CHECKING:
    from loopml.tracking import TrackingService

__all__ = ["DIRECTIONS", "sweep"]

DIRECTIONS = ("maximize", "minimize")
#: A run id that stands in for the sweep's run while the task is checked (nothing runs yet).
_PLACEHOLDER_RUN = RunId("0" * 32)


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
    settings: Settings | None = None,
    parent_run_id: str | None = None,
    activate: Activate | None = None,
    on_trial: Callable[[TrialRecord], None] | None = None,
) -> SweepResult:
    """Run ``n_trials`` trials of ``objective`` on ``executor``; see :func:`loopml.sweep`.

    Args:
        settings: The stores (default: resolved now).
        parent_run_id: The run the sweep's run is nested under.
        activate: Makes each trial's run the SDK's active run during the objective.
        on_trial: Called in the caller's thread with each trial as it ends (progress).

    Raises:
        ImportError: Optuna is not installed (with the ``pip install`` line), before anything.
        InvalidArgumentError: A bad argument, or an objective (sampler, pruner) that cannot be
            sent to the executor's workers, before anything runs.
        SweepFailedError: No trial completed.
    """
    optuna = import_optuna()
    _check_arguments(objective, n_trials, direction, timeout, parallelism)
    sampler = _check_plugin(optuna.samplers.BaseSampler, sampler, "sampler", "TPESampler")
    pruner = _check_plugin(optuna.pruners.BasePruner, pruner, "pruner", "MedianPruner")
    sampler = optuna.samplers.TPESampler() if sampler is None else sampler
    pruner = optuna.pruners.MedianPruner() if pruner is None else pruner
    settings = settings if settings is not None else resolve_settings()

    from loopml.store.backend import open_backend
    from loopml.tracking import TrackingService

    owned = isinstance(executor, str)
    pool = _executor(executor, parallelism, settings)
    try:
        task = TrialTask(
            objective=objective,
            study_name="",
            storage_url="",
            sampler=sampler,
            pruner=pruner,
            reseed=pool.pickles,
            settings=settings,
            sweep_run_id=_PLACEHOLDER_RUN,
            activate=activate,
        )
        pool.check(objective)  # names the objective when it cannot travel
        pool.check(run_trial, task)  # the sampler, the pruner, the settings
        tracking = TrackingService(open_backend(settings))
        storage_url = prepare_storage(settings)
        run = tracking.create_run(
            experiment=experiment,
            name=name or f"sweep-{getattr(objective, '__name__', 'objective')}",
            parent_run_id=RunId(parent_run_id) if parent_run_id else None,
        )
        study_name = f"sweep-{run.run_id}"
        tracking.log_batch(
            run.run_id,
            params={
                "n_trials": n_trials,
                "direction": direction,
                "executor": pool.name,
                "parallelism": parallelism or pool.parallelism,
                "sampler": type(sampler).__name__,
                "pruner": type(pruner).__name__,
                **({} if timeout is None else {"timeout": timeout}),
            },
            tags={
                TAG_STUDY: study_name,
                TAG_DIRECTION: direction,
                TAG_STORAGE: mask_storage_url(storage_url),
            },
        )
        task = replace(
            task, study_name=study_name, storage_url=storage_url, sweep_run_id=run.run_id
        )
        try:
            _create_study(optuna, task, direction)
            trials = _drive(
                pool,
                task,
                n_trials=n_trials,
                parallelism=parallelism or pool.parallelism,
                timeout=timeout,
                on_trial=on_trial,
            )
            trials = _sweep_up(optuna, tracking, task, trials)
        except BaseException as exc:
            status = RunStatus.KILLED if not isinstance(exc, Exception) else RunStatus.FAILED
            tracking.end_run(run.run_id, status=status, error=exc)
            raise
        finally:
            close_storage(storage_url)
        result = SweepResult(
            run_id=run.run_id,
            study_name=study_name,
            direction="minimize" if direction == "minimize" else "maximize",
            trials=(),
            best_number=-1,
            storage=mask_storage_url(storage_url),
        ).with_settings(settings)
        return _finish(tracking, result, trials)
    finally:
        if owned:
            pool.shutdown(wait=True, cancel_futures=True)


def _check_arguments(
    objective: Any, n_trials: Any, direction: Any, timeout: Any, parallelism: Any
) -> None:
    if not callable(objective):
        raise InvalidArgumentError(
            f"The objective of a sweep must be a function objective(trial) -> float; got "
            f"{objective!r:.80} ({type(objective).__name__}). Pass the function itself, not "
            "its result."
        )
    for label, value, rule in (
        ("n_trials", n_trials, "an int >= 1"),
        ("parallelism", parallelism, "an int >= 1 or None"),
    ):
        if value is None and label == "parallelism":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidArgumentError(
                f"The {label!r} parameter of sweep must be {rule}. Got {value!r} instead."
            )
    if direction not in DIRECTIONS:
        raise InvalidArgumentError(
            f"The 'direction' parameter of sweep must be 'maximize' or 'minimize'. Got "
            f"{direction!r} instead.{did_you_mean(str(direction), DIRECTIONS)}"
        )
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0
    ):
        raise InvalidArgumentError(
            f"The 'timeout' parameter of sweep must be a number of seconds > 0, or None. Got "
            f"{timeout!r} instead."
        )


def _check_plugin(base: type, value: Any, label: str, example: str) -> Any:
    if value is not None and not isinstance(value, base):
        raise InvalidArgumentError(
            f"The {label!r} parameter of sweep must be an Optuna {label} (an instance of "
            f"optuna.{base.__module__.split('.')[1]}.{base.__name__}, e.g. "
            f"optuna.{base.__module__.split('.')[1]}.{example}()), or None for the default. "
            f"Got {value!r:.80} ({type(value).__name__}) instead."
        )
    return value


def _executor(executor: str | Executor, parallelism: int | None, settings: Settings) -> Executor:
    if isinstance(executor, Executor):
        return executor
    if not isinstance(executor, str):
        raise InvalidArgumentError(
            f"The 'executor' parameter of sweep must be an executor's name ('inprocess', "
            f"'process', 'ray') or an executor from loopml.compute.get_executor; got "
            f"{executor!r:.80} ({type(executor).__name__})."
        )
    return get_executor(executor, max_workers=parallelism, settings=settings)


def _create_study(optuna: Any, task: TrialTask, direction: str) -> None:
    try:
        optuna.create_study(
            study_name=task.study_name,
            storage=open_storage(task.storage_url),
            sampler=task.sampler,
            pruner=task.pruner,
            direction=direction,
        )
    except StoreError:
        raise
    except Exception as exc:  # SQLAlchemy errors from Optuna's storage
        raise StoreError(
            f"Cannot create the study {task.study_name!r} in the sweep storage "
            f"{mask_storage_url(task.storage_url)} ({type(exc).__name__}: {exc})."
        ) from None


def _drive(
    pool: Executor,
    task: TrialTask,
    *,
    n_trials: int,
    parallelism: int,
    timeout: float | None,
    on_trial: Callable[[TrialRecord], None] | None,
) -> list[TrialRecord | BaseException]:
    """Submit the trials, at most ``parallelism`` at a time, until ``n_trials`` were started
    or ``timeout`` passed (the first trial always starts); returns each trial's record, or the
    error of a task that gave none."""
    deadline = None if timeout is None else time.monotonic() + timeout
    outcomes: list[TrialRecord | BaseException] = []
    running: set[concurrent.futures.Future[TrialRecord]] = set()
    started = 0
    while True:
        while (
            started < n_trials
            and len(running) < parallelism
            and (deadline is None or started == 0 or time.monotonic() < deadline)
        ):
            running.add(pool.submit(run_trial, task))
            started += 1
        if not running:
            return outcomes
        done, running = concurrent.futures.wait(
            running, return_when=concurrent.futures.FIRST_COMPLETED
        )
        for future in done:
            try:
                record = future.result()
            except Exception as exc:  # the worker died, or could not reach the stores
                outcomes.append(exc)
                continue
            outcomes.append(record)
            if on_trial is not None:
                on_trial(record)


def _sweep_up(
    optuna: Any,
    tracking: TrackingService,
    task: TrialTask,
    outcomes: list[TrialRecord | BaseException],
) -> list[TrialRecord | BaseException]:
    """Account, once every task is done, for the trials of tasks that returned no record
    (their worker died): one still RUNNING is marked FAIL with its run; one that ended before
    its worker died is read back from the study. Returns ``outcomes`` with their records."""
    lost = [o for o in outcomes if isinstance(o, BaseException)]
    if not lost:
        return outcomes
    known = {o.number for o in outcomes if isinstance(o, TrialRecord)}
    study = optuna.load_study(study_name=task.study_name, storage=open_storage(task.storage_url))
    reason = f"{type(lost[0]).__name__}: {lost[0]}"
    for trial in study.get_trials(deepcopy=False):
        if trial.number in known:
            continue
        run_id = trial.user_attrs.get(RUN_ATTR)
        if trial.state.is_finished():  # it ended; only its record did not come back
            state: TrialState = "COMPLETE" if trial.state.name == "COMPLETE" else "FAIL"
            state = "PRUNED" if trial.state.name == "PRUNED" else state
            value = trial.value if state == "COMPLETE" else None
            if run_id is None:
                outcomes.append(TrialRecord(number=trial.number, state=state, value=value))
                continue
            outcomes.append(
                record_trial(  # ends the run if the worker died before it could
                    tracking,
                    RunId(run_id),
                    trial.number,
                    params=trial.params,
                    reported=trial.intermediate_values,
                    state=state,
                    value=value,
                    error=None,
                )
            )
            continue
        study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
        error = f"The worker running trial {trial.number} stopped before it ended ({reason})."
        if run_id is None:
            outcomes.append(TrialRecord(number=trial.number, state="FAIL", error=error))
            continue
        outcomes.append(
            record_trial(
                tracking,
                RunId(run_id),
                trial.number,
                params=trial.params,
                reported=trial.intermediate_values,
                state="FAIL",
                value=None,
                error=error,
            )
        )
    return outcomes


def _finish(
    tracking: TrackingService,
    result: SweepResult,
    outcomes: list[TrialRecord | BaseException],
) -> SweepResult:
    """Record the best trial and the counts on the sweep's run and end it; the result."""
    import json

    from loopml.core.clock import now_ms

    run_id = RunId(result.run_id)
    trials = sorted((o for o in outcomes if isinstance(o, TrialRecord)), key=lambda t: t.number)
    lost = [o for o in outcomes if not isinstance(o, TrialRecord)]
    best = best_of(trials, result.direction)
    counts = {s: sum(t.state == s for t in trials) for s in ("COMPLETE", "PRUNED", "FAIL")}
    now = now_ms()
    points = [MetricPoint(f"trials_{s.lower()}", float(n), 0, now) for s, n in counts.items()]
    if best is None:
        first = next((t.error for t in trials if t.error), None)
        if first is None and lost:
            first = f"{type(lost[0]).__name__}: {lost[0]}"
        message = (
            f"No trial of sweep {run_id} completed: {counts['FAIL']} failed, "
            f"{counts['PRUNED']} pruned."
            + (f" The first failure: {first}." if first else "")
            + " Each trial's run holds its error (`loopml sweep show "
            f"{run_id}`); run the objective once with executor='inprocess' to debug it."
        )
        tracking.log_batch(run_id, metrics=points)
        tracking.end_run(run_id, status=RunStatus.FAILED, error=message)
        raise SweepFailedError(message)
    assert best.value is not None
    points.append(MetricPoint("best_value", best.value, 0, now))
    tracking.log_batch(
        run_id,
        metrics=points,
        tags={
            TAG_BEST_TRIAL: best.number,
            TAG_BEST_RUN: best.run_id or "",
            TAG_BEST_PARAMS: json.dumps(dict(best.params), sort_keys=True),
        },
    )
    tracking.end_run(run_id, status=RunStatus.FINISHED)
    return replace(result, trials=tuple(trials), best_number=best.number).with_settings(
        result.settings
    )
