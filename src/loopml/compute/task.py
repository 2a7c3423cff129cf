"""A task on its way to a worker and back: the call packed with cloudpickle, run in the worker,
and its outcome (a value or the exception it raised) packed again for the caller.

cloudpickle sends functions defined in ``__main__``, in tests or in a notebook by value, so a
worker needs no import of the caller's script. Packing happens in the caller at ``submit``,
which is what refuses a call that cannot be sent before anything runs.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from loopml.core.errors import ComputeError, InvalidArgumentError


def task_name(fn: Callable[..., Any]) -> str:
    """``module.qualname`` of a callable, for messages (its repr when it has no name)."""
    qualname = getattr(fn, "__qualname__", None)
    if qualname is None:
        return repr(fn)
    module = getattr(fn, "__module__", None)
    return f"{module}.{qualname}" if module else str(qualname)


def pack(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
    """The call ``fn(*args, **kwargs)`` as bytes a worker can run (:func:`run_packed`).

    Raises:
        InvalidArgumentError: The function or an argument cannot be pickled (a lock, an open
            connection or file captured in a closure, ...), named with the reason and the fix.
    """
    import cloudpickle

    try:
        return bytes(cloudpickle.dumps((fn, args, kwargs)))
    except Exception as exc:  # cloudpickle raises TypeError, PicklingError, AttributeError, ...
        raise InvalidArgumentError(
            f"Cannot send {task_name(fn)} to a worker: it or its arguments cannot be pickled "
            f"({type(exc).__name__}: {exc}). Define the function at module level (or in "
            "__main__) and do not capture locks, database connections, open files or clients "
            "in it or its arguments: open them inside the function, or use "
            "executor='inprocess'."
        ) from None


def run_packed(payload: bytes) -> bytes:
    """Run a packed call in a worker; returns its packed outcome (:func:`unpack_outcome`).

    An exception the call raises is carried back as a value (with its type and message), so
    the executors tell a failing function from a dying worker.
    """
    import cloudpickle

    try:
        fn, args, kwargs = cloudpickle.loads(payload)
    except Exception as exc:  # a module the caller has and this worker does not, ...
        return bytes(
            cloudpickle.dumps(
                (
                    "error",
                    ComputeError(
                        f"A worker could not unpack the call it was sent "
                        f"({type(exc).__name__}: {exc}). Install the same packages (and "
                        "loopml) on the workers as on the caller, and the caller's own "
                        "modules where the workers can import them."
                    ),
                )
            )
        )
    try:
        outcome: tuple[str, Any] = ("ok", fn(*args, **kwargs))
    except Exception as exc:
        outcome = ("error", exc)
    try:
        return bytes(cloudpickle.dumps(outcome))
    except Exception as exc:
        kind, value = outcome
        what = (
            f"its result (a {type(value).__name__})"
            if kind == "ok"
            else f"the exception it raised ({type(value).__name__}: {value})"
        )
        return bytes(
            cloudpickle.dumps(
                (
                    "error",
                    ComputeError(
                        f"{task_name(fn)} ran, but {what} cannot be pickled back to the caller "
                        f"({type(exc).__name__}: {exc}). Return plain data (numbers, "
                        "strings, DataFrames, arrays) or store large results as artifacts."
                    ),
                )
            )
        )


def settle(future: Future[Any], packed: bytes) -> None:
    """Set ``future`` to the value or the exception a packed outcome holds."""
    import cloudpickle

    kind, value = cloudpickle.loads(packed)
    if kind == "error":
        future.set_exception(value)
    else:
        future.set_result(value)
