"""Experiments: named groups of runs, created on first use and found by name or id."""

from __future__ import annotations

from loopml.core.clock import Clock, now_ms
from loopml.core.entities import Experiment
from loopml.core.errors import AlreadyExistsError, NotFoundError, did_you_mean
from loopml.core.ids import ExperimentId, is_hex_id, new_experiment_id
from loopml.store.protocols import TrackingStore
from loopml.store.query import RunQuery
from loopml.tracking import keys


class ExperimentCatalog:
    """Finds and creates experiments in one tracking store."""

    def __init__(self, store: TrackingStore, *, clock: Clock = now_ms) -> None:
        self._store = store
        self._clock = clock

    def get_or_create(self, name: str) -> Experiment:
        """Return the experiment named ``name``, creating it on first use (safe when several
        processes create it at once)."""
        name = keys.check_name("experiment", name)
        found = self._store.get_experiment_by_name(name)
        if found is not None:
            return found
        experiment = Experiment(new_experiment_id(), name, created_at=self._clock())
        try:
            self._store.create_experiment(experiment)
        except AlreadyExistsError:  # another process created it in between
            found = self._store.get_experiment_by_name(name)
            if found is None:
                raise
            return found
        return experiment

    def get(self, name_or_id: str) -> Experiment:
        """Return an experiment by name (or id).

        Raises:
            NotFoundError: No such experiment; the message suggests the closest name.
        """
        # a name with a NUL is no stored name (and PostgreSQL cannot even compare one)
        found = None if "\x00" in name_or_id else self._store.get_experiment_by_name(name_or_id)
        if found is not None:
            return found
        if is_hex_id(name_or_id):
            try:
                return self._store.get_experiment(ExperimentId(name_or_id))
            except NotFoundError:
                pass
        names = [e.name for e in self._store.list_experiments()]
        raise NotFoundError(
            f"No experiment named {name_or_id!r}.{did_you_mean(name_or_id, names)} "
            "List them with `loopml experiments list`."
        )

    def list(self) -> list[Experiment]:
        """Return every experiment, by name."""
        return self._store.list_experiments()

    def count_runs(self, experiment: Experiment) -> int:
        """Return how many (not deleted) runs an experiment has."""
        return self._store.count_runs(RunQuery(experiment_ids=(experiment.experiment_id,)))
