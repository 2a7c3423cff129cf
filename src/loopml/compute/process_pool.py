"""``process``: a local pool of worker processes (the standard library's
:class:`~concurrent.futures.ProcessPoolExecutor`), calls sent with cloudpickle.

Workers start with ``forkserver`` (``spawn`` where there is none): never a fork of a caller
that holds threads, locks or database connections. A worker that dies (killed, out of memory)
breaks the standard pool: every call it held fails with ``BrokenProcessPool``. This executor
then starts a new pool and runs each such call again, up to ``max_retries`` times, before its
future fails with :class:`~loopml.errors.WorkerDiedError` naming the function.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from typing import Any, ClassVar

from loopml.compute.executor import Executor
from loopml.compute.task import run_packed, settle, task_name
from loopml.core.errors import ComputeError, WorkerDiedError


class ProcessExecutor(Executor):
    """Runs calls in a pool of ``max_workers`` local processes (default: the CPU count).

    Example:
        >>> from loopml.compute import get_executor
        >>> with get_executor("process", max_workers=2) as ex:
        ...     [f.result() for f in [ex.submit(pow, 2, n) for n in range(3)]]
        [1, 2, 4]
    """

    name: ClassVar[str] = "process"

    def __init__(self, *, max_workers: int | None = None, max_retries: int = 1) -> None:
        super().__init__(max_workers=max_workers, max_retries=max_retries)
        methods = multiprocessing.get_all_start_methods()
        self._context = multiprocessing.get_context(
            "forkserver" if "forkserver" in methods else "spawn"
        )
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._pools: list[concurrent.futures.ProcessPoolExecutor] = []

    def _current_pool(self) -> concurrent.futures.ProcessPoolExecutor:
        """The pool to submit to (a new one when there is none, or the last one broke)."""
        with self._lock:
            if self._pool is None:
                self._pool = concurrent.futures.ProcessPoolExecutor(
                    max_workers=self.parallelism, mp_context=self._context
                )
                self._pools.append(self._pool)
            return self._pool

    def _forget(self, broken: concurrent.futures.ProcessPoolExecutor) -> None:
        """Stop submitting to a pool that broke (the next call starts a new one)."""
        with self._lock:
            if self._pool is broken:
                self._pool = None

    def _submit(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        payload: bytes | None,
    ) -> concurrent.futures.Future[Any]:
        assert payload is not None  # ProcessExecutor.pickles is True
        outer: concurrent.futures.Future[Any] = concurrent.futures.Future()
        outer.set_running_or_notify_cancel()
        self._launch(outer, fn, payload, attempt=0)
        return outer

    def _launch(
        self,
        outer: concurrent.futures.Future[Any],
        fn: Callable[..., Any],
        payload: bytes,
        *,
        attempt: int,
    ) -> None:
        inner = None
        for _ in range(2):  # a pool that broke before this call reached it: a new pool
            pool = self._current_pool()
            try:
                inner = pool.submit(run_packed, payload)
                break
            except BrokenProcessPool:
                self._forget(pool)
            except RuntimeError as exc:  # the pool was shut down under us
                outer.set_exception(ComputeError(f"{task_name(fn)} was not run: {exc}."))
                return
        if inner is None:
            self._settle_death(outer, fn, payload, attempt=attempt)
            return

        def done(finished: concurrent.futures.Future[bytes]) -> None:
            if finished.cancelled():
                outer.set_exception(
                    concurrent.futures.CancelledError(f"{task_name(fn)} was cancelled.")
                )
            elif isinstance(finished.exception(), BrokenProcessPool):
                self._forget(pool)
                self._settle_death(outer, fn, payload, attempt=attempt)
            elif (error := finished.exception()) is not None:
                outer.set_exception(error)
            else:
                settle(outer, finished.result())

        inner.add_done_callback(done)

    def _settle_death(
        self,
        outer: concurrent.futures.Future[Any],
        fn: Callable[..., Any],
        payload: bytes,
        *,
        attempt: int,
    ) -> None:
        if attempt < self.max_retries and not self._closed:
            self._launch(outer, fn, payload, attempt=attempt + 1)
            return
        runs = attempt + 1
        outer.set_exception(
            WorkerDiedError(
                f"{task_name(fn)} failed on the 'process' executor: the worker process "
                f"running it died (killed by a signal, or out of memory) in each of "
                f"{runs} attempt(s) (max_retries={self.max_retries}). Look for what kills "
                "it (memory use, os.kill, a crash in a C extension), or raise max_retries "
                "if it was killed from outside."
            )
        )

    def _shutdown(self, *, wait: bool, cancel_futures: bool) -> None:
        with self._lock:
            pools, self._pools, self._pool = self._pools, [], None
        for pool in pools:
            pool.shutdown(wait=wait, cancel_futures=cancel_futures)
