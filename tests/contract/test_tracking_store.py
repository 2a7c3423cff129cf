"""Contract suite of :class:`~loopml.store.protocols.TrackingStore`, run on every backend.

Queries are built from the dataclasses of :mod:`loopml.store.query` directly.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from loopml.core.clock import now_ms
from loopml.core.entities import ArtifactEntry, Experiment, MetricPoint, Run, RunStatus
from loopml.core.errors import (
    AlreadyExistsError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
)
from loopml.core.ids import ExperimentId, RunId, new_experiment_id, new_run_id
from loopml.store.protocols import TrackingStore
from loopml.store.query import BoolOp, Comparison, Expr, FieldRef, OrderKey, RunQuery
from loopml.store.sql import SqlTrackingStore

NAN, INF = float("nan"), float("inf")


@pytest.fixture
def store(db_url: str) -> Iterator[TrackingStore]:
    tracking = SqlTrackingStore(db_url)
    yield tracking
    tracking.close()


def make_experiment(store: TrackingStore, name: str = "exp", **kw: object) -> Experiment:
    experiment = Experiment(new_experiment_id(), name, 1_700_000_000_000, **kw)  # type: ignore[arg-type]
    store.create_experiment(experiment)
    return experiment


def make_run(store: TrackingStore, experiment: Experiment, **kw: object) -> Run:
    fields: dict[str, object] = {"name": "run", "status": RunStatus.RUNNING, "start_time": 1000}
    fields.update(kw)
    run = Run(new_run_id(), experiment.experiment_id, **fields)  # type: ignore[arg-type]
    store.create_run(run)
    return run


def point(key: str, value: float, step: int = 0, timestamp: int = 0) -> MetricPoint:
    return MetricPoint(key=key, value=value, step=step, timestamp=timestamp)


def same_float(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


# -- experiments -----------------------------------------------------------------------------


def test_experiments_round_trip_and_list_by_name(store: TrackingStore) -> None:
    b = make_experiment(store, "b", description="second")
    a = make_experiment(store, "a")
    gone = make_experiment(store, "c", deleted=True)
    assert store.get_experiment(b.experiment_id) == b
    assert store.get_experiment_by_name("a") == a
    assert store.get_experiment_by_name("nope") is None
    assert store.list_experiments() == [a, b]
    assert store.list_experiments(include_deleted=True) == [a, b, gone]


def test_experiment_errors(store: TrackingStore) -> None:
    make_experiment(store, "taken")
    with pytest.raises(AlreadyExistsError, match="'taken' .*already exists"):
        make_experiment(store, "taken")
    missing = new_experiment_id()
    with pytest.raises(NotFoundError, match=missing):
        store.get_experiment(missing)


# -- runs ------------------------------------------------------------------------------------


def test_create_and_get_run_with_its_maps(store: TrackingStore) -> None:
    exp = make_experiment(store)
    parent = make_run(store, exp)
    run = make_run(
        store,
        exp,
        name="child",
        parent_run_id=parent.run_id,
        params={"lr": "0.1"},
        tags={"team": "a"},
        metrics={"auc": 0.5},
    )
    got = store.get_run(run.run_id)
    assert got == run
    assert store.get_metric_history(run.run_id, "auc") == [point("auc", 0.5, 0, 1000)]


def test_create_run_errors(store: TrackingStore) -> None:
    exp = make_experiment(store)
    run = make_run(store, exp)
    with pytest.raises(AlreadyExistsError, match=run.run_id):
        store.create_run(run)
    orphan = Run(new_run_id(), ExperimentId("f" * 32), "x", RunStatus.RUNNING, 1)
    with pytest.raises(NotFoundError, match="f" * 32):
        store.create_run(orphan)
    missing = new_run_id()
    with pytest.raises(NotFoundError, match=missing):
        store.get_run(missing)


def test_end_run_and_reopen(store: TrackingStore) -> None:
    run = make_run(store, make_experiment(store))
    store.end_run(run.run_id, status=RunStatus.FAILED, end_time=5000, error="boom")
    got = store.get_run(run.run_id)
    assert (got.status, got.end_time, got.error) == (RunStatus.FAILED, 5000, "boom")
    store.end_run(run.run_id, status=RunStatus.RUNNING, end_time=None)
    got = store.get_run(run.run_id)
    assert (got.status, got.end_time, got.error) == (RunStatus.RUNNING, None, None)
    for call in (
        lambda r: store.end_run(r, status=RunStatus.FINISHED, end_time=1),
        lambda r: store.set_run_deleted(r, True),
        store.purge_run,
    ):
        missing = new_run_id()
        with pytest.raises(NotFoundError, match=missing):
            call(missing)


def test_purge_removes_everything_logged_on_the_run(store: TrackingStore) -> None:
    exp = make_experiment(store)
    run = make_run(store, exp, params={"p": "1"}, tags={"t": "1"}, metrics={"m": 1.0})
    store.log_metrics([(run.run_id, point("m", 2.0, 1))])
    store.add_artifacts(run.run_id, [ArtifactEntry("model.pkl", "a" * 64, 3)])
    store.purge_run(run.run_id)
    with pytest.raises(NotFoundError, match="does not exist .*has been purged"):
        store.get_run(run.run_id)
    # A new run under the same id starts empty: nothing of the old one survived the purge.
    store.create_run(Run(run.run_id, exp.experiment_id, "again", RunStatus.RUNNING, 1))
    fresh = store.get_run(run.run_id)
    assert (fresh.params, fresh.tags, fresh.metrics) == ({}, {}, {})
    assert store.get_metric_history(run.run_id, "m") == []
    assert store.list_artifacts(run.run_id) == []


# -- params and tags -------------------------------------------------------------------------


def test_params_are_write_once(store: TrackingStore) -> None:
    run = make_run(store, make_experiment(store))
    store.log_params(run.run_id, {"max_depth": "6", "lr": "0.1"})
    store.log_params(run.run_id, {"max_depth": "6"})  # same value: no-op
    store.log_params(run.run_id, {})
    message = (
        f"Param 'max_depth' of run {run.run_id} is already 6; params are write-once and "
        "cannot be changed to 8. Log it under another key, or start a new run."
    )
    with pytest.raises(ConflictError, match=message):
        store.log_params(run.run_id, {"new": "x", "max_depth": "8"})
    assert store.get_run(run.run_id).params == {"max_depth": "6", "lr": "0.1"}  # 'new' not written
    missing = new_run_id()
    with pytest.raises(NotFoundError, match=missing):
        store.log_params(missing, {"a": "1"})


def test_long_keys_and_values_fit(store: TrackingStore) -> None:
    run = make_run(store, make_experiment(store))
    key = "k" * 250
    store.log_params(run.run_id, {key: "é" * 6000})
    store.set_tags(run.run_id, {key: "ü" * 8000})
    got = store.get_run(run.run_id)
    assert got.params[key] == "é" * 6000 and got.tags[key] == "ü" * 8000


def test_tags_overwrite_and_delete(store: TrackingStore) -> None:
    run = make_run(store, make_experiment(store))
    store.set_tags(run.run_id, {"a": "1", "b": "2"})
    store.set_tags(run.run_id, {"a": "3"})
    assert store.get_run(run.run_id).tags == {"a": "3", "b": "2"}
    store.delete_tag(run.run_id, "b")
    assert store.get_run(run.run_id).tags == {"a": "3"}
    with pytest.raises(NotFoundError, match="no tag 'b'"):
        store.delete_tag(run.run_id, "b")
    missing = new_run_id()
    with pytest.raises(NotFoundError, match=missing):
        store.set_tags(missing, {"a": "1"})
    with pytest.raises(NotFoundError, match=missing):
        store.delete_tag(missing, "a")


# -- metrics ---------------------------------------------------------------------------------


def test_metric_history_and_latest_value_rules(store: TrackingStore) -> None:
    run = make_run(store, make_experiment(store))
    rid = run.run_id
    store.log_metrics([(rid, point("loss", 0.5, 5, 10)), (rid, point("loss", 0.9, 3, 20))])
    assert store.get_run(rid).metrics["loss"] == 0.5  # out-of-order step 3 does not win
    store.log_metrics([(rid, point("loss", 0.4, 5, 9))])
    assert store.get_run(rid).metrics["loss"] == 0.5  # same step, older time
    store.log_metrics([(rid, point("loss", 0.3, 5, 11))])
    assert store.get_run(rid).metrics["loss"] == 0.3  # same step, later time
    store.log_metrics([(rid, point("loss", 0.2, 5, 11))])
    assert store.get_run(rid).metrics["loss"] == 0.2  # full tie: the later write
    store.log_metrics([(rid, point("loss", 0.7, 6, 1)), (rid, point("loss", 0.6, 6, 1))])
    assert store.get_run(rid).metrics["loss"] == 0.6  # full tie inside one batch too
    history = store.get_metric_history(rid, "loss")
    assert [(p.step, p.timestamp, p.value) for p in history] == [
        (3, 20, 0.9),
        (5, 9, 0.4),
        (5, 10, 0.5),
        (5, 11, 0.3),
        (5, 11, 0.2),
        (6, 1, 0.7),
        (6, 1, 0.6),
    ]
    assert store.get_metric_history(rid, "absent") == []


@pytest.mark.parametrize("value", [NAN, INF, -INF, 0.0, -1.5e308, 5e-324])
def test_special_floats_round_trip(store: TrackingStore, value: float) -> None:
    run = make_run(store, make_experiment(store))
    store.log_metrics([(run.run_id, point("m", value, 1))])
    assert same_float(store.get_run(run.run_id).metrics["m"], value)
    assert same_float(store.get_metric_history(run.run_id, "m")[0].value, value)
    store.log_metrics([(run.run_id, point("m", 1.0, 2)), (run.run_id, point("m", value, 3))])
    assert same_float(store.get_run(run.run_id).metrics["m"], value)


@pytest.mark.parametrize(
    "value", [0.1 + 0.2, 1 / 3, -2 / 3 * 1e-300, 1.1993644777057513e204, -1.5e308]
)
def test_every_digit_of_a_metric_round_trips(store: TrackingStore, value: float) -> None:
    # SQLite's JSON keeps 15 significant digits: the run summary read 0.1 + 0.2 as 0.3.
    run = make_run(store, make_experiment(store))
    store.log_metrics([(run.run_id, point("m", value, 1))])
    assert store.get_run(run.run_id).metrics["m"] == value
    (found,) = store.search_runs(RunQuery((run.experiment_id,)))
    assert found.metrics["m"] == value


def test_log_metrics_many_runs_and_points(store: TrackingStore) -> None:
    exp = make_experiment(store)
    a, b = make_run(store, exp), make_run(store, exp)
    points = [(r.run_id, point(f"m{i % 7}", float(i), i, i)) for i in range(3000) for r in (a, b)]
    store.log_metrics(points)
    store.log_metrics([])
    assert len(store.get_metric_history(a.run_id, "m3")) == 429
    assert store.get_run(b.run_id).metrics == {
        f"m{k}": float(2996 + k - 7 * (k > 3)) for k in range(7)
    }


def test_log_metrics_unknown_run_writes_nothing(store: TrackingStore) -> None:
    run = make_run(store, make_experiment(store))
    missing = new_run_id()
    with pytest.raises(NotFoundError, match=missing):
        store.log_metrics([(run.run_id, point("m", 1.0)), (missing, point("m", 1.0))])
    assert store.get_metric_history(run.run_id, "m") == []
    with pytest.raises(NotFoundError, match=missing):
        store.get_metric_history(missing, "m")


def test_log_metrics_to_an_ended_run_writes_nothing(store: TrackingStore) -> None:
    exp = make_experiment(store)
    running, ended = make_run(store, exp), make_run(store, exp)
    store.end_run(ended.run_id, status=RunStatus.KILLED, end_time=2000)
    batch = [(running.run_id, point("m", 1.0)), (ended.run_id, point("m", 2.0))]
    with pytest.raises(ConflictError, match=rf"Run {ended.run_id} is KILLED: an ended run"):
        store.log_metrics(batch, batch_key="k-ended")
    assert store.get_metric_history(running.run_id, "m") == []
    # Refused, so the key was not kept: the batch goes once the run is running again.
    store.end_run(ended.run_id, status=RunStatus.RUNNING, end_time=None)
    assert store.log_metrics(batch, batch_key="k-ended") is True
    assert store.log_metrics(batch, batch_key="k-ended") is False
    assert len(store.get_metric_history(ended.run_id, "m")) == 1


def test_prune_batch_keys_forgets_old_keys_and_keeps_recent_ones(store: TrackingStore) -> None:
    run = make_run(store, make_experiment(store))
    points = [(run.run_id, point("m", 1.0))]
    for i in range(5):
        assert store.log_metrics(points, batch_key=f"old-{i}") is True
    cutoff = now_ms() + 1
    while now_ms() < cutoff:  # the next key is applied at or after the cutoff's millisecond
        pass
    store.log_metrics(points, batch_key="recent")
    assert store.prune_batch_keys(applied_before=cutoff, limit=3) == 3  # bounded, oldest first
    assert store.prune_batch_keys(applied_before=cutoff) == 2
    assert store.prune_batch_keys(applied_before=cutoff) == 0
    assert store.log_metrics(points, batch_key="recent") is False  # kept: still applied once
    assert store.log_metrics(points, batch_key="old-0") is True  # forgotten: applied again
    assert len(store.get_metric_history(run.run_id, "m")) == 7


# -- artifacts -------------------------------------------------------------------------------


def test_artifact_index(store: TrackingStore) -> None:
    run = make_run(store, make_experiment(store))
    assert store.list_artifacts(run.run_id) == []
    store.add_artifacts(
        run.run_id, [ArtifactEntry("b/model.pkl", "b" * 64, 2), ArtifactEntry("a.txt", "a" * 64, 1)]
    )
    store.add_artifacts(run.run_id, [ArtifactEntry("b/model.pkl", "c" * 64, 5)])
    assert store.list_artifacts(run.run_id) == [
        ArtifactEntry("a.txt", "a" * 64, 1),
        ArtifactEntry("b/model.pkl", "c" * 64, 5),
    ]
    missing = new_run_id()
    with pytest.raises(NotFoundError, match=missing):
        store.add_artifacts(missing, [ArtifactEntry("x", "a" * 64, 1)])
    with pytest.raises(NotFoundError, match=missing):
        store.list_artifacts(missing)


def test_describe(store: TrackingStore) -> None:
    facts = store.describe()
    for key in ("dialect", "server_version", "database", "schema_revision"):
        assert facts[key], key
    assert "password" not in facts["database"]


# -- search ----------------------------------------------------------------------------------


@dataclass
class World:
    exp: Experiment
    r1: Run
    r2: Run
    r3: Run
    r4: Run

    def names(self, runs: list[Run]) -> list[str]:
        return [r.name for r in runs]


@pytest.fixture
def world(store: TrackingStore) -> World:
    exp = make_experiment(store)
    r1 = make_run(
        store,
        exp,
        name="alpha",
        start_time=1000,
        status=RunStatus.FINISHED,
        end_time=1500,
        params={"model": "xgb", "lr": "0.1", "path": "a_b"},
        metrics={"auc": 0.9, "loss": 0.1, "big": INF},
        tags={"team": "a"},
    )
    r2 = make_run(
        store,
        exp,
        name="Beta",
        start_time=2000,
        params={"model": "lgbm"},
        metrics={"auc": 0.7, "big": -INF},
        tags={"team": "b"},
    )
    r3 = make_run(
        store,
        exp,
        name="gamma",
        start_time=3000,
        status=RunStatus.FAILED,
        end_time=3500,
        params={"model": "XGB-large", "path": "axb"},
        metrics={"auc": NAN, "loss": 0.3},
    )
    r4 = make_run(
        store, exp, name="delta", start_time=4000, parent_run_id=r1.run_id, tags={"team": "a"}
    )
    return World(exp, r1, r2, r3, r4)


def c(field: str, op: str, value: object = None) -> Comparison:
    kind, _, key = field.partition(".")
    kinds = {"metrics": "metric", "params": "param", "tags": "tag", "attributes": "attribute"}
    return Comparison(FieldRef(kinds[kind], key), op, value)  # type: ignore[arg-type]


def search(store: TrackingStore, w: World, where: Expr | None = None, **kw: object) -> list[str]:
    query = RunQuery((w.exp.experiment_id,), where=where, **kw)  # type: ignore[arg-type]
    found = store.search_runs(query)
    assert store.count_runs(query) >= len(found)
    return w.names(found)


# Expected names are in the default order: start_time descending.
FILTER_CASES = [
    (c("metrics.auc", "=", 0.9), ["alpha"]),
    (c("metrics.auc", "!=", 0.9), ["Beta"]),  # NaN (gamma) and missing (delta) never match
    (c("metrics.auc", "<", 0.9), ["Beta"]),
    (c("metrics.auc", "<=", 0.9), ["Beta", "alpha"]),
    (c("metrics.auc", ">", 0.0), ["Beta", "alpha"]),
    (c("metrics.auc", ">=", 0.7), ["Beta", "alpha"]),
    (c("metrics.auc", "in", (0.7, 0.5)), ["Beta"]),
    (c("metrics.auc", "not in", (0.7,)), ["alpha"]),
    (c("metrics.auc", "is null"), ["delta"]),  # a NaN value is present, so not null
    (c("metrics.auc", "is not null"), ["gamma", "Beta", "alpha"]),
    (c("metrics.big", ">", 1e308), ["alpha"]),
    (c("metrics.big", "<", -1e308), ["Beta"]),
    (c("metrics.big", "=", INF), ["alpha"]),
    (c("params.model", "=", "xgb"), ["alpha"]),
    (c("params.model", "!=", "xgb"), ["gamma", "Beta"]),
    (c("params.model", "<", "m"), ["gamma", "Beta"]),  # string order: 'X' < 'l' < 'm'
    (c("params.model", ">=", "xgb"), ["alpha"]),
    (c("params.model", "like", "x%"), ["alpha"]),  # like is case-sensitive
    (c("params.model", "like", "%GB%"), ["gamma"]),
    (c("params.model", "ilike", "x%"), ["gamma", "alpha"]),
    (c("params.path", "like", "a\\_b"), ["alpha"]),  # backslash escapes the wildcard
    (c("params.path", "like", "a_b"), ["gamma", "alpha"]),
    (c("params.model", "in", ("xgb", "lgbm")), ["Beta", "alpha"]),
    (c("params.model", "not in", ("xgb",)), ["gamma", "Beta"]),
    (c("params.model", "in", ()), []),
    (c("params.lr", "is null"), ["delta", "gamma", "Beta"]),
    (c("params.lr", "is not null"), ["alpha"]),
    (c("tags.team", "=", "a"), ["delta", "alpha"]),
    (c("tags.team", "!=", "a"), ["Beta"]),
    (c("tags.team", "is null"), ["gamma"]),
    (c("tags.team", "ilike", "A"), ["delta", "alpha"]),
    (c("attributes.status", "=", "FINISHED"), ["alpha"]),
    (c("attributes.status", "!=", "RUNNING"), ["gamma", "alpha"]),
    (c("attributes.name", "like", "%a"), ["delta", "gamma", "Beta", "alpha"]),
    (c("attributes.name", "like", "b%"), []),
    (c("attributes.name", "ilike", "b%"), ["Beta"]),
    (c("attributes.start_time", ">=", 2000), ["delta", "gamma", "Beta"]),
    (c("attributes.start_time", "<", 2500.5), ["Beta", "alpha"]),
    (c("attributes.end_time", "is null"), ["delta", "Beta"]),
    (c("attributes.end_time", ">", 1500), ["gamma"]),
    (c("attributes.parent_run_id", "is not null"), ["delta"]),
    (c("attributes.status", "in", ("FAILED", "FINISHED")), ["gamma", "alpha"]),
    (BoolOp("and", (c("params.model", "ilike", "%xgb%"), c("metrics.loss", "<", 0.2))), ["alpha"]),
    (BoolOp("or", (c("tags.team", "=", "b"), c("metrics.loss", ">", 0.2))), ["gamma", "Beta"]),
    (
        BoolOp(
            "and",
            (
                BoolOp("or", (c("tags.team", "=", "a"), c("params.model", "=", "lgbm"))),
                c("metrics.auc", "is not null"),
            ),
        ),
        ["Beta", "alpha"],
    ),
]


@pytest.mark.parametrize(
    ("where", "expected"), FILTER_CASES, ids=[str(i) for i in range(len(FILTER_CASES))]
)
def test_filter_semantics(
    store: TrackingStore, world: World, where: Expr, expected: list[str]
) -> None:
    assert search(store, world, where) == expected
    query = RunQuery((world.exp.experiment_id,), where=where)
    assert store.count_runs(query) == len(expected)


def test_filter_on_run_id_and_experiment(store: TrackingStore, world: World) -> None:
    assert search(store, world, c("attributes.run_id", "=", world.r2.run_id)) == ["Beta"]
    parent = c("attributes.parent_run_id", "=", world.r1.run_id)
    assert search(store, world, parent) == ["delta"]
    other = make_experiment(store, "other")
    make_run(store, other, name="elsewhere", start_time=9000)
    exp_filter = c("attributes.experiment_id", "=", other.experiment_id)
    assert search(store, world, exp_filter) == []
    both = RunQuery((world.exp.experiment_id, other.experiment_id))
    assert world.names(store.search_runs(both))[:2] == ["elsewhere", "delta"]
    assert store.count_runs(both) == 5


def test_bad_comparisons_are_refused(store: TrackingStore, world: World) -> None:
    for where in (
        c("metrics.auc", "like", "x"),
        c("metrics.auc", "=", "x"),
        c("params.model", "<", 3.0),
        c("attributes.start_time", "=", "x"),
        c("metrics.auc", "=", NAN),
    ):
        with pytest.raises(InvalidArgumentError, match=r"does not fit the field|NaN"):
            search(store, world, where)


ORDER_CASES = [
    ("metrics.auc", False, ["Beta", "alpha", "delta", "gamma"]),  # NaN and missing last
    ("metrics.auc", True, ["alpha", "Beta", "delta", "gamma"]),
    ("metrics.big", False, ["Beta", "alpha", "delta", "gamma"]),
    ("metrics.big", True, ["alpha", "Beta", "delta", "gamma"]),
    ("params.model", False, ["gamma", "Beta", "alpha", "delta"]),
    ("params.model", True, ["alpha", "Beta", "gamma", "delta"]),
    ("tags.team", True, ["Beta", "delta", "alpha", "gamma"]),
    ("attributes.name", False, ["Beta", "alpha", "delta", "gamma"]),
    ("attributes.end_time", False, ["alpha", "gamma", "delta", "Beta"]),
    ("attributes.end_time", True, ["gamma", "alpha", "delta", "Beta"]),
    ("attributes.start_time", False, ["alpha", "Beta", "gamma", "delta"]),
]


@pytest.mark.parametrize(("field", "descending", "expected"), ORDER_CASES)
def test_order_missing_values_last(
    store: TrackingStore, world: World, field: str, descending: bool, expected: list[str]
) -> None:
    key = OrderKey(c(field, "=").field, descending)
    assert search(store, world, order_by=(key,)) == expected


def test_order_by_several_keys_and_pages(store: TrackingStore, world: World) -> None:
    keys = (OrderKey(FieldRef("tag", "team")), OrderKey(FieldRef("metric", "auc"), True))
    assert search(store, world, order_by=keys) == ["alpha", "delta", "Beta", "gamma"]
    full = search(store, world)
    assert full == ["delta", "gamma", "Beta", "alpha"]  # newest first by default
    pages = [search(store, world, limit=3, offset=o) for o in (0, 3, 6)]
    assert pages == [full[:3], full[3:], []]
    assert search(store, world, offset=1) == full[1:]
    query = RunQuery((world.exp.experiment_id,), limit=1, offset=1)
    assert store.count_runs(query) == 4


def test_run_ids_and_deleted_runs(store: TrackingStore, world: World) -> None:
    picked = (world.r1.run_id, world.r3.run_id, RunId(new_run_id()))
    assert search(store, world, run_ids=picked) == ["gamma", "alpha"]
    assert search(store, world, run_ids=()) == []
    store.set_run_deleted(world.r3.run_id, True)
    assert search(store, world) == ["delta", "Beta", "alpha"]
    assert search(store, world, include_deleted=True) == ["delta", "gamma", "Beta", "alpha"]
    assert store.get_run(world.r3.run_id).deleted
    assert store.count_runs(RunQuery((world.exp.experiment_id,))) == 3
    store.set_run_deleted(world.r3.run_id, False)
    assert search(store, world) == ["delta", "gamma", "Beta", "alpha"]


def test_search_returns_complete_runs(store: TrackingStore, world: World) -> None:
    found = {r.run_id: r for r in store.search_runs(RunQuery((world.exp.experiment_id,)))}
    for run in (world.r1, world.r2, world.r4):
        assert found[run.run_id] == run
    gamma = found[world.r3.run_id]
    assert math.isnan(gamma.metrics["auc"]) and gamma.metrics["loss"] == 0.3
    assert gamma.params == world.r3.params and gamma.end_time == 3500


def test_search_many_runs_crosses_id_chunks(store: TrackingStore) -> None:
    exp = make_experiment(store)
    for i in range(950):
        store.create_run(
            Run(
                new_run_id(), exp.experiment_id, f"r{i}", RunStatus.RUNNING, i, params={"i": str(i)}
            )
        )
    found = store.search_runs(RunQuery((exp.experiment_id,)))
    assert len(found) == 950 == store.count_runs(RunQuery((exp.experiment_id,)))
    assert all(r.params == {"i": r.name[1:]} for r in found)


def test_filter_on_many_fields(store: TrackingStore) -> None:
    exp = make_experiment(store)
    values = {f"k{i}": str(i) for i in range(40)}
    hit = make_run(store, exp, name="hit", params=values, metrics={"m": 1.0})
    make_run(store, exp, name="miss", params={**values, "k39": "x"}, metrics={"m": 1.0})
    where = BoolOp("and", tuple(c(f"params.k{i}", "=", str(i)) for i in range(40)))
    query = RunQuery(
        (exp.experiment_id,), where=where, order_by=(OrderKey(FieldRef("metric", "m")),)
    )
    assert [r.run_id for r in store.search_runs(query)] == [hit.run_id]
    assert store.count_runs(query) == 1
    either = BoolOp("or", (where, c("params.k39", "is null"), c("params.k38", "!=", "38")))
    assert store.count_runs(RunQuery((exp.experiment_id,), where=either)) == 1
