"""The three executors run the same calls with the same results, carry exceptions with their
type and message, and refuse what they cannot run before it runs (Ray for real, local)."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import as_completed, wait
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loopml.compute import EXECUTORS, Executor, get_executor
from loopml.core.errors import ComputeError, InvalidArgumentError


class LedgerError(Exception):
    """An exception type of the caller's own, raised in a worker."""


def square(x: int) -> int:
    return x * x


def describe(frame: pd.DataFrame, *, scale: float = 1.0) -> pd.DataFrame:
    return frame.assign(z=(frame["x"] - frame["x"].mean()) * scale)


def fail(kind: str) -> None:
    if kind == "value":
        raise ValueError("the threshold must be positive, got -1")
    raise LedgerError("account 42 is closed")


def returns_a_lock() -> threading.Lock:
    return threading.Lock()


@pytest.fixture(params=EXECUTORS)
def executor(request: pytest.FixtureRequest) -> Iterator[Executor]:
    if request.param == "ray":
        request.getfixturevalue("ray_local")
    with get_executor(request.param, max_workers=2) as ex:
        yield ex


def test_every_executor_returns_what_inprocess_returns(executor: Executor) -> None:
    offset = 7
    frame = pd.DataFrame({"x": np.arange(10.0)})
    futures = [executor.submit(square, n) for n in range(6)]
    futures.append(executor.submit(lambda n: n + offset, 1))  # a closure: sent by value
    table = executor.submit(describe, frame, scale=2.0)
    wait([*futures, table])
    assert [f.result() for f in futures] == [0, 1, 4, 9, 16, 25, 8]
    pd.testing.assert_frame_equal(table.result(), describe(frame, scale=2.0))
    assert sorted(f.result() for f in as_completed(futures)) == [0, 1, 4, 8, 9, 16, 25]
    assert list(executor.map(square, [3, 4])) == [9, 16]
    assert executor.parallelism == (1 if executor.name == "inprocess" else 2)


@pytest.mark.parametrize(
    ("kind", "error", "message"),
    [
        ("value", ValueError, "the threshold must be positive, got -1"),
        ("ledger", LedgerError, "account 42 is closed"),
    ],
)
def test_an_exception_keeps_its_type_and_message(
    executor: Executor, kind: str, error: type[Exception], message: str
) -> None:
    future = executor.submit(fail, kind)
    with pytest.raises(error, match=message) as caught:
        future.result()
    assert type(caught.value) is error  # the function's own exception, not a wrapper


def test_a_result_that_cannot_be_sent_back_is_a_compute_error(executor: Executor) -> None:
    future = executor.submit(returns_a_lock)
    if executor.name == "inprocess":  # nothing travels: the caller gets the lock itself
        assert future.result() is not None
        return
    with pytest.raises(ComputeError, match=r"returns_a_lock ran, but its result \(a lock\)"):
        future.result()


def test_an_unpicklable_call_is_refused_before_it_runs(executor: Executor, tmp_path: Path) -> None:
    lock = threading.Lock()
    marker = tmp_path / "ran"

    def holds_a_lock() -> str:
        with lock:
            marker.write_text("ran")
        return "ran"

    if executor.name == "inprocess":  # same thread: nothing to pickle, and it runs
        assert executor.submit(holds_a_lock).result() == "ran"
        return
    with pytest.raises(
        InvalidArgumentError,
        match=r"Cannot send .*holds_a_lock to a worker: .*cannot pickle '_thread.lock'.*"
        r"Define the function at module level",
    ):
        executor.submit(holds_a_lock)
    with pytest.raises(InvalidArgumentError, match="its arguments cannot be pickled"):
        executor.submit(square, lock)
    assert not marker.exists()


def test_not_a_function_and_a_shut_down_executor_are_refused(executor: Executor) -> None:
    with pytest.raises(InvalidArgumentError, match=r"runs functions; got 4 \(int\)"):
        executor.submit(square(2))  # type: ignore[arg-type]
    executor.shutdown()
    with pytest.raises(InvalidArgumentError, match="was shut down; submit before leaving"):
        executor.submit(square, 2)


def test_unknown_names_and_bad_counts_are_refused() -> None:
    with pytest.raises(
        InvalidArgumentError,
        match=r"Unknown executor 'rayy'; use one of "
        r"inprocess, process, ray\. Did you mean 'ray'\?",
    ):
        get_executor("rayy")
    with pytest.raises(
        InvalidArgumentError,
        match=r"max_workers of the 'process' executor "
        r"must be an int >= 1\. Got 0",
    ):
        get_executor("process", max_workers=0)
    with pytest.raises(InvalidArgumentError, match=r"max_retries .* must be an int >= 0\. Got -1"):
        get_executor("inprocess", max_retries=-1)


def test_ray_not_installed_is_an_import_error_with_the_install_line() -> None:
    code = (
        "import sys; sys.modules['ray'] = None\n"  # what an environment without Ray sees
        "from loopml.compute import get_executor\n"
        "try:\n    get_executor('ray')\n"
        "except ImportError as exc:\n    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'loopml[ray]'" in out.stdout
    assert "executor='process'" in out.stdout
