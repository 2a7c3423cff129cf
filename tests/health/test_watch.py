"""The schedule of ``loopml monitor watch``: runs until stopped or ``max_runs``, a failed run
reported with its backoff and the watch going on, bad input on the first run raised."""

from __future__ import annotations

import threading

import pytest

from loopml.core.errors import InvalidArgumentError, NotFoundError
from loopml.health.watch import watch


class Steps:
    """A clock that moves only when a run says so (no real time in the assertions)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_failed_runs_are_reported_with_backoff_and_the_watch_goes_on() -> None:
    clock, results, errors = Steps(), [], []

    def run_once(n: int) -> int:
        clock.now += 0.001
        if n in (2, 3):
            raise RuntimeError(f"store down ({n})")
        return n * 10

    stop = threading.Event()
    made = watch(
        run_once,
        every=0.05,
        stop=stop,
        on_result=lambda n, r: results.append((n, r)),
        on_error=lambda n, exc, wait: errors.append((n, str(exc), wait)),
        max_runs=4,
        retry_after=0.01,
        clock=clock,
    )
    assert made == 4 and results == [(1, 10), (4, 40)]
    assert errors == [(2, "store down (2)", 0.01), (3, "store down (3)", 0.02)]  # doubled


def test_stop_ends_the_watch_and_first_run_bad_input_is_raised() -> None:
    stop = threading.Event()
    seen: list[int] = []

    def run_once(n: int) -> int:
        seen.append(n)
        if n == 2:
            stop.set()  # as the SIGTERM handler does
        return n

    made = watch(run_once, every=0.01, stop=stop, on_result=lambda n, r: None, on_error=print)
    assert made == 2 and seen == [1, 2]
    for exc in (InvalidArgumentError("bad window"), NotFoundError("no model 'x'")):

        def failing(n: int, exc: Exception = exc) -> int:
            raise exc

        with pytest.raises(type(exc), match="bad window|no model"):
            watch(
                failing,
                every=1,
                stop=threading.Event(),
                on_result=lambda n, r: None,
                on_error=print,
            )
    with pytest.raises(InvalidArgumentError, match=r"every=0: the interval between runs"):
        watch(lambda n: n, every=0, stop=stop, on_result=print, on_error=print)
