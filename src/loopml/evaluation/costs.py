"""What a model costs to run: latency on batches of 1 and 1,000 rows, peak memory, size.

Latency is measured through :class:`~loopml.registry.LoadedModel.predict`, so it includes the
signature check a server pays on every request. Each case runs for at most a time budget (and
at least a few times); p50 and p99 are over the runs. Peak memory is what Python and NumPy
allocate while predicting 1,000 rows (``tracemalloc``), not the process's resident size.
"""

from __future__ import annotations

import time
import tracemalloc
from typing import Any

import numpy as np
import pandas as pd

from loopml.core.entities import CostResult

#: Seconds spent timing each batch size at most.
BUDGET_S = 2.0
#: Runs per batch size at most (and at least ``MIN_RUNS``).
MAX_RUNS = 200
MIN_RUNS = 5


def _timings(predict: Any, batch: pd.DataFrame) -> list[float]:
    predict(batch)  # warm-up: first calls pay caches and lazy imports
    runs: list[float] = []
    deadline = time.perf_counter() + BUDGET_S
    while len(runs) < MAX_RUNS and (len(runs) < MIN_RUNS or time.perf_counter() < deadline):
        started = time.perf_counter()
        predict(batch)
        runs.append((time.perf_counter() - started) * 1000)
    return runs


def measure_costs(model: Any, frame: pd.DataFrame, *, artifact_bytes: int) -> CostResult:
    """Time and size ``model`` on rows of ``frame``.

    Args:
        model: A loaded model with ``predict(frame)``.
        frame: Input rows (at least one); batches of 1,000 repeat them when there are fewer.
        artifact_bytes: The size of the model's package.
    """
    one = frame.iloc[:1]
    reps = -(-1000 // max(len(frame), 1))
    thousand = (frame if len(frame) >= 1000 else pd.concat([frame] * reps)).iloc[:1000]
    single = _timings(model.predict, one)
    batch = _timings(model.predict, thousand)
    tracemalloc.start()
    try:
        model.predict(thousand)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return CostResult(
        latency_ms={
            "p50_1": float(np.percentile(single, 50)),
            "p99_1": float(np.percentile(single, 99)),
            "p50_1000": float(np.percentile(batch, 50)),
            "p99_1000": float(np.percentile(batch, 99)),
        },
        peak_memory_mb=peak / 1e6,
        artifact_bytes=artifact_bytes,
    )
