"""``inprocess``: each call runs in the caller's thread at ``submit``; its future is already
done when ``submit`` returns. Nothing is pickled, nothing runs in parallel: the reference the
other executors are checked against, and the fastest for small work."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from typing import Any, ClassVar

from loopml.compute.executor import Executor


class InProcessExecutor(Executor):
    """Runs each call at ``submit``, in the caller's thread.

    ``max_retries`` has nothing to retry (there is no worker to lose); ``parallelism`` is 1.

    Example:
        >>> from loopml.compute import get_executor
        >>> with get_executor("inprocess") as ex:
        ...     ex.submit(pow, 2, 10).result()
        1024
    """

    name: ClassVar[str] = "inprocess"
    pickles: ClassVar[bool] = False

    @property
    def parallelism(self) -> int:
        """Always 1: calls run one after the other."""
        return 1

    def _submit(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        payload: bytes | None,
    ) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        future.set_running_or_notify_cancel()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:
            future.set_exception(exc)
        return future
