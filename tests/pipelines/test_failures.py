"""Failures: a step that raises fails its pipeline run with the step and the error, and a
new run resumes after the steps that finished; retries; a worker that dies; a value that
cannot be stored; a step that cannot be sent to a worker, refused before anything runs."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

import loopml
from loopml.core.entities import RunStatus
from loopml.core.errors import InvalidArgumentError, StepFailedError
from loopml.core.settings import Settings
from loopml.pipelines import PipelineRun
from loopml.store.backend import open_backend
from loopml.tracking import TrackingService
from tests.pipelines import flows


def test_a_failed_pipeline_resumes_after_its_good_steps(settings: Settings, tmp_path: Path) -> None:
    counter, marker = tmp_path / "counter", tmp_path / "feed-is-up"
    with pytest.raises(
        StepFailedError,
        match=r"Step 'feed' of pipeline 'resumable' failed: ConnectionError: the upstream "
        r"feed is down\. Pipeline run \w+ is FAILED; .* The steps that finished \(counted\) "
        r"are cached: run the pipeline again",
    ) as caught:
        flows.resumable.run(settings=settings, counter=str(counter), marker=str(marker))
    failed = caught.value
    assert isinstance(failed.__cause__, ConnectionError)
    assert failed.step == "feed"
    run = failed.pipeline_run
    assert isinstance(run, PipelineRun) and run.status is RunStatus.FAILED
    assert {n: s.status for n, s in run.steps.items()} == {
        "counted": "FINISHED",
        "feed": "FAILED",
        "total": "NOT_RUN",
    }
    tracking = TrackingService(open_backend(settings))
    top = tracking.get_run(failed.run_id)
    assert top.status is RunStatus.FAILED
    assert top.error is not None and "ConnectionError: the upstream feed is down" in top.error
    step_run = tracking.get_run(run.steps["feed"].run_id)
    assert step_run.status is RunStatus.FAILED and step_run.parent_run_id == failed.run_id
    assert step_run.error is not None and "the upstream feed is down" in step_run.error
    assert counter.read_text().count("ran") == 1

    marker.touch()  # the feed is back: run it again with the same parameters
    resumed = flows.resumable.run(settings=settings, counter=str(counter), marker=str(marker))
    assert resumed.status is RunStatus.FINISHED
    assert resumed.resumed_from == failed.run_id
    assert tracking.get_run(resumed.run_id).tags["loopml.pipeline.resumed_from"] == failed.run_id
    assert {n: s.cache_hit for n, s in resumed.steps.items()} == {
        "counted": True,
        "feed": False,
        "total": False,
    }
    assert counter.read_text().count("ran") == 1  # the good step did not run again
    assert resumed.outputs == float(sum(2 * x for x in range(10)))


def test_a_step_is_retried(settings: Settings, tmp_path: Path) -> None:
    result = flows.retried.run(settings=settings, marker=str(tmp_path / "once"))
    assert result.outputs == "second time lucky"
    assert result.steps["fails_once"].attempts == 2


@pytest.mark.parametrize("name", ["process", "ray"])
def test_a_killed_worker_is_retried_or_fails_with_its_reason(
    name: str, settings: Settings, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if name == "ray":
        request.getfixturevalue("ray_local")
    result = flows.dies.run(settings=settings, executor=name, marker=str(tmp_path / "a"))
    assert result.outputs == "survived"  # the executor ran it again after the death
    with pytest.raises(
        StepFailedError,
        match=rf"Step 'kills_its_worker' of pipeline 'dies' failed: WorkerDiedError: .*"
        rf"failed on the '{name}' executor: .*died",
    ) as caught:
        flows.dies.run(settings=settings, executor=name, marker=str(tmp_path / "b"), always=True)
    step_run = TrackingService(open_backend(settings)).get_run(caught.value.step_run_id or "")
    assert step_run.status is RunStatus.FAILED
    assert step_run.error is not None and "WorkerDiedError" in step_run.error


def test_a_value_that_cannot_be_stored_is_a_recorded_failure(settings: Settings) -> None:
    with pytest.raises(
        StepFailedError,
        match=r"Step 'returns_a_lock' of pipeline 'unstorable' failed: InvalidArgumentError: "
        r"The output of step 'returns_a_lock' is a _thread.lock, which loopml cannot store "
        r"between steps\. A step may return a pandas DataFrame",
    ) as caught:
        flows.unstorable.run(settings=settings)
    run = TrackingService(open_backend(settings)).get_run(caught.value.run_id)
    assert run.status is RunStatus.FAILED


def test_a_step_returning_the_wrong_number_of_values_fails(settings: Settings) -> None:
    with pytest.raises(
        StepFailedError,
        match=r"Step 'two_values' declares 2 outputs .* but returned a int\. Return a tuple",
    ):
        flows.miscounted.run(settings=settings)


def _runs(settings: Settings) -> list[Any]:
    return TrackingService(open_backend(settings)).search_runs()


def test_a_step_that_cannot_be_pickled_is_refused_before_anything_runs(
    settings: Settings, tmp_path: Path
) -> None:
    lock = threading.Lock()
    marker = tmp_path / "ran"

    @loopml.step
    def guarded(x: int) -> int:
        with lock:
            marker.write_text("ran")
        return x

    @loopml.pipeline
    def locked(x: int = 1) -> Any:
        return guarded(x)

    with pytest.raises(
        InvalidArgumentError,
        match=r"Step 'guarded' cannot run on the 'process' executor: Cannot send .* to a "
        r"worker: .*cannot pickle '_thread.lock'",
    ):
        locked.run(settings=settings, executor="process")
    assert not marker.exists()
    assert _runs(settings) == []  # no run was written
    assert locked.run(settings=settings).outputs == 1  # in-process nothing is pickled


def test_ray_not_installed_is_refused_before_anything_runs(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "from tests.pipelines import flows\n"
        "try:\n    flows.fork.run(executor='ray')\n"
        "except ImportError as exc:\n    print(exc)\n"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(root), "LOOPML_HOME": str(tmp_path / ".loopml")},
    )
    assert "pip install 'loopml[ray]'" in out.stdout
    assert not (tmp_path / ".loopml").exists()  # nothing was written


def test_bad_run_options_are_refused_before_anything_runs(settings: Settings) -> None:
    with pytest.raises(InvalidArgumentError, match=r"Unknown executor 'rayy'.*Did you mean 'ray'"):
        flows.fork.run(settings=settings, executor="rayy")
    with pytest.raises(InvalidArgumentError, match=r"max_workers of the 'process' executor"):
        flows.fork.run(settings=settings, executor="process", max_workers=0)
    with pytest.raises(InvalidArgumentError, match=r"force must be True or False\. Got 'yes'"):
        flows.fork.run(settings=settings, force="yes")  # type: ignore[arg-type]
    assert _runs(settings) == []
