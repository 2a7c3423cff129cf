"""One trial of a sweep, as it runs on a worker (the caller's thread, a local process or a Ray
task): the function the driver submits to the executor.

The worker loads the study from Optuna's storage (:mod:`.sweep_storage`), asks it for a trial,
starts the trial's run (a child of the sweep's run), calls the objective with the run active,
tells the study how the trial ended and records that on the run: the suggested params, each
reported value (metric ``intermediate_value`` at its step), the returned value (metric
``value``) and the state (tag ``loopml.sweep.state``). A COMPLETE or PRUNED trial's run
ends FINISHED; a failed one's ends FAILED with the error. The objective's own exception never
escapes: it is the trial's failure, and the sweep goes on.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopml.core.clock import now_ms
from loopml.core.entities import MetricPoint, RunStatus
from loopml.core.errors import ConflictError, InvalidArgumentError, LoopmlError
from loopml.core.ids import RunId
from loopml.core.settings import Settings
from loopml.pipelines.sweep_result import (
    METRIC_REPORTED,
    METRIC_VALUE,
    TAG_PARAMS,
    TAG_STATE,
    TAG_STEPS,
    TAG_STUDY,
    TAG_TRIAL,
    TrialRecord,
    TrialState,
)
from loopml.pipelines.sweep_storage import import_optuna, open_storage

if TYPE_CHECKING:
    from loopml.tracking import TrackingService

#: The Optuna user attribute that names a trial's run (how the driver finds the run of a
#: trial whose worker died).
RUN_ATTR = "loopml.run_id"

#: Makes a run the active run of the worker's SDK for the objective (``loopml.active_run()``);
#: given by the SDK layer, which owns the active-run stack.
Activate = Callable[[Settings, RunId], AbstractContextManager[Any]]


@dataclass(frozen=True)
class TrialTask:
    """What a worker needs to run one trial (pickled to ``process`` and ``ray`` workers).

    Attributes:
        objective: ``objective(trial) -> float``, Optuna's contract.
        study_name: The sweep's Optuna study.
        storage_url: Optuna's storage (reached from the worker).
        sampler: The study's sampler.
        pruner: The study's pruner.
        reseed: Reseed the sampler's random state (a worker's copy of a seeded sampler would
            otherwise suggest what every other copy suggests).
        settings: loopml's stores, as the driver resolved them.
        sweep_run_id: The sweep's run, parent of the trial's run.
        activate: Makes the trial's run the SDK's active run during the objective.
    """

    objective: Callable[[Any], Any]
    study_name: str
    storage_url: str
    sampler: Any
    pruner: Any
    reseed: bool
    settings: Settings
    sweep_run_id: RunId
    activate: Activate | None = None


def run_trial(task: TrialTask) -> TrialRecord:
    """Run one trial of ``task``'s study on this worker; see the module docstring.

    Returns:
        How the trial ended (a failed objective is a FAIL record, not an exception).

    Raises:
        StoreError: The worker cannot reach Optuna's storage or loopml's store.
        BaseException: KeyboardInterrupt or SystemExit in the objective, after the trial is
            recorded as failed.
    """
    from loopml.store.backend import open_backend
    from loopml.tracking import TrackingService

    optuna = import_optuna()
    study = optuna.load_study(
        study_name=task.study_name,
        storage=open_storage(task.storage_url),
        sampler=task.sampler,
        pruner=task.pruner,
    )
    if task.reseed:
        study.sampler.reseed_rng()
    tracking = TrackingService(open_backend(task.settings))
    trial = study.ask()
    run = tracking.create_run(
        name=f"trial-{trial.number}",
        parent_run_id=task.sweep_run_id,
        tags={TAG_STUDY: task.study_name, TAG_TRIAL: trial.number},
        capture=False,
    )
    trial.set_user_attr(RUN_ATTR, run.run_id)
    state: TrialState = "FAIL"
    value: float | None = None
    error: BaseException | None = None
    scope = task.activate(task.settings, run.run_id) if task.activate else nullcontext()
    try:
        with scope:
            returned = task.objective(trial)
        value = objective_value(returned)
        state = "COMPLETE"
    except optuna.TrialPruned:
        state = "PRUNED"
    except Exception as exc:
        error = exc
    except BaseException as exc:  # Ctrl-C, SystemExit: record the trial, then stop
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        record_trial(
            tracking,
            run.run_id,
            trial.number,
            params=trial.params,
            reported={},
            state="FAIL",
            value=None,
            error=exc,
            killed=True,
        )
        raise
    frozen = study.tell(
        trial,
        value if state == "COMPLETE" else None,
        state=getattr(optuna.trial.TrialState, state),
    )
    return record_trial(
        tracking,
        run.run_id,
        frozen.number,
        params=frozen.params,
        reported=frozen.intermediate_values,
        state=state,
        value=value,
        error=error,
    )


def objective_value(returned: Any) -> float:
    """The objective's return value as a float, or an error saying what it must return.

    Raises:
        InvalidArgumentError: Not a real number, or NaN.
    """
    if isinstance(returned, bool) or not isinstance(returned, numbers.Real):
        raise InvalidArgumentError(
            f"The objective returned {returned!r:.80} ({type(returned).__name__}); it must "
            "return the number to optimize (a float), or raise optuna.TrialPruned when "
            "trial.should_prune() says so."
        )
    value = float(returned)
    if math.isnan(value):
        raise InvalidArgumentError(
            "The objective returned NaN; it must return a number to optimize. Check the "
            "metric it computes (a score on an empty or single-class split is NaN)."
        )
    return value


def record_trial(
    tracking: TrackingService,
    run_id: RunId,
    number: int,
    *,
    params: dict[str, Any],
    reported: dict[int, float],
    state: TrialState,
    value: float | None,
    error: BaseException | str | None,
    killed: bool = False,
) -> TrialRecord:
    """Write how a trial ended on its run, end the run, and return the trial's record.

    Params whose names the store cannot keep as keys, or that the objective logged itself
    with another value, are still in the tag ``loopml.sweep.params`` (JSON, with their
    types). A run the objective ended itself is left as it is.
    """
    if tracking.get_run(run_id).status is RunStatus.RUNNING:
        now = now_ms()
        points = [MetricPoint(METRIC_REPORTED, float(v), int(s), now) for s, v in reported.items()]
        if value is not None:
            points.append(MetricPoint(METRIC_VALUE, value, max(reported, default=0), now))
        tags = {
            TAG_STATE: state,
            TAG_STEPS: len(reported),
            TAG_PARAMS: json.dumps(params, default=str, sort_keys=True),
        }
        tracking.log_batch(run_id, metrics=points, tags=tags)
        with suppress(ConflictError):  # the objective logged one with another value
            tracking.log_params(run_id, {k: v for k, v in params.items() if _is_key(k)})
        if state == "FAIL":
            status = RunStatus.KILLED if killed else RunStatus.FAILED
            tracking.end_run(run_id, status=status, error=error)
        else:
            tracking.end_run(run_id, status=RunStatus.FINISHED)
    if isinstance(error, BaseException):
        error = f"{type(error).__name__}: {error}"
    return TrialRecord(
        number=number,
        state=state,
        value=value,
        params=json.loads(json.dumps(params, default=str)),
        run_id=run_id,
        error=error,
        steps=len(reported),
    )


def _is_key(key: str) -> bool:
    from loopml.tracking import keys

    try:
        keys.check_key("param", key)
    except LoopmlError:
        return False
    return True
