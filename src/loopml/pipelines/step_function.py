"""``@loopml.step``: a Python function that a pipeline runs as one cached, tracked unit.

Called inside a function decorated with ``@loopml.pipeline`` (while it is traced), a step
does not run: it records the call and returns a :class:`~loopml.pipelines.graph.Handle` (or a
tuple of them) that later steps take as arguments. Called anywhere else it is the plain
function, so it can be tested on its own.

A step's outputs are one value, or several when its return annotation is a fixed-length
tuple (``-> tuple[pd.DataFrame, pd.DataFrame]``): the call then returns one handle per item,
each stored and hashed on its own.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any

from loopml.core.errors import InvalidArgumentError
from loopml.pipelines.graph import Inputs, Node, current_trace, reject_handles

#: Step names: what a run name and a tag value can hold, short enough for a table.
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")


def check_step_name(name: object, *, what: str = "step") -> str:
    """``name`` if it is a usable step (or pipeline) name, else an error saying the rule."""
    if (
        not isinstance(name, str)
        or not name
        or len(name) > 100
        or not set(name) <= _NAME_CHARS
        or name[0] in "-."
    ):
        raise InvalidArgumentError(
            f"The name of a {what} must be 1-100 letters, digits, '_', '-' or '.' (not "
            f"starting with '-' or '.'). Got {name!r} instead; pass name='train_model'."
        )
    return name


def count_outputs(fn: Callable[..., Any]) -> int:
    """How many outputs a step has: the length of a fixed-length ``tuple[...]`` return
    annotation, else 1 (a variable-length ``tuple[X, ...]`` is one value)."""
    try:
        annotation = typing.get_type_hints(fn).get("return")
    except Exception:  # names only imported for type checkers: read the annotation's text
        annotation = getattr(fn, "__annotations__", {}).get("return")
    if isinstance(annotation, str):
        return _count_in_text(annotation)
    if typing.get_origin(annotation) is tuple:
        args = typing.get_args(annotation)
        if args and Ellipsis not in args and args != ((),):
            return len(args)
    return 1


def _count_in_text(text: str) -> int:
    text = text.strip()
    for prefix in ("tuple[", "Tuple[", "typing.Tuple["):
        if text.startswith(prefix) and text.endswith("]"):
            inner = text[len(prefix) : -1]
            depth, items = 0, 1
            for char in inner:
                depth += char == "["
                depth -= char == "]"
                items += char == "," and depth == 0
            return 1 if "..." in inner or not inner.strip() else items
    return 1


def _check_signature(fn: Callable[..., Any], name: str) -> inspect.Signature:
    signature = inspect.signature(fn)
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
            raise InvalidArgumentError(
                f"Step {name!r} has the parameter {param} ({param.kind.description}); a step "
                "takes named parameters only, so each input and parameter is recorded by "
                "name. Declare each one (def step(frame, *, alpha=1.0))."
            )
    return signature


class Step:
    """A function made a pipeline step by :func:`step`.

    Attributes:
        fn: The function itself (what workers run).
        name: The step's name (default: the function's name).
        cache: Whether a finished run of the same code, parameters and inputs is reused.
        retries: Times a failed call (an exception, or a worker lost after the executor's
            own retries) is run again before the step fails.
        outputs: How many values the step returns (see the module docstring).
    """

    #: Steps that run in the driver (they read or write the metadata store) set this.
    in_driver: bool = False

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        cache: bool = True,
        retries: int = 0,
    ) -> None:
        if not callable(fn) or not hasattr(fn, "__code__"):
            raise InvalidArgumentError(
                f"@loopml.step decorates a function (def ...); got {fn!r} "
                f"({type(fn).__name__}). Decorate the function where it is defined."
            )
        self.fn = fn
        self.name = check_step_name(fn.__name__ if name is None else name)
        if not isinstance(cache, bool):
            raise InvalidArgumentError(
                f"cache= of step {self.name!r} must be True or False. Got {cache!r} instead."
            )
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise InvalidArgumentError(
                f"retries= of step {self.name!r} must be an int >= 0. Got {retries!r} instead."
            )
        self.cache = cache
        self.retries = retries
        self.signature = _check_signature(fn, self.name)
        self.outputs = count_outputs(fn)
        functools.update_wrapper(self, fn)

    def __repr__(self) -> str:
        return f"<step {self.name!r} of {self.fn.__module__}.{self.fn.__qualname__}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Inside a pipeline being traced: record the call and return its handle(s).
        Elsewhere: call the function."""
        trace = current_trace()
        if trace is None:
            reject_handles(self.name, args, kwargs)
            return self.fn(*args, **kwargs)
        return trace.add(self, self.bind(args, kwargs))

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The call's arguments by parameter name, or an error naming the step.

        Raises:
            InvalidArgumentError: Too many, missing or unknown arguments.
        """
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise InvalidArgumentError(
                f"Step {self.name!r} cannot be called with these arguments: {exc}. Its "
                f"signature is {self.name}{self.signature}."
            ) from None
        return dict(bound.arguments)

    def check_call(
        self, node: str, params: Mapping[str, Any], inputs: Inputs, nodes: Mapping[str, Node]
    ) -> None:
        """Check call ``node``'s parameters and handles when the step needs particular ones
        (a hook; ``nodes`` are the calls traced before it)."""

    def code_identity(self) -> str:
        """What the cache key takes as this step's code (see :mod:`.cache`)."""
        from loopml.pipelines.cache import code_hash

        return code_hash(self.fn)


def step(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    cache: bool = True,
    retries: int = 0,
) -> Any:
    """Make a function a pipeline step (``@loopml.step`` or ``@loopml.step(name=...)``).

    Inside a ``@loopml.pipeline`` function, calling the step returns a handle that other
    steps take as an argument; plain values passed to it are its parameters (JSON values:
    numbers, strings, booleans, None, lists and dicts of them). Outside a pipeline, calling
    it calls the function.

    Args:
        fn: The function (when used without parentheses).
        name: The step's name in the pipeline and its runs (default: the function's name).
        cache: Reuse the outputs of a finished run of this step with the same code,
            parameters and input contents (default True); False runs it every time.
        retries: Run a failed call again this many times before the step fails (default 0).
            A worker that dies is first retried by the executor (``max_retries``).

    Returns:
        A :class:`Step` (or a decorator that makes one).

    Raises:
        InvalidArgumentError: A bad option, or a function with ``*args``, ``**kwargs`` or
            positional-only parameters.

    Example:
        >>> import loopml
        >>> @loopml.step(retries=1)
        ... def double(x: int) -> int:
        ...     return 2 * x
        >>> double(21)  # outside a pipeline: the function itself
        42
    """

    def make(function: Callable[..., Any]) -> Step:
        return Step(function, name=name, cache=cache, retries=retries)

    return make if fn is None else make(fn)
