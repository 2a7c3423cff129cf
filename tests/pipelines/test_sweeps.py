"""Sweeps with Optuna: a real scikit-learn model tuned in-process and on Ray, with pruning;
each trial a child run; the best trial registered; Optuna's tables apart from loopml's on both
backends; failures recorded, and bad input refused before anything runs."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
import sqlalchemy as sa

import loopml
from loopml.client import fluent
from loopml.compute import get_executor
from loopml.core.entities import RunStatus
from loopml.core.errors import InvalidArgumentError, SweepFailedError
from loopml.core.settings import Settings
from loopml.pipelines import SweepResult, read_sweep
from loopml.pipelines.sweep_storage import OPTUNA_SCHEMA, optuna_storage_url
from loopml.store.backend import open_backend
from loopml.store.sql.migrate import HEAD_REVISION
from loopml.tracking import TrackingService
from tests.pipelines import sweep_objectives as objectives


@pytest.fixture
def store_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Point the SDK at the test store through the environment (workers get the settings)."""
    env = {
        "LOOPML_HOME": str(settings.home),
        "LOOPML_DB_URL": settings.db_url,
        "LOOPML_ARTIFACTS_URL": settings.artifacts_url,
        "LOOPML_CAPTURE_ENV": "false",
        "LOOPML_FLUSH_INTERVAL": "0.05",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield settings
    while fluent.active_run() is not None:
        fluent.end_run()
    fluent.reset_client()


def _tracking(settings: Settings) -> TrackingService:
    return TrackingService(open_backend(settings))


def test_a_sweep_in_process_prunes_bad_trials_and_records_each_as_a_child_run(
    store_env: Settings,
) -> None:
    result = loopml.sweep(
        objectives.train,
        n_trials=10,
        experiment="tuning",
        sampler=optuna.samplers.TPESampler(seed=0),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3),
    )
    counts = result.counts()
    assert counts["PRUNED"] >= 2 and counts["COMPLETE"] >= 5 and counts["FAIL"] == 0
    assert [t.number for t in result.trials] == list(range(10))
    for trial in result.trials:
        if trial.state == "PRUNED":  # stopped early, on noise (its accuracy stayed low)
            assert trial.params["features"] == "noise" and trial.steps < objectives.EPOCHS
        if trial.params["features"] == "measured":
            assert trial.state == "COMPLETE" and trial.value is not None and trial.value > 0.9
    complete = [t.value for t in result.trials if t.state == "COMPLETE"]
    assert result.best_value == max(v for v in complete if v is not None)
    assert result.best_params == dict(result.best_trial.params)

    tracking = _tracking(store_env)
    sweep_run = tracking.get_run(result.run_id)
    assert sweep_run.status is RunStatus.FINISHED
    assert sweep_run.metrics["best_value"] == result.best_value
    assert sweep_run.metrics["trials_pruned"] == counts["PRUNED"]
    assert sweep_run.tags["loopml.sweep.best_run_id"] == result.best_run_id
    assert sweep_run.tags["loopml.sweep.best_trial"] == str(result.best_number)
    assert sweep_run.params["n_trials"] == "10"
    children = tracking.search_runs("tuning", filter=f"parent_run_id = '{result.run_id}'")
    assert len(children) == 10
    for trial in result.trials:
        assert trial.run_id is not None
        run = tracking.get_run(trial.run_id)
        assert run.parent_run_id == result.run_id and run.name == f"trial-{trial.number}"
        assert run.status is RunStatus.FINISHED
        assert run.tags["loopml.sweep.state"] == trial.state
        assert run.params["features"] == trial.params["features"]
        assert float(run.params["alpha"]) == pytest.approx(trial.params["alpha"])
        assert run.metrics["train_rows"] == 398  # logged by the objective on the active run
        history = tracking.get_metric_history(trial.run_id, "intermediate_value")
        assert [p.step for p in history] == list(range(trial.steps))
        assert ("value" in run.metrics) == (trial.state == "COMPLETE")
    # read back from the store, the same result; and through JSON
    assert read_sweep(tracking, result.run_id) == result
    assert SweepResult.from_dict(result.to_dict()) == result
    assert result.to_dict()["best_run_id"] == result.best_run_id


def test_the_best_trial_is_registered_with_its_run(store_env: Settings) -> None:
    with loopml.start_run(experiment="tuning", name="outer") as outer:
        result = loopml.sweep(
            objectives.train,
            n_trials=4,
            sampler=optuna.samplers.TPESampler(seed=1),
            pruner=optuna.pruners.NopPruner(),
        )
    assert _tracking(store_env).get_run(result.run_id).parent_run_id == outer.run_id
    x_train, x_valid, y_train, _ = objectives.data()
    best = result.best_params
    model = objectives.model(best["alpha"])
    model.fit(objectives.features(best["features"], x_train, 1), y_train)
    version = result.register_best("bc-sgd", model, input_example=x_valid.head())
    assert version.ref == "bc-sgd@1" and version.run_id == result.best_run_id
    assert version.tags["loopml.sweep.trial"] == str(result.best_number)
    assert version.tags["loopml.sweep.study"] == result.study_name
    assert loopml.models.get("bc-sgd@1").run_id == result.best_run_id
    loaded = loopml.models.load("bc-sgd@1")
    assert len(loaded.predict(x_valid.head(3))) == 3


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_sweep_on_ray_prunes_the_trials_that_report_bad_values(
    store_env: Settings, ray_local: None
) -> None:
    result = loopml.sweep(
        objectives.train,
        n_trials=10,
        executor="ray",
        parallelism=2,
        sampler=objectives.ByNumber(),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2),
    )
    states = {t.number: t.state for t in result.trials}
    assert sorted(states) == list(range(10))
    pruned = {n for n, s in states.items() if s == "PRUNED"}
    assert objectives.bad_trials(range(10)) <= pruned  # every noise trial stopped early
    assert result.best_trial.params["features"] == "measured"
    tracking = _tracking(store_env)
    for trial in result.trials:
        assert trial.run_id is not None
        run = tracking.get_run(trial.run_id)
        assert run.parent_run_id == result.run_id  # written by the Ray worker
        assert run.metrics["train_rows"] == 398  # loopml.log_metric on the worker
        assert run.tags["loopml.sweep.state"] == trial.state


def test_a_trial_that_raises_fails_and_the_sweep_goes_on(store_env: Settings) -> None:
    result = loopml.sweep(
        objectives.fail_on_noise,
        n_trials=6,
        executor="process",
        parallelism=2,
        sampler=objectives.ByNumber(),
        pruner=optuna.pruners.NopPruner(),
    )
    failed = {t.number for t in result.trials if t.state == "FAIL"}
    assert failed == objectives.bad_trials(range(6)) == {4}
    trial = result.trials[4]
    assert trial.error == "LedgerError: trial 4: no measurements to train on"
    run = _tracking(store_env).get_run(trial.run_id or "")
    assert run.status is RunStatus.FAILED and run.tags["loopml.sweep.state"] == "FAIL"
    assert run.error is not None and "LedgerError: trial 4" in run.error
    assert "Traceback" in run.error  # the worker's traceback, kept on the trial's run
    assert result.counts() == {"COMPLETE": 5, "PRUNED": 0, "FAIL": 1}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_trial_whose_worker_dies_is_failed_with_its_run(store_env: Settings) -> None:
    with get_executor("process", max_workers=2, max_retries=0) as executor:
        result = loopml.sweep(objectives.die_on_two, n_trials=5, executor=executor)
    states = {t.number: t.state for t in result.trials}
    # The pool's death takes trial 2 and the one call beside it, which may not have asked
    # for its trial yet (with max_retries=0 nothing runs it again): 4 or 5 trials.
    assert sorted(states) == list(range(len(states))) and len(states) in (4, 5)
    assert states[2] == "FAIL" and result.counts()["COMPLETE"] >= 3
    died = result.trials[2]
    assert died.error is not None
    assert "The worker running trial 2 stopped before it ended (WorkerDiedError" in died.error
    run = _tracking(store_env).get_run(died.run_id or "")
    assert run.status is RunStatus.FAILED and run.tags["loopml.sweep.state"] == "FAIL"
    assert run.params == {"x": run.params["x"]}


def test_a_sweep_whose_trials_all_fail_is_a_clear_error(store_env: Settings) -> None:
    with pytest.raises(
        SweepFailedError,
        match=r"No trial of sweep \w+ completed: 3 failed, 0 pruned\. The first failure: "
        r"ValueError: the training data is empty\.",
    ):
        loopml.sweep(objectives.always_fail, n_trials=3, experiment="broken")
    tracking = _tracking(store_env)
    runs = tracking.search_runs("broken", order_by=["start_time"])
    sweep_run = next(r for r in runs if r.parent_run_id is None)
    assert sweep_run.status is RunStatus.FAILED and "3 failed" in (sweep_run.error or "")
    trials = [r for r in runs if r.parent_run_id == sweep_run.run_id]
    assert len(trials) == 3 and all(r.status is RunStatus.FAILED for r in trials)
    assert all(r.params == {"depth": r.params["depth"]} for r in trials)
    assert read_sweep(tracking, sweep_run.run_id).counts()["FAIL"] == 3


def test_an_objective_that_cannot_be_pickled_is_refused_before_anything_runs(
    store_env: Settings,
) -> None:
    lock = threading.Lock()

    def holds_a_lock(trial: optuna.Trial) -> float:
        with lock:
            return trial.suggest_float("x", 0, 1)

    with pytest.raises(
        InvalidArgumentError, match=r"holds_a_lock to a worker: .*cannot be pickled"
    ):
        loopml.sweep(holds_a_lock, n_trials=2, executor="process", experiment="never")
    if store_env.db_url.startswith("sqlite"):
        assert not Path(store_env.db_url.removeprefix("sqlite:///")).with_name("optuna.db").exists()
    with pytest.raises(loopml.errors.NotFoundError):
        _tracking(store_env).search_runs("never")
    # in-process, nothing is pickled: the same objective runs
    assert loopml.sweep(holds_a_lock, n_trials=2).counts()["COMPLETE"] == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"direction": "maximise"}, r"'direction' .* Got 'maximise'.*Did you mean 'maximize'"),
        ({"n_trials": 0}, r"'n_trials' parameter of sweep must be an int >= 1\. Got 0"),
        ({"timeout": -1}, r"'timeout' parameter .* seconds > 0, or None\. Got -1"),
        ({"sampler": "tpe"}, r"'sampler' .* optuna\.samplers\.TPESampler\(\).* Got 'tpe'"),
        ({"pruner": 3}, r"'pruner' .* optuna\.pruners\.BasePruner"),
        ({"executor": "rayy"}, r"Unknown executor 'rayy'.*Did you mean 'ray'"),
    ],
)
def test_bad_arguments_are_named(
    store_env: Settings, kwargs: dict[str, object], message: str
) -> None:
    arguments: dict[str, object] = {"n_trials": 2, **kwargs}
    with pytest.raises(InvalidArgumentError, match=message):
        loopml.sweep(objectives.always_fail, **arguments)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="must be a function objective"):
        loopml.sweep(0.97, n_trials=1)  # type: ignore[arg-type]


def test_no_trial_starts_after_the_timeout(store_env: Settings) -> None:
    result = loopml.sweep(objectives.slow, n_trials=50, timeout=0.05)
    assert [t.number for t in result.trials] == [0]  # the first always starts
    assert _tracking(store_env).get_run(result.run_id).params["timeout"] == "0.05"


def test_without_optuna_the_error_gives_the_pip_line() -> None:
    code = (
        "import sys; sys.modules['optuna'] = None\n"  # what an environment without Optuna sees
        "import loopml\n"
        "try:\n    loopml.sweep(lambda t: 1.0, n_trials=1)\n"
        "except ImportError as exc:\n    print(exc)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert "pip install 'loopml[sweeps]'" in out.stdout


def test_optuna_tables_stay_apart_from_loopml_tables(store_env: Settings) -> None:
    result = loopml.sweep(objectives.constant, n_trials=2)
    storage = optuna.storages.RDBStorage(optuna_storage_url(store_env))
    try:
        optuna_head = storage._version_manager.get_head_version()
        assert storage._version_manager.get_current_version() == optuna_head
        assert optuna.load_study(study_name=result.study_name, storage=storage).best_value == 1.0
    finally:
        storage.engine.dispose()
    loopml_tables, optuna_tables = _tables(store_env)
    assert {"runs", "alembic_version"} <= loopml_tables[0]
    assert {"studies", "trials", "alembic_version"} <= optuna_tables[0]
    assert not (loopml_tables[0] - {"alembic_version"}) & optuna_tables[0]
    assert (loopml_tables[1], optuna_tables[1]) == (HEAD_REVISION, optuna_head)
    # each side opens its store again, at its own revision
    from loopml.store.backend import close_cached_backends
    from loopml.store.sql.migrate import open_store_engine, read_revision

    close_cached_backends()
    engine = open_store_engine(store_env.db_url)
    try:
        assert read_revision(engine) == HEAD_REVISION
    finally:
        engine.dispose()
    assert loopml.sweep(objectives.constant, n_trials=1).best_value == 1.0


def _tables(settings: Settings) -> tuple[tuple[set[str], str], tuple[set[str], str]]:
    """(tables, alembic revision) of loopml's store and of Optuna's."""
    if settings.db_url.startswith("sqlite"):
        loopml_db = Path(settings.db_url.removeprefix("sqlite:///"))
        optuna_db = loopml_db.with_name("optuna.db")
        assert optuna_db.is_file()
        found = []
        for path in (loopml_db, optuna_db):
            with sqlite3.connect(path) as conn:
                names = {
                    r[0]
                    for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                }
                revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
            conn.close()
            found.append((names, revision))
        return found[0], found[1]
    engine = sa.create_engine(settings.db_url)
    try:
        with engine.connect() as conn:
            found = []
            for schema in ("public", OPTUNA_SCHEMA):
                names = {
                    r[0]
                    for r in conn.exec_driver_sql(
                        "SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)
                    )
                }
                revision = conn.exec_driver_sql(
                    f"SELECT version_num FROM {schema}.alembic_version"
                ).scalar_one()
                found.append((names, revision))
    finally:
        engine.dispose()
    return found[0], found[1]
