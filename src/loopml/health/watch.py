"""Monitoring on a schedule (``loopml monitor watch``): a run every ``every`` seconds until
stopped, a failed run reported and retried with backoff.

The loop knows nothing of signals or terminals: the caller passes a ``stop`` event (set by
its SIGINT/SIGTERM handler) and callbacks that report each run. The wait between runs is
``stop.wait``, so setting ``stop`` ends the wait at once; a run in progress is left to finish
(it is stored whole, in one transaction, at its end) unless the caller raises into it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from loopml.core.errors import InvalidArgumentError, NotFoundError

R = TypeVar("R")

#: Seconds before retrying after a first failure; doubled after each failure in a row, and
#: never more than the schedule's own interval.
RETRY_AFTER = 10.0


def watch(
    run_once: Callable[[int], R],
    *,
    every: float,
    stop: threading.Event,
    on_result: Callable[[int, R], None],
    on_error: Callable[[int, Exception, float], None],
    max_runs: int | None = None,
    retry_after: float = RETRY_AFTER,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Call ``run_once(n)`` (n = 1, 2, ...) every ``every`` seconds until ``stop`` is set or
    ``max_runs`` runs were made (failed ones count).

    Runs start at a fixed rate: the next one ``every`` seconds after the previous one
    started, at once when a run took longer. A run that raises is passed to ``on_error``
    with the seconds until the next try (``retry_after`` doubled per failure in a row,
    capped at ``every``), and the watch goes on; except on the first run, where bad input
    (:class:`InvalidArgumentError`, :class:`NotFoundError`: a typo, a missing model) is
    raised, since every later run would fail the same way.

    Args:
        run_once: One run; its argument is the run's number.
        every: Seconds between the starts of two runs (> 0).
        stop: Set it to end the watch (the wait ends at once; a run in progress finishes).
        on_result: Called with the run's number and result.
        on_error: Called with the run's number, its error and the seconds until the next.
        max_runs: Stop after this many runs (None: until stopped).
        retry_after: Seconds before the first retry.
        clock: Monotonic seconds (injectable for tests).

    Returns:
        The number of runs made.

    Raises:
        InvalidArgumentError: ``every`` or ``max_runs`` is not positive, or the first run
            was given bad input.
        NotFoundError: The first run named something that does not exist.
    """
    if not every > 0:
        raise InvalidArgumentError(f"every={every!r}: the interval between runs must be > 0.")
    if max_runs is not None and max_runs < 1:
        raise InvalidArgumentError(f"max_runs={max_runs!r} must be at least 1 (or None).")
    runs = failures = 0
    while not stop.is_set() and (max_runs is None or runs < max_runs):
        started = clock()
        runs += 1
        try:
            result = run_once(runs)
        except Exception as exc:
            if runs == 1 and isinstance(exc, InvalidArgumentError | NotFoundError):
                raise
            failures += 1
            wait = min(every, retry_after * 2 ** (failures - 1))
            on_error(runs, exc, wait)
        else:
            failures = 0
            on_result(runs, result)
            wait = max(0.0, every - (clock() - started))
        if max_runs is not None and runs >= max_runs:
            break
        stop.wait(wait)
    return runs
