"""Large requests off the event loop.

A request of many rows (a million in one ``/predict/batch``) costs seconds of pure Python
work besides the model: checking the rows against the signature, building one answer and one
log record per row. On the event loop that work would stall every other request, health
checks included, for as long. From :data:`OFFLOAD_ROWS` rows on, the service does it in its
worker threads instead (the event loop keeps answering between the thread's time slices),
and hands the log records to the spool with backpressure (``wait=True``): a batch larger
than the spool's queue is written by that thread, never dropped.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sized
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from loopml.serving.result import PredictionResult
    from loopml.store.logs import PredictionRecord

#: Rows from which a request's own work leaves the event loop.
OFFLOAD_ROWS = 5_000
#: Rows whose log records are built (and handed to the spool) at a time.
LOG_CHUNK = 20_000

T = TypeVar("T")


def row_count(data: Any) -> int:
    """The rows of a request's data (records, a dict of columns, a DataFrame); 1 for one
    record and 0 when it cannot tell."""
    if isinstance(data, dict):
        first = next(iter(data.values()), None)
        return len(first) if isinstance(first, list) else 1
    return len(data) if isinstance(data, Sized) else 0


async def off_loop(big: bool, executor: Executor, call: Callable[[], T]) -> T:
    """``call()`` in ``executor`` when ``big``, else right here."""
    if not big:
        return call()
    return await asyncio.get_running_loop().run_in_executor(executor, call)


def log_records(
    result: PredictionResult, frame: pd.DataFrame, key: str | None, start: int = 0
) -> list[PredictionRecord]:
    """The prediction-log records of rows ``start`` to ``start + LOG_CHUNK`` of an answered
    request (a chunk at a time: memory stays bounded, and no single call of pandas holds the
    interpreter long), with the event time and id the caller gave each row
    (``result.caller``), if any."""
    from loopml.store.logs import PredictionRecord

    at = int(time.time() * 1000)
    names = [str(c) for c in frame.columns]
    stop = min(len(result.ids), start + LOG_CHUNK)
    part = frame if start == 0 and stop == len(frame) else frame.iloc[start:stop]  # 35 us
    rows = part.to_numpy(dtype=object).tolist()  # 7x cheaper than to_dict
    caller = result.caller
    event_at = _chunk(None if caller is None else caller.event_at, start, stop)
    caller_id = _chunk(None if caller is None else caller.ids, start, stop)
    return [
        PredictionRecord(
            prediction_id=result.ids[i],
            model=result.model,
            version=result.version,
            route=result.route,
            at=at,
            latency_ms=result.latency_ms,
            inputs={k: _json_value(v) for k, v in zip(names, row, strict=True)},
            output=result.predictions[i],
            proba=None if result.proba is None else result.proba[i],
            request_key=key,
            error=result.reason,
            event_at=event,
            caller_id=cid,
        )
        for i, row, event, cid in zip(range(start, stop), rows, event_at, caller_id, strict=True)
    ]


def _chunk(values: list[Any] | None, start: int, stop: int) -> list[Any]:
    """``values[start:stop]``, or as many Nones when there are none."""
    return [None] * (stop - start) if values is None else values[start:stop]


def _json_value(value: Any) -> Any:
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value
