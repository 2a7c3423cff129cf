"""Step caching on SQLite and PostgreSQL: a re-run hits; a change of a step's code, of its
parameters or of its inputs' content misses (and only what it reaches); force re-runs; a
real model trained on scikit-learn's bundled data comes back from the artifact store."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from loopml.core.entities import RunStatus
from loopml.core.settings import Settings
from loopml.pipelines import Pipeline, PipelineRun
from loopml.store.backend import open_backend
from loopml.tracking import TrackingService
from tests.pipelines import flows


def hits(result: PipelineRun) -> dict[str, bool]:
    return {name: step.cache_hit for name, step in result.steps.items()}


def test_a_second_run_reuses_every_step(settings: Settings) -> None:
    first = flows.train.run(settings=settings)
    assert hits(first) == {"load_cancer": False, "split": False, "fit": False, "evaluate": False}
    assert first.status is RunStatus.FINISHED
    assert first.outputs["accuracy"] > 0.9  # a real forest on the real data
    features = flows.load_cancer().drop(columns="target")
    predictions = first.outputs["model"].predict(features)
    assert predictions.shape == (569,)

    second = flows.train.run(settings=settings)
    assert hits(second) == dict.fromkeys(second.steps, True)
    assert second.outputs["accuracy"] == first.outputs["accuracy"]
    np.testing.assert_array_equal(second.outputs["model"].predict(features), predictions)
    for name, step in second.steps.items():
        assert step.cache_key == first.steps[name].cache_key
        assert step.cached_from == first.steps[name].run_id
        assert step.outputs == first.steps[name].outputs
        assert step.run_id != first.steps[name].run_id  # each run records its own steps


def test_the_runs_record_keys_hits_and_outputs(settings: Settings) -> None:
    first = flows.train.run(settings=settings, n_estimators=5)
    second = flows.train.run(settings=settings, n_estimators=5)
    tracking = TrackingService(open_backend(settings))
    top = tracking.get_run(second.run_id)
    assert top.name == "train" and top.params == {"n_estimators": "5", "test_size": "0.25"}
    assert top.tags["loopml.pipeline"] == "train"
    assert top.tags["loopml.pipeline.cache_hits"] == "4/4"
    children = tracking.search_runs(filter=f"attributes.parent_run_id = '{second.run_id}'")
    assert sorted(c.name for c in children) == ["evaluate", "fit", "load_cancer", "split"]
    fit_run = tracking.get_run(second.steps["fit"].run_id)
    assert fit_run.status is RunStatus.FINISHED and fit_run.parent_run_id == second.run_id
    assert fit_run.params == {"n_estimators": "5"}
    assert fit_run.tags["loopml.step.cache_key"] == second.steps["fit"].cache_key
    assert fit_run.tags["loopml.step.cache_hit"] == "true"
    assert fit_run.tags["loopml.step.cached_from"] == first.steps["fit"].run_id
    assert "seconds" in fit_run.metrics
    (entry,) = tracking.list_artifacts(fit_run.run_id)
    assert entry.path.startswith("outputs/") and entry.path.endswith(".model.json")
    split_inputs = tracking.get_run(second.steps["split"].run_id).tags["loopml.step.inputs"]
    assert second.steps["load_cancer"].outputs[0].digest in split_inputs
    assert PipelineRun.from_dict(second.to_dict()) == second  # the JSON form round-trips


def test_a_parameter_change_misses_that_step_and_what_follows(settings: Settings) -> None:
    flows.train.run(settings=settings, n_estimators=5)
    changed = flows.train.run(settings=settings, n_estimators=6)
    assert hits(changed) == {"load_cancer": True, "split": True, "fit": False, "evaluate": False}


def test_an_input_change_misses_the_steps_that_read_it(settings: Settings) -> None:
    flows.train.run(settings=settings, n_estimators=5, test_size=0.25)
    changed = flows.train.run(settings=settings, n_estimators=5, test_size=0.3)
    # split's parameter changed; fit and evaluate have the same code and parameters as
    # before, and miss because their inputs' contents changed
    assert hits(changed) == {"load_cancer": True, "split": False, "fit": False, "evaluate": False}
    assert (
        changed.steps["fit"].cache_key
        != flows.train.run(settings=settings, n_estimators=5).steps["fit"].cache_key
    )


def test_equal_contents_hit_even_from_other_parameters(settings: Settings) -> None:
    """Keys hash contents, not lineage: another upstream parameter that yields the same
    rows gives the next step the same key."""
    first = flows.fork.run(settings=settings, rows=20)
    again = flows.fork.run(settings=settings, rows=20)
    assert not again.steps["branch"].cache_hit  # cache=False: it runs every time
    assert again.steps["join"].cache_hit  # its inputs' contents did not change
    assert again.outputs == first.outputs == 2 * sum(range(20))


_FLOW = """
import loopml

@loopml.step
def scale(x: float) -> float:
    {doc}
    return x * {factor}  # {comment}

@loopml.step
def shift(x: float) -> float:
    return x + 1

@loopml.pipeline
def flow(x: float = 1.0):
    return shift(scale(x))
"""


def _flow(tmp_path: Path, name: str, **fields: Any) -> ModuleType:
    path = tmp_path / f"{name}.py"
    path.write_text(_FLOW.format(**{"doc": "", "comment": "", **fields}))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_a_code_change_misses_and_formatting_does_not(settings: Settings, tmp_path: Path) -> None:
    original: Pipeline = _flow(tmp_path, "flow_v1", factor=2).flow
    first = original.run(settings=settings)
    assert first.outputs == 3.0 and not any(hits(first).values())

    reworded = _flow(tmp_path, "flow_v2", factor=2, doc='"""Doubles."""', comment="why").flow
    assert all(hits(reworded.run(settings=settings)).values())  # docstring, comment

    edited = _flow(tmp_path, "flow_v3", factor=3).flow
    result = edited.run(settings=settings)
    assert result.outputs == 4.0
    assert hits(result) == {"scale": False, "shift": False}  # shift: its input changed


def test_force_runs_every_step_and_its_runs_become_the_cache(settings: Settings) -> None:
    first = flows.train.run(settings=settings, n_estimators=5)
    forced = flows.train.run(settings=settings, n_estimators=5, force=True)
    assert not any(hits(forced).values())
    assert forced.outputs["accuracy"] == first.outputs["accuracy"]
    after = flows.train.run(settings=settings, n_estimators=5)
    assert after.steps["fit"].cached_from == forced.steps["fit"].run_id  # the newest run


def test_a_hit_whose_values_are_gone_is_a_miss(settings: Settings) -> None:
    first = flows.fork.run(settings=settings, rows=30)
    backend = open_backend(settings)
    backend.artifacts.delete(first.steps["numbers"].outputs[0].digest)
    again = flows.fork.run(settings=settings, rows=30)
    assert not again.steps["numbers"].cache_hit
    assert again.outputs == first.outputs


def test_dataset_and_model_versions_are_linked_and_not_registered_twice(
    settings: Settings,
) -> None:
    from loopml.data import DatasetService
    from loopml.registry import ModelRegistry

    backend = open_backend(settings)
    datasets = DatasetService(backend)
    frame = flows.load_cancer()
    datasets.register("cancer", frame, target="target")

    result = flows.train_registered.run(settings=settings)
    assert result.outputs["version"] == {"model": "cancer-rf", "version": 1, "ref": "cancer-rf@1"}
    registry = ModelRegistry(backend)
    version = registry.get("cancer-rf@1")
    assert version.run_id == result.steps["register_model"].run_id
    lineage = registry.lineage("cancer-rf@1")
    assert lineage.run is not None and lineage.run.run_id == version.run_id
    assert [(d.ref, role) for d, role in lineage.datasets] == [("cancer@1", "train")]
    read_run = result.steps["read_dataset"].run_id
    assert [(v.ref, role) for v, role in datasets.inputs_of(read_run)] == [("cancer@1", "input")]
    assert [(v.ref, r) for v, r in datasets.inputs_of(result.run_id)] == [("cancer@1", "input")]
    loaded = registry.load("cancer-rf@1")
    assert loaded.predict(frame.drop(columns="target")).shape == (569,)

    again = flows.train_registered.run(settings=settings)
    assert again.steps["register_model"].cache_hit
    assert again.outputs["version"]["ref"] == "cancer-rf@1"
    assert [v.version for v in registry.versions("cancer-rf")] == [1]  # nothing registered twice
    step_run = TrackingService(backend).get_run(again.steps["register_model"].run_id)
    assert step_run.tags["loopml.step.wrote"] == "model:cancer-rf@1"

    datasets.register("cancer", frame.head(400), target="target")  # cancer@2: other rows
    newer = flows.train_registered.run(settings=settings, dataset="cancer@latest")
    assert not newer.steps["fit"].cache_hit
    assert newer.outputs["version"]["ref"] == "cancer-rf@2"


def test_a_registered_dataset_feeds_the_next_steps_and_the_model_lineage(
    settings: Settings,
) -> None:
    from loopml.data import DatasetService
    from loopml.registry import ModelRegistry

    result = flows.derived.run(settings=settings)
    assert result.outputs["ref"] == "cancer-small@1"
    backend = open_backend(settings)
    dataset = DatasetService(backend).get("cancer-small@1")
    assert dataset.run_id == result.steps["register_dataset"].run_id
    assert dataset.rows == 569 and dataset.schema.target == "target"
    assert result.steps["split"].outputs  # the registered rows went on to split
    lineage = ModelRegistry(backend).lineage("cancer-small@1")
    assert [(d.ref, role) for d, role in lineage.datasets] == [("cancer-small@1", "train")]
    version = ModelRegistry(backend).get("cancer-small@1")
    assert [c.name for c in version.signature.inputs] == [
        "mean radius",
        "mean texture",
        "mean area",
    ]

    again = flows.derived.run(settings=settings)  # the same rows: no new dataset version
    assert not again.steps["register_dataset"].cache_hit  # it ran, and found the version
    assert again.steps["register_model"].cache_hit
    assert [v.version for v in DatasetService(backend).versions("cancer-small")] == [1]
