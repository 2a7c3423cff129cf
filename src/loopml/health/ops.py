"""Operational figures of a window of the prediction log: latency, errors, fallbacks, throughput.

Computed from the rows the model server logged (``latency_ms``, ``error``, ``route``, the time
each row was received), per window, as arrays:

- ``latency_p50_ms`` and ``latency_p99_ms``: over the rows with a latency (rows logged by
  ``log_predictions`` without one are left out);
- ``error_rate``: the share of rows logged with an error;
- ``fallback_rate``: the share answered by the fallback;
- ``rows_per_s``: rows over the span of their receipt times (None below two distinct times):
  the served throughput, also when event times are a replay of months.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from loopml.health.log_source import ERROR, LATENCY, RECEIVED, ROUTE

#: The names of a window's ``ops`` figures.
OPS = ("latency_p50_ms", "latency_p99_ms", "error_rate", "fallback_rate", "rows_per_s", "rows")


def ops_figures(window: pd.DataFrame) -> dict[str, float | None]:
    """The operational figures of one window's logged rows (all None for an empty window)."""
    rows = len(window)
    if rows == 0 or LATENCY not in window.columns:
        return {}
    latency = pd.to_numeric(window[LATENCY], errors="coerce").to_numpy(dtype=np.float64)
    latency = latency[np.isfinite(latency)]
    p50 = p99 = None
    if latency.size:
        p50, p99 = (float(v) for v in np.percentile(latency, [50, 99]))
    received = pd.to_datetime(window[RECEIVED], utc=True)
    span_s = (received.max() - received.min()).total_seconds() if rows > 1 else 0.0
    return {
        "rows": float(rows),
        "latency_p50_ms": p50,
        "latency_p99_ms": p99,
        "error_rate": float(window[ERROR].notna().mean()),
        "fallback_rate": float((window[ROUTE] == "fallback").mean()),
        "rows_per_s": float(rows / span_s) if span_s > 0 else None,
    }
