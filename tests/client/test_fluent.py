"""The fluent SDK: with-blocks end runs with the right status; nesting; resuming.

Each scenario runs embedded and through a real server (``sdk_env``); the datasets scenario
runs embedded here (datasets through the server are the datasets proxy's, tested with it).
"""

from __future__ import annotations

import pytest

import loopml
from loopml.core.entities import RunStatus
from loopml.core.errors import ConflictError, InvalidArgumentError, NotFoundError


def test_a_block_that_succeeds_finishes_the_run(sdk_env: dict[str, str]) -> None:
    with loopml.start_run(experiment="exp", name="ok", tags={"team": "risk"}) as run:
        loopml.log_param("max_depth", 6)
        loopml.log_params({"lr": 0.1})
        for i in range(100):
            loopml.log_metric("loss", 1 / (i + 1), step=i)
        loopml.log_metrics({"auc": 0.9})
        loopml.set_tag("stage", "dev")
        loopml.set_tags({"owner": "me"})
        loopml.log_dict({"a": 1}, "config.json")
        loopml.log_artifact(b"x", name="x.bin")
        assert loopml.active_run() is run
    assert loopml.active_run() is None
    stored = loopml.get_run(run.run_id)
    assert stored.status is RunStatus.FINISHED
    assert stored.params == {"max_depth": "6", "lr": "0.1"}
    assert stored.metrics == {"loss": pytest.approx(0.01), "auc": 0.9}
    assert stored.tags == {"team": "risk", "stage": "dev", "owner": "me"}


def test_a_block_that_raises_fails_the_run_with_the_error(sdk_env: dict[str, str]) -> None:
    with (
        pytest.raises(ZeroDivisionError, match="division by zero"),
        loopml.start_run(experiment="exp") as run,
    ):
        loopml.log_metric("before", 1.0)
        _ = 1 / 0
    stored = loopml.get_run(run.run_id)
    assert stored.status is RunStatus.FAILED
    assert stored.error is not None and "ZeroDivisionError: division by zero" in stored.error
    assert "Traceback" in stored.error
    assert stored.metrics == {"before": 1.0}


def test_ctrl_c_kills_the_run(sdk_env: dict[str, str]) -> None:
    with (
        pytest.raises(KeyboardInterrupt, match="^stop$"),
        loopml.start_run(experiment="exp") as run,
    ):
        raise KeyboardInterrupt("stop")
    assert loopml.get_run(run.run_id).status is RunStatus.KILLED


def test_runs_nest_and_unwind(sdk_env: dict[str, str]) -> None:
    with loopml.start_run(experiment="exp", name="parent") as parent:
        with loopml.start_run(experiment="exp", name="child") as child:
            assert loopml.active_run() is child
        assert loopml.active_run() is parent
    assert loopml.get_run(child.run_id).parent_run_id == parent.run_id
    assert loopml.get_run(parent.run_id).parent_run_id is None


def test_a_nested_run_lands_in_its_parents_experiment(sdk_env: dict[str, str]) -> None:
    with loopml.start_run(experiment="churn") as parent:
        with loopml.start_run(name="fold-1") as child:  # no experiment given
            pass
        with loopml.start_run("other", name="elsewhere") as explicit:  # given: it wins
            pass
    stored = loopml.get_run(child.run_id)
    assert stored.experiment_id == loopml.get_run(parent.run_id).experiment_id
    assert loopml.get_run(explicit.run_id).parent_run_id == parent.run_id
    children = loopml.search_runs(
        "churn", filter=f"parent_run_id = '{parent.run_id}'", output="runs"
    )
    assert [r.name for r in children] == ["fold-1"]
    assert [e.name for e in loopml.LoopmlClient().list_experiments()] == ["churn", "other"]


def test_a_deleted_run_can_be_restored(sdk_env: dict[str, str]) -> None:
    client = loopml.LoopmlClient()
    with client.start_run("exp") as run:
        run.log_metric("m", 1.0)
    client.delete_run(run.run_id)
    assert client.search_runs("exp", output="runs") == []
    restored = client.restore_run(run.run_id)
    assert restored.deleted is False and restored.metrics == {"m": 1.0}
    assert [r.run_id for r in client.search_runs("exp", output="runs")] == [run.run_id]
    client.delete_run(run.run_id, purge=True)
    with pytest.raises(NotFoundError, match="does not exist"):
        client.restore_run(run.run_id)


def test_resume_by_id(sdk_env: dict[str, str]) -> None:
    run = loopml.start_run(experiment="exp")
    run.log_metric("m", 1.0, step=0)
    run.end(RunStatus.KILLED)
    with loopml.start_run(run_id=run.run_id) as again:
        again.log_metric("m", 2.0, step=1)
    stored = loopml.get_run(run.run_id)
    assert stored.status is RunStatus.FINISHED and stored.metrics["m"] == 2.0
    with pytest.raises(ConflictError, match="finished runs are immutable"):
        loopml.start_run(run_id=run.run_id)


def test_logging_without_a_run_says_how_to_start_one(sdk_env: dict[str, str]) -> None:
    with pytest.raises(NotFoundError, match=r"No active run\. Start one first"):
        loopml.log_metric("m", 1.0)


def test_search_runs_through_the_top_level_api(sdk_env: dict[str, str]) -> None:
    for depth in (2, 4, 6):
        with loopml.start_run(experiment="sweep") as run:
            run.log_param("max_depth", depth)
            run.log_metric("auc", 0.8 + depth / 100)
    frame = loopml.search_runs("sweep", filter="metrics.auc > 0.83", order_by=["metrics.auc desc"])
    assert list(frame["params.max_depth"]) == ["6", "4"]
    runs = loopml.search_runs("sweep", output="runs", limit=1, order_by=["metrics.auc"])
    assert runs[0].params["max_depth"] == "2"


def test_client_object_api(sdk_env: dict[str, str]) -> None:
    client = loopml.LoopmlClient()
    with client.start_run("exp", name="c") as run:
        client.log_param(run.run_id, "a", 1)
        client.log_metric(run.run_id, "m", 0.5, step=3)
        client.set_tag(run.run_id, "t", "v")
    assert client.get_metric_history(run.run_id, "m")[0].step == 3
    assert [e.name for e in client.list_experiments()] == ["exp"]
    assert client.get_run(run.run_id).tags == {"t": "v"}


def test_unknown_output_kind_suggests_the_right_one(sdk_env: dict[str, str]) -> None:
    with loopml.start_run(experiment="exp"):
        pass
    with pytest.raises(InvalidArgumentError, match="output must be 'pandas' or 'runs'.*'runs'"):
        loopml.search_runs("exp", output="run")  # type: ignore[call-overload]


def test_datasets_inside_a_run_record_lineage(store_env: dict[str, str]) -> None:
    import pandas as pd

    frame = pd.DataFrame({"x": range(100), "y": [i % 2 for i in range(100)]})
    with loopml.start_run(experiment="exp") as run:
        version = loopml.datasets.register("toy", frame, target="y")
        parts = loopml.datasets.split("toy@1", fractions={"train": 0.7, "test": 0.3}, seed=1)
        run.log_input(parts["train"], role="train")
        run.log_input("toy-test@1", role="eval")
    assert version.run_id == run.run_id and parts["train"].run_id == run.run_id
    inputs = {(v.ref, role) for v, role in loopml.datasets.inputs_of(run.run_id)}
    assert inputs == {("toy-train@1", "train"), ("toy-test@1", "eval")}
    assert loopml.datasets.runs_using("toy-train@1") == [(run.run_id, "train")]
    assert [v.ref for v in loopml.datasets.list_datasets()] == [
        "toy@1",
        "toy-test@1",
        "toy-train@1",
    ]
    with pytest.raises(ConflictError, match="ended run is immutable"):
        run.log_input("toy@1")
