"""Adaptive micro-batching: concurrent requests within a short window go to the model as one
batch.

Batches form while the model is busy: the requests that arrived during one model call go
together in the next, up to ``max_batch`` rows. A lone request on an idle server goes at once
(no waiting); when others were already waiting, the batch may wait up to ``max_wait_ms`` more
to fill. The model runs in a worker thread, so the event loop keeps accepting requests.

When the model raises on a batch of several requests, each request is run again on its own:
rows that break the model fail only the request that sent them, never its batch mates.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from loopml.core.errors import InvalidArgumentError


@dataclass(frozen=True)
class BatchOutput:
    """A model's outputs for some rows: predictions, and probabilities when it has them."""

    predictions: np.ndarray
    proba: np.ndarray | None


class MicroBatcher:
    """Collects frames into batches for ``predict``.

    Args:
        predict: Called with the concatenated frame of a batch (in a worker thread).
        max_batch: Most rows per batch (1 disables batching).
        max_wait_ms: Longest a request waits for others.
        executor: Where ``predict`` runs (default: the loop's default executor).
        on_batch: Called with each batch's row count (metrics).
    """

    def __init__(
        self,
        predict: Callable[[pd.DataFrame], BatchOutput],
        *,
        max_batch: int = 64,
        max_wait_ms: float = 2.0,
        executor: Executor | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
            raise InvalidArgumentError(
                f"The 'max_batch' of the micro-batcher must be an int >= 1. Got {max_batch!r}."
            )
        if not isinstance(max_wait_ms, int | float) or max_wait_ms < 0:
            raise InvalidArgumentError(
                f"The 'max_wait_ms' of the micro-batcher must be a number >= 0. Got "
                f"{max_wait_ms!r}."
            )
        self._predict = predict
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self._executor = executor
        self._on_batch = on_batch
        self._queue: asyncio.Queue[tuple[pd.DataFrame, asyncio.Future[BatchOutput]]] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def submit(self, frame: pd.DataFrame) -> BatchOutput:
        """Queue one request's rows and wait for their outputs (the model's exception, if it
        raises, is raised here for every request of the batch)."""
        loop = asyncio.get_running_loop()
        if self.max_batch == 1 or len(frame) >= self.max_batch:
            return await loop.run_in_executor(self._executor, self._run, frame)
        queue = self._queue
        if queue is None or self._loop is not loop:  # a queue belongs to one event loop
            queue = self._queue = asyncio.Queue()
            self._loop, self._worker = loop, None
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        future: asyncio.Future[BatchOutput] = loop.create_future()
        await queue.put((frame, future))
        return await future

    def _run(self, frame: pd.DataFrame) -> BatchOutput:
        if self._on_batch is not None:
            self._on_batch(len(frame))
        return self._predict(frame)

    async def _drain(self) -> None:
        assert self._queue is not None
        queue = self._queue
        loop = asyncio.get_running_loop()
        while not queue.empty():  # idle: the task ends (submit starts another when needed)
            frame, future = queue.get_nowait()
            batch = [(frame, future)]
            rows = len(frame)
            # Whatever queued up while the last batch ran goes along at once.
            while rows < self.max_batch and not queue.empty():
                item = queue.get_nowait()
                batch.append(item)
                rows += len(item[0])
            # A lone request on an idle server leaves at once; under load (others were
            # waiting) the batch may wait up to max_wait for more company.
            deadline = time.monotonic() + (self.max_wait if len(batch) > 1 else 0.0)
            while rows < self.max_batch:
                timeout = deadline - time.monotonic()
                if timeout <= 0:
                    break
                try:
                    item = await asyncio.wait_for(queue.get(), timeout)
                except TimeoutError:
                    break
                batch.append(item)
                rows += len(item[0])
            frames = [f for f, _ in batch]
            joined = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
            try:
                out = await loop.run_in_executor(self._executor, self._run, joined)
            except Exception as exc:
                await self._one_by_one(batch, exc)
                continue
            start = 0
            for part, fut in batch:
                stop = start + len(part)
                if not fut.done():
                    fut.set_result(
                        BatchOutput(
                            out.predictions[start:stop],
                            None if out.proba is None else out.proba[start:stop],
                        )
                    )
                start = stop

    async def _one_by_one(
        self, batch: list[tuple[pd.DataFrame, asyncio.Future[BatchOutput]]], exc: Exception
    ) -> None:
        """A batch failed: run its requests one at a time, so that rows that break the model
        fail only the request that sent them (a lone request hears ``exc`` at once)."""
        if len(batch) == 1:
            if not batch[0][1].done():
                batch[0][1].set_exception(exc)
            return
        loop = asyncio.get_running_loop()
        for frame, fut in batch:
            if fut.done():
                continue
            try:
                out = await loop.run_in_executor(self._executor, self._run, frame)
            except Exception as own:
                if not fut.done():
                    fut.set_exception(own)
                continue
            if not fut.done():  # not given up on (a deadline) meanwhile
                fut.set_result(out)

    async def close(self) -> None:
        """Stop the batching task (requests in flight are answered first)."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
