"""What a sweep returns: :class:`SweepResult` (its trials, the best one) and
:class:`TrialRecord` (one trial), and how they are read back from the store.

A sweep is a run with a child run per trial; the tags written on them (the names below) are
enough to rebuild the result later (:func:`read_sweep`, ``loopml sweep show RUN_ID``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from loopml.core.entities import Run
from loopml.core.errors import InvalidArgumentError, NotFoundError
from loopml.core.jsonable import Jsonable
from loopml.core.settings import Settings

if TYPE_CHECKING:
    from loopml.core.entities import DatasetVersion, ModelVersion
    from loopml.tracking import TrackingService

#: Tags of a sweep's run and of its trials' runs.
TAG_STUDY = "loopml.sweep.study"
TAG_DIRECTION = "loopml.sweep.direction"
TAG_STORAGE = "loopml.sweep.storage"
TAG_TRIAL = "loopml.sweep.trial"
TAG_STATE = "loopml.sweep.state"
TAG_PARAMS = "loopml.sweep.params"
TAG_STEPS = "loopml.sweep.steps"
TAG_BEST_TRIAL = "loopml.sweep.best_trial"
TAG_BEST_RUN = "loopml.sweep.best_run_id"
TAG_BEST_PARAMS = "loopml.sweep.best_params"
#: Metrics of a trial's run: each reported value at its step, and the value returned.
METRIC_REPORTED = "intermediate_value"
METRIC_VALUE = "value"

TrialState = Literal["COMPLETE", "PRUNED", "FAIL"]
Direction = Literal["maximize", "minimize"]


@dataclass(frozen=True)
class TrialRecord(Jsonable):
    """One trial of a sweep.

    Attributes:
        number: The trial's number in its Optuna study (0, 1, ...).
        state: ``COMPLETE`` (it returned a value), ``PRUNED`` (the pruner stopped it) or
            ``FAIL`` (it raised, returned something that is not a number, or its worker died).
        value: What the objective returned (None unless COMPLETE).
        params: The values suggested to it (``trial.suggest_*``), by name.
        run_id: Its run, a child of the sweep's run (None if it never got one).
        error: For a failed trial, ``Type: message``.
        steps: How many intermediate values it reported (``trial.report``).
    """

    number: int
    state: TrialState
    value: float | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    run_id: str | None = None
    error: str | None = None
    steps: int = 0


@dataclass(frozen=True)
class SweepResult(Jsonable):
    """A finished sweep: every trial, and the best one.

    Attributes:
        run_id: The sweep's run (each trial's run is a child of it).
        study_name: The Optuna study, in the storage named by ``storage``.
        direction: ``maximize`` or ``minimize``.
        trials: Every trial, by number.
        best_number: The number of the best COMPLETE trial.
        storage: The Optuna storage URL (password masked): give it to Optuna's own tools
            (``optuna.load_study``, ``optuna-dashboard``).

    Example:
        >>> result = loopml.sweep(objective, n_trials=20)  # doctest: +SKIP
        >>> result.best_params, result.best_value  # doctest: +SKIP
        ({'alpha': 0.0012}, 0.973)
    """

    json_properties: ClassVar[tuple[str, ...]] = ("best_value", "best_params", "best_run_id")

    run_id: str
    study_name: str
    direction: Direction
    trials: tuple[TrialRecord, ...]
    best_number: int
    storage: str = ""
    #: The store the sweep was written to (not part of its JSON).
    settings: Settings | None = field(default=None, init=False, repr=False, compare=False)

    def _best(self) -> TrialRecord | None:
        return next((t for t in self.trials if t.number == self.best_number), None)

    @property
    def best_trial(self) -> TrialRecord:
        """The best COMPLETE trial.

        Raises:
            NotFoundError: No trial completed (a sweep read back with :func:`read_sweep`).
        """
        best = self._best()
        if best is None:
            counts = ", ".join(f"{n} {s}" for s, n in self.counts().items())
            raise NotFoundError(
                f"Sweep {self.run_id} has no best trial: none of its trials completed "
                f"({counts}). Its trials' runs hold their errors (`loopml sweep show "
                f"{self.run_id}`)."
            )
        return best

    @property
    def best_value(self) -> float:
        """The best trial's value (NaN when no trial completed)."""
        best = self._best()
        return math.nan if best is None or best.value is None else best.value

    @property
    def best_params(self) -> dict[str, Any]:
        """The best trial's parameters ({} when no trial completed)."""
        best = self._best()
        return {} if best is None else dict(best.params)

    @property
    def best_run_id(self) -> str | None:
        """The best trial's run (None when no trial completed)."""
        best = self._best()
        return None if best is None else best.run_id

    def counts(self) -> dict[str, int]:
        """How many trials ended in each state."""
        states: tuple[TrialState, ...] = ("COMPLETE", "PRUNED", "FAIL")
        return {s: sum(t.state == s for t in self.trials) for s in states}

    def with_settings(self, settings: Settings | None) -> SweepResult:
        """This result, bound to the store ``settings`` name (for :meth:`register_best`)."""
        object.__setattr__(self, "settings", settings)
        return self

    def register_best(
        self,
        name: str,
        model: Any,
        *,
        input_example: Any = None,
        training_data: DatasetVersion | str | None = None,
        validation_data: DatasetVersion | str | None = None,
        flavor: str | None = None,
        description: str = "",
        tags: Mapping[str, Any] | None = None,
        code_commit: str | None = None,
        trusted_types: Sequence[str] = (),
    ) -> ModelVersion:
        """Register ``model``, fitted with :attr:`best_params`, as produced by the best trial.

        The version's run is the best trial's run (its lineage leads to the sweep), and it is
        tagged with the study, the trial number and its value. The options are those of
        :func:`loopml.models.register`, which documents them and their errors.

        Args:
            name: Registered model name.
            model: The fitted model (refit it with :attr:`best_params`, or the one the best
                trial made).

        Returns:
            The new version (pending approval).

        Example:
            >>> model = SGDClassifier(**result.best_params).fit(X, y)  # doctest: +SKIP
            >>> result.register_best("churn", model, input_example=X[:5])  # doctest: +SKIP
        """
        from loopml.core.ids import RunId
        from loopml.core.settings import resolve_settings
        from loopml.registry import ModelRegistry
        from loopml.store.backend import open_backend

        best = self.best_trial
        if best.run_id is None:
            raise NotFoundError(
                f"The best trial ({best.number}) of sweep {self.run_id} has no run to link the "
                "model to; register it with loopml.models.register instead."
            )
        if tags is not None and not isinstance(tags, Mapping):
            raise InvalidArgumentError(
                f"The 'tags' parameter of register_best must be a mapping; got {tags!r:.80}."
            )
        registry = ModelRegistry(open_backend(self.settings or resolve_settings()))
        merged = {
            TAG_STUDY: self.study_name,
            TAG_TRIAL: best.number,
            "loopml.sweep.value": best.value,
            **(tags or {}),
        }
        return registry.register(
            model,
            name,
            input_example=input_example,
            training_data=training_data,
            validation_data=validation_data,
            flavor=flavor,
            description=description,
            tags=merged,
            code_commit=code_commit,
            trusted_types=trusted_types,
            run_id=RunId(best.run_id),
        )


def best_of(trials: Sequence[TrialRecord], direction: str) -> TrialRecord | None:
    """The best COMPLETE trial (the lowest number among equals), or None."""
    complete = [t for t in trials if t.state == "COMPLETE" and t.value is not None]
    if not complete:
        return None
    sign = -1.0 if direction == "maximize" else 1.0
    return min(complete, key=lambda t: (sign * float(t.value or 0.0), t.number))


def trial_from_run(run: Run) -> TrialRecord | None:
    """Rebuild a trial from its run's tags and metrics (None: not a trial's run)."""
    if TAG_TRIAL not in run.tags:
        return None
    tagged = run.tags.get(TAG_STATE, "FAIL")
    state: TrialState = (
        "COMPLETE" if tagged == "COMPLETE" else "PRUNED" if tagged == "PRUNED" else "FAIL"
    )
    params = json.loads(run.tags.get(TAG_PARAMS, "{}"))
    error = None
    if run.error:
        lines = [line for line in run.error.strip().splitlines() if line.strip()]
        error = lines[-1] if lines else run.error
    return TrialRecord(
        number=int(run.tags[TAG_TRIAL]),
        state=state,
        value=run.metrics.get(METRIC_VALUE) if state == "COMPLETE" else None,
        params=params,
        run_id=run.run_id,
        error=error,
        steps=int(run.tags.get(TAG_STEPS, "0")),
    )


def read_sweep(tracking: TrackingService, run_id: str) -> SweepResult:
    """Read a sweep back from its run and its trials' runs.

    Raises:
        NotFoundError: No such run.
        InvalidArgumentError: The run is not a sweep's run (the message says what it is).
    """
    run = tracking.get_run(run_id)
    if TAG_STUDY not in run.tags or TAG_DIRECTION not in run.tags:
        hint = (
            f" It is trial {run.tags[TAG_TRIAL]} of sweep {run.parent_run_id}."
            if TAG_TRIAL in run.tags
            else ""
        )
        raise InvalidArgumentError(
            f"Run {run.run_id} ({run.name!r}) is not a sweep's run: it has no "
            f"{TAG_STUDY!r} tag.{hint} Give the id of a run that loopml.sweep started "
            '(`loopml runs list --filter "tags.`loopml.sweep.study` is not null"`).'
        )
    experiment = tracking.store.get_experiment(run.experiment_id)
    children = tracking.search_runs(
        experiment.name, filter=f"parent_run_id = '{run.run_id}'", include_deleted=True
    )
    trials = sorted(
        (t for t in map(trial_from_run, children) if t is not None), key=lambda t: t.number
    )
    best = best_of(trials, run.tags[TAG_DIRECTION])
    direction: Direction = "minimize" if run.tags[TAG_DIRECTION] == "minimize" else "maximize"
    return SweepResult(
        run_id=run.run_id,
        study_name=run.tags[TAG_STUDY],
        direction=direction,
        trials=tuple(trials),
        best_number=-1 if best is None else best.number,
        storage=run.tags.get(TAG_STORAGE, ""),
    ).with_settings(tracking.settings)
