"""What a model costs to run: latency on batches of 1 and 1,000 rows, peak memory, size.

Latency is measured through :class:`~loopml.registry.LoadedModel.predict`, so it includes the
signature check a server pays on every request.

**A figure that does not flip with the machine's load.** One long timing of a busy 2-core
machine gives a p99 that is really "the worst stall of another process during those
seconds": the same model measured 227 ms in one run and 1,869 ms in the next. So the timing
is split into :data:`ROUNDS` short rounds, interleaved between the two batch sizes and spread
over the measuring time; each round gives its own p50 and p99, and the reported figure is the
**median over the rounds**, with the **range over the rounds** as its interval. A stall that
hits one or two rounds moves the range, not the median. With 5 rounds the range covers the
true median with probability ``1 - 2 * 0.5**5 = 94%`` (an order-statistic interval, no
assumption on the distribution of latencies). A gate's cost budget compares the median.

Peak memory is what Python and NumPy allocate while predicting 1,000 rows (``tracemalloc``),
not the process's resident size.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from loopml.core.entities import CostResult

#: Rounds of timing per batch size (the figure is the median over them).
ROUNDS = 5
#: Seconds spent timing one round of one batch size at most.
ROUND_BUDGET_S = 0.4
#: Runs per round at most (and at least ``MIN_RUNS``).
MAX_RUNS = 100
MIN_RUNS = 5


def _round(predict: Any, batch: pd.DataFrame, clock: Callable[[], float]) -> list[float]:
    runs: list[float] = []
    deadline = clock() + ROUND_BUDGET_S
    while len(runs) < MAX_RUNS and (len(runs) < MIN_RUNS or clock() < deadline):
        started = clock()
        predict(batch)
        runs.append((clock() - started) * 1000)
    return runs


def measure_costs(
    model: Any,
    frame: pd.DataFrame,
    *,
    artifact_bytes: int,
    rounds: int = ROUNDS,
    clock: Callable[[], float] = time.perf_counter,
) -> CostResult:
    """Time and size ``model`` on rows of ``frame``.

    Args:
        model: A loaded model with ``predict(frame)``.
        frame: Input rows (at least one); batches of 1,000 repeat them when there are fewer.
        artifact_bytes: The size of the model's package.
        rounds: Timing rounds per batch size (the median over them is reported).
        clock: Seconds, monotonic (injectable for tests).
    """
    one = frame.iloc[:1]
    reps = -(-1000 // max(len(frame), 1))
    thousand = (frame if len(frame) >= 1000 else pd.concat([frame] * reps)).iloc[:1000]
    cases = {"1": one, "1000": thousand}
    for batch in cases.values():
        model.predict(batch)  # warm-up: first calls pay caches and lazy imports
    per_round: dict[str, list[float]] = {}
    for _ in range(max(1, rounds)):
        for size, batch in cases.items():  # interleaved: a stall hits one round, not a case
            runs = _round(model.predict, batch, clock)
            per_round.setdefault(f"p50_{size}", []).append(float(np.percentile(runs, 50)))
            per_round.setdefault(f"p99_{size}", []).append(float(np.percentile(runs, 99)))
    tracemalloc.start()
    try:
        model.predict(thousand)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return CostResult(
        latency_ms={key: float(np.median(values)) for key, values in per_round.items()},
        peak_memory_mb=peak / 1e6,
        artifact_bytes=artifact_bytes,
        latency_low_ms={key: min(values) for key, values in per_round.items()},
        latency_high_ms={key: max(values) for key, values in per_round.items()},
        rounds=max(1, rounds),
    )
