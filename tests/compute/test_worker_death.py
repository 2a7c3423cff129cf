"""A worker killed mid-task: the task is retried (``max_retries``) and succeeds, or its future
fails with WorkerDiedError naming the function and the reason; never a hang."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from loopml.compute import get_executor
from loopml.core.errors import WorkerDiedError


def die_once(marker: str) -> str:
    """Kill the worker on the first attempt (the marker file does not exist yet)."""
    path = Path(marker)
    if not path.exists():
        path.write_text("attempted")
        os.kill(os.getpid(), signal.SIGKILL)
    return f"survived in {os.getpid()}"


@pytest.fixture(params=["process", "ray"])
def name(request: pytest.FixtureRequest) -> str:
    if request.param == "ray":
        request.getfixturevalue("ray_local")
    return str(request.param)


def test_a_killed_worker_is_retried_and_the_task_succeeds(name: str, tmp_path: Path) -> None:
    marker = tmp_path / "attempt"
    with get_executor(name, max_workers=2, max_retries=1) as ex:
        assert ex.submit(die_once, str(marker)).result(timeout=120).startswith("survived")
        assert marker.read_text() == "attempted"  # the first attempt did die
        assert ex.submit(pow, 2, 5).result(timeout=60) == 32  # and the executor still works


def test_without_retries_a_killed_worker_fails_the_task_with_its_reason(
    name: str, tmp_path: Path
) -> None:
    with get_executor(name, max_workers=2, max_retries=0) as ex:
        future = ex.submit(die_once, str(tmp_path / "attempt"))
        with pytest.raises(
            WorkerDiedError,
            match=rf"test_worker_death\.die_once failed on the '{name}' executor: .*died.*"
            r"in each of 1 attempt\(s\) \(max_retries=0\)",
        ):
            future.result(timeout=120)
        assert ex.submit(pow, 2, 5).result(timeout=60) == 32  # a new pool / worker after it
