"""The executor of a pipeline run, started on its first step: a run whose steps are all
cache hits (or run in the driver) starts no process pool and no Ray.

A process pool, once started, stays up for the next pipeline runs of this process (as a
local Ray does), so its workers keep what they imported (pandas, scikit-learn...); it is shut
down at exit, or at once when a run is interrupted.

What can be refused is refused before anything runs, without starting anything: an unknown
executor name, Ray asked for and not installed, a step whose code or parameters cannot be
pickled for the workers (packed as the executors pack calls, :func:`loopml.compute.task.pack`).
"""

from __future__ import annotations

import atexit
import concurrent.futures
import threading
from types import TracebackType
from typing import TYPE_CHECKING

from loopml.compute import EXECUTORS, Executor, get_executor
from loopml.compute.executor import check_count
from loopml.compute.task import pack
from loopml.pipelines.worker import StepOutcome, StepTask, run_step

if TYPE_CHECKING:
    from loopml.core.settings import Settings

_pools_lock = threading.Lock()
_pools: dict[int | None, Executor] = {}  # process pools by max_workers, kept between runs


def _process_pool(max_workers: int | None) -> Executor:
    with _pools_lock:
        pool = _pools.get(max_workers)
        if pool is None:
            if not _pools:
                atexit.register(shutdown_process_pools)
            pool = _pools[max_workers] = get_executor("process", max_workers=max_workers)
        return pool


def shutdown_process_pools(*, wait: bool = True) -> None:
    """Shut down the process pools kept between pipeline runs (done at exit)."""
    with _pools_lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.shutdown(wait=wait, cancel_futures=not wait)


class LazyExecutor:
    """An executor by name, made when the first step is submitted.

    Raises:
        InvalidArgumentError: An unknown name (with the closest one) or a bad count.
        ImportError: ``ray`` without Ray installed (with the ``pip install`` line).
    """

    def __init__(self, name: str, *, max_workers: int | None, settings: Settings) -> None:
        if name not in EXECUTORS:
            get_executor(name)  # raises: the names, and the closest one
        if max_workers is not None:
            check_count(max_workers, f"max_workers of the {name!r} executor", minimum=1)
        if name == "ray":
            from loopml.compute.ray_cluster import import_ray

            import_ray()
        self.name = name
        self._max_workers = max_workers
        self._settings = settings
        self._executor: Executor | None = None

    def check(self, task: StepTask) -> None:
        """Check now that ``task`` can be sent to this executor's workers.

        Raises:
            InvalidArgumentError: The step's function or parameters cannot be pickled.
        """
        if self.name != "inprocess":
            pack(run_step, (task,), {})

    def submit(self, task: StepTask) -> concurrent.futures.Future[StepOutcome]:
        """Run ``task`` on the executor (made now, the first time)."""
        if self._executor is None:
            if self.name == "process":
                self._executor = _process_pool(self._max_workers)
            else:
                self._executor = get_executor(
                    self.name, max_workers=self._max_workers, settings=self._settings
                )
        return self._executor.submit(run_step, task)

    def shutdown(self, *, wait: bool = True, cancel_futures: bool = False) -> None:
        """Free the workers of this run (a kept process pool only when ``cancel_futures``:
        the run was interrupted, and its calls are dropped with the pool)."""
        if self._executor is None:
            return
        if self.name != "process":
            self._executor.shutdown(wait=wait, cancel_futures=cancel_futures)
        elif cancel_futures:
            with _pools_lock:
                if _pools.get(self._max_workers) is self._executor:
                    del _pools[self._max_workers]
            self._executor.shutdown(wait=wait, cancel_futures=True)

    def __enter__(self) -> LazyExecutor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()
