"""Tracing a pipeline: its function runs once, and each step call inside it becomes a
:class:`Node` of a graph, wired to the nodes whose :class:`Handle` it takes.

Why a cycle cannot be written: a step call gets handles only from calls made before it in
the same trace (a handle exists only once its call has returned), so every edge points back
in call order and the graph is acyclic by construction. What could smuggle an edge in is
refused: a handle from another pipeline's trace, from an earlier trace of the same pipeline
(kept in a global), or given to a step outside any pipeline.
"""

from __future__ import annotations

import contextvars
import json
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loopml.core.errors import InvalidArgumentError

if TYPE_CHECKING:
    from loopml.pipelines.step_function import Step

_current: contextvars.ContextVar[Trace | None] = contextvars.ContextVar(
    "loopml_pipeline_trace", default=None
)


def current_trace() -> Trace | None:
    """The trace being recorded in this context, if any."""
    return _current.get()


@dataclass(frozen=True)
class Handle:
    """One output of a step call, promised while a pipeline is traced.

    Pass it to another step; it has no value until the pipeline runs, so using it as a
    value in the pipeline function (``if handle:``, ``handle + 1``, ``len(handle)``) is an
    error that says so.
    """

    trace_id: str
    pipeline: str
    node: str
    index: int
    outputs: int

    def __repr__(self) -> str:
        which = f"[{self.index}]" if self.outputs > 1 else ""
        return f"<output{which} of step {self.node!r} in pipeline {self.pipeline!r}>"

    def _misuse(self, what: str) -> InvalidArgumentError:
        return InvalidArgumentError(
            f"{self!r} was used as a value ({what}) while the pipeline is traced. A handle "
            "stands for the step's output, which exists only when the pipeline runs: pass "
            "it to another step and do the work there."
        )

    def __bool__(self) -> bool:
        raise self._misuse("its truth value")

    def __iter__(self) -> Iterator[Any]:
        raise self._misuse(
            "unpacked or iterated; a step returns several handles only when its return "
            "annotation is a fixed-length tuple, e.g. -> tuple[pd.DataFrame, pd.DataFrame]"
        )

    def __len__(self) -> int:
        raise self._misuse("its length")

    def __getitem__(self, key: Any) -> Any:
        raise self._misuse(f"indexed with [{key!r}]")

    def __float__(self) -> float:
        raise self._misuse("a float")

    def __int__(self) -> int:
        raise self._misuse("an int")

    def __add__(self, other: Any) -> Any:
        raise self._misuse("in arithmetic")

    __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __add__


Inputs = dict[str, Handle | tuple[Handle, ...]]


@dataclass
class Node:
    """One step call of a traced pipeline.

    Attributes:
        name: Unique in the pipeline: the step's name, then ``name-2``, ``name-3`` for
            later calls of the same step.
        step: The step called.
        params: The plain arguments, by parameter name (JSON values).
        inputs: The handles it takes, by parameter name (one, or a tuple of them).
    """

    name: str
    step: Step
    params: dict[str, Any]
    inputs: Inputs

    @property
    def upstream(self) -> set[str]:
        """The nodes this one waits for."""
        found: set[str] = set()
        for value in self.inputs.values():
            for handle in value if isinstance(value, tuple) else (value,):
                found.add(handle.node)
        return found


@dataclass
class Trace:
    """A pipeline's graph as its function is traced."""

    pipeline: str
    trace_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    nodes: dict[str, Node] = field(default_factory=dict)

    def add(self, step: Step, arguments: dict[str, Any]) -> Handle | tuple[Handle, ...]:
        """Record a call of ``step`` and return its handle(s).

        Raises:
            InvalidArgumentError: A handle of another trace, handles mixed into a value,
                or a parameter that is not a JSON value.
        """
        name, count = step.name, 2
        while name in self.nodes:
            name, count = f"{step.name}-{count}", count + 1
        params: dict[str, Any] = {}
        inputs: Inputs = {}
        for key, value in arguments.items():
            handles = self._handles(value, name, key)
            if handles is not None:
                inputs[key] = handles
            else:
                check_json(value, f"The parameter {key!r} of step {name!r}")
                params[key] = value
        step.check_call(name, params, inputs, self.nodes)
        self.nodes[name] = Node(name, step, params, inputs)
        made = tuple(
            Handle(self.trace_id, self.pipeline, name, index, step.outputs)
            for index in range(step.outputs)
        )
        return made[0] if step.outputs == 1 else made

    def _handles(self, value: Any, node: str, key: str) -> Handle | tuple[Handle, ...] | None:
        if isinstance(value, Handle):
            self._check_own(value, node, key)
            return value
        if isinstance(value, list | tuple) and value and all(isinstance(v, Handle) for v in value):
            for handle in value:
                self._check_own(handle, node, key)
            return tuple(value)
        if _holds_handle(value):
            raise InvalidArgumentError(
                f"The argument {key!r} of step {node!r} mixes handles with other values. "
                "Pass a step's output as an argument of its own, or a list of outputs "
                "(and nothing else in that list)."
            )
        return None

    def _check_own(self, handle: Handle, node: str, key: str) -> None:
        if handle.trace_id == self.trace_id:
            return
        where = (
            f"another pipeline ({handle.pipeline!r})"
            if handle.pipeline != self.pipeline
            else "an earlier trace of this pipeline (kept outside the pipeline function)"
        )
        raise InvalidArgumentError(
            f"The argument {key!r} of step {node!r} is {handle!r}, a handle from {where}. "
            "A step takes handles only from steps called before it in the same pipeline "
            "function; call that step in this pipeline."
        )


def _holds_handle(value: Any) -> bool:
    if isinstance(value, Handle):
        return True
    if isinstance(value, list | tuple | set | frozenset):
        return any(_holds_handle(v) for v in value)
    if isinstance(value, Mapping):
        return any(_holds_handle(v) for v in value.values())
    return False


def reject_handles(step: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Refuse handles given to a step called outside a pipeline."""
    if _holds_handle(args) or _holds_handle(kwargs):
        raise InvalidArgumentError(
            f"Step {step!r} was called outside a pipeline with a handle (a step's output "
            "from a pipeline's trace). Handles are wired only inside the @loopml.pipeline "
            "function that made them; call the step there, or pass it a real value."
        )


@contextmanager
def tracing(trace: Trace) -> Iterator[Trace]:
    """Record step calls into ``trace`` within the block."""
    token = _current.set(trace)
    try:
        yield trace
    finally:
        _current.reset(token)


def check_json(value: Any, what: str) -> None:
    """Raise unless ``value`` is a JSON value (None, bool, int, float, str, lists, tuples
    and str-keyed dicts of them), naming ``what`` and the fix."""
    problem = _json_problem(value, "")
    if problem is not None:
        path, kind = problem
        at = f" (at {path})" if path else ""
        raise InvalidArgumentError(
            f"{what} is not a JSON value: it holds a {kind}{at}. Step parameters are "
            "numbers, strings, booleans, None, and lists or dicts (with string keys) of "
            "them, so they can be hashed and recorded. Pass data (frames, arrays, models) "
            "as the output of another step, and convert other values (float(x), str(d))."
        )


def _json_problem(value: Any, path: str) -> tuple[str, str] | None:
    if value is None or isinstance(value, bool | int | str):
        return None
    if isinstance(value, float):
        return None if type(value) is float else (path, type(value).__name__)
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found = _json_problem(item, f"{path}[{i}]")
            if found is not None:
                return found
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{path}[{key!r}]", f"dict key of type {type(key).__name__}"
            found = _json_problem(item, f"{path}[{key!r}]")
            if found is not None:
                return found
        return None
    return path, type(value).__name__


def canonical_json(value: Any) -> str:
    """The one text of a JSON value: sorted keys, no spaces, NaN and infinities named."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=True)
