"""The executor contract: a :class:`concurrent.futures.Executor` with a name and a degree of
parallelism, that refuses at ``submit`` a call it cannot send to its workers.

Every executor is a template (STYLE rule 11): :meth:`Executor.submit` checks the executor is
open, packs the call when the executor's workers need it pickled (:func:`~.task.pack`, the
error before anything runs), and hands it to the subclass's ``_submit``. Callers wait with
the standard ``concurrent.futures.wait`` and ``as_completed``.
"""

from __future__ import annotations

import concurrent.futures
import os
import threading
from abc import abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar, ParamSpec, TypeVar

from loopml.compute.task import pack
from loopml.core.errors import InvalidArgumentError

P = ParamSpec("P")
T = TypeVar("T")


def check_count(value: object, what: str, *, minimum: int) -> int:
    """``value`` as an int >= ``minimum``, or an error naming ``what`` and the rule."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidArgumentError(f"{what} must be an int >= {minimum}. Got {value!r} instead.")
    return value


class Executor(concurrent.futures.Executor):
    """Runs calls and returns :class:`concurrent.futures.Future` objects for them.

    Use it as a context manager (``with get_executor("process") as ex: ...``); leaving the
    block waits for the submitted calls and frees the workers.

    Attributes:
        name: The executor's registry name (``inprocess``, ``process``, ``ray``).
        pickles: Whether calls travel to other processes (and so must pickle).
        max_retries: Times a call whose worker died is run again before its future fails with
            :class:`~loopml.errors.WorkerDiedError`.
    """

    name: ClassVar[str]
    pickles: ClassVar[bool] = True

    def __init__(self, *, max_workers: int | None = None, max_retries: int = 1) -> None:
        if max_workers is not None:
            check_count(max_workers, f"max_workers of the {self.name!r} executor", minimum=1)
        self.max_retries = check_count(
            max_retries, f"max_retries of the {self.name!r} executor", minimum=0
        )
        self._max_workers = max_workers
        self._closed = False
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(parallelism={self.parallelism})"

    @property
    def parallelism(self) -> int:
        """How many calls run at once (the workers, or the cluster's CPUs for Ray)."""
        return self._max_workers or os.cpu_count() or 1

    def check(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> bytes | None:
        """Check now that ``fn(*args, **kwargs)`` can be sent to this executor's workers.

        Returns:
            The packed call (None for an executor whose workers share the caller's memory).

        Raises:
            InvalidArgumentError: ``fn`` is not callable, or it or its arguments cannot be
                pickled (named, with the fix).
        """
        if not callable(fn):
            raise InvalidArgumentError(
                f"The {self.name!r} executor runs functions; got {fn!r} "
                f"({type(fn).__name__}) instead. Pass the function itself, not its result."
            )
        return pack(fn, args, kwargs) if self.pickles else None

    def submit(
        self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
    ) -> concurrent.futures.Future[T]:
        """Schedule ``fn(*args, **kwargs)``; its future holds the result or the exception.

        Raises:
            InvalidArgumentError: The call cannot be sent to the workers (before it runs),
                or the executor was shut down.
        """
        with self._lock:
            if self._closed:
                raise InvalidArgumentError(
                    f"The {self.name!r} executor was shut down; submit before leaving its "
                    "`with` block, or get a new one with get_executor()."
                )
        payload = self.check(fn, *args, **kwargs)
        return self._submit(fn, args, kwargs, payload)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Refuse new calls and free the workers (after the running calls when ``wait``)."""
        with self._lock:
            self._closed = True
        self._shutdown(wait=wait, cancel_futures=cancel_futures)

    @abstractmethod
    def _submit(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        payload: bytes | None,
    ) -> concurrent.futures.Future[Any]:
        """Run the checked call (``payload`` is it packed, when ``pickles``)."""

    def _shutdown(self, *, wait: bool, cancel_futures: bool) -> None:
        """Free the workers (nothing to free by default)."""
