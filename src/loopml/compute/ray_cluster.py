"""``ray``: calls run as Ray tasks, on a local Ray started here or on the cluster
``LOOPML_RAY_ADDRESS`` names; an already initialized Ray (``ray.init`` by the caller, a test
session) is reused as it is.

A local Ray started here stays up for the rest of the process (the next ``get_executor("ray")``
reuses it; Ray stops it at exit), since starting one takes seconds. A task whose worker dies
is retried by Ray itself (``max_retries``); once they are spent its future fails with
:class:`~loopml.errors.WorkerDiedError` naming the function and Ray's reason.
"""

from __future__ import annotations

import concurrent.futures
import os
import threading
from collections.abc import Callable
from typing import Any, ClassVar

from loopml.compute.executor import Executor
from loopml.compute.task import run_packed, settle, task_name
from loopml.core.errors import ComputeError, WorkerDiedError
from loopml.core.settings import Settings

INSTALL_HINT = "pip install 'loopml[ray]'"
_remote_lock = threading.Lock()
_remote: Any = None  # run_packed as a Ray remote function, made once per process


def import_ray() -> Any:
    """The ``ray`` module, or an ImportError that says how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise ImportError(
            f"executor='ray' needs Ray, which is not installed ({exc}). Install it with "
            f"`{INSTALL_HINT}`, or use executor='process' on this machine."
        ) from None
    return ray


def _remote_run() -> Any:
    global _remote  # noqa: PLW0603 - one remote function per process, made on first use
    with _remote_lock:
        if _remote is None:
            _remote = import_ray().remote(run_packed)
        return _remote


class RayExecutor(Executor):
    """Runs calls as Ray tasks (one CPU each).

    Args:
        max_workers: CPUs of a local Ray started here (default: the CPU count); ignored when
            Ray is already initialized or ``settings.ray_address`` names a cluster.
        max_retries: Times Ray runs a task again after its worker died (default 1).
        settings: Where ``ray_address`` (``LOOPML_RAY_ADDRESS``) is read from.

    Raises:
        ImportError: Ray is not installed (with the ``pip install`` line).
    """

    name: ClassVar[str] = "ray"

    def __init__(
        self,
        *,
        max_workers: int | None = None,
        max_retries: int = 1,
        settings: Settings | None = None,
    ) -> None:
        super().__init__(max_workers=max_workers, max_retries=max_retries)
        ray = import_ray()
        if not ray.is_initialized():
            address = settings.ray_address if settings is not None else None
            if address:
                ray.init(address=address, logging_level="WARNING")
            else:
                ray.init(
                    num_cpus=max_workers or os.cpu_count() or 1,
                    include_dashboard=False,
                    logging_level="WARNING",
                )
        self._parallelism = max(1, int(ray.cluster_resources().get("CPU", 1)))

    @property
    def parallelism(self) -> int:
        """The CPUs of the Ray cluster (local or remote) when the executor was made."""
        return self._parallelism

    def _submit(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        payload: bytes | None,
    ) -> concurrent.futures.Future[Any]:
        ref = (
            _remote_run()
            .options(max_retries=self.max_retries, retry_exceptions=False)
            .remote(payload)
        )
        outer: concurrent.futures.Future[Any] = concurrent.futures.Future()
        outer.set_running_or_notify_cancel()
        name, retries = task_name(fn), self.max_retries

        def done(finished: concurrent.futures.Future[bytes]) -> None:
            error = None if finished.cancelled() else finished.exception()
            if finished.cancelled() or error is None:
                if finished.cancelled():
                    outer.set_exception(concurrent.futures.CancelledError(f"{name} was cancelled."))
                else:
                    settle(outer, finished.result())
                return
            outer.set_exception(_translate(error, name, retries))

        ref.future().add_done_callback(done)
        return outer


def _translate(error: BaseException, name: str, retries: int) -> BaseException:
    """A Ray system error as a loopml one (the worker died, or Ray could not run the task)."""
    from ray import exceptions as rex

    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    died = (
        rex.WorkerCrashedError,
        rex.OutOfMemoryError,
        rex.NodeDiedError,
        rex.LocalRayletDiedError,
        rex.OwnerDiedError,
        rex.ObjectLostError,
    )
    if isinstance(error, died):
        return WorkerDiedError(
            f"{name} failed on the 'ray' executor: its worker died ({type(error).__name__}: "
            f"{reason}) in each of {retries + 1} attempt(s) (max_retries={retries}). Look for "
            "what kills it (memory use, os.kill, a crash in a C extension), or raise "
            "max_retries if workers are lost from outside (preempted nodes)."
        )
    if isinstance(error, rex.RayTaskError) and isinstance(error.cause, Exception):
        return error.cause
    if isinstance(error, rex.RayError):
        return ComputeError(
            f"Ray could not run {name} ({type(error).__name__}: {reason}). Check the cluster "
            "(`ray status`) and LOOPML_RAY_ADDRESS."
        )
    return error
