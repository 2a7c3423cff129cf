"""What a worker does for one step: load its inputs from the artifact store, call the step's
function, store its outputs there, and say where they are and when it ran.

A worker needs the artifact store only (its URL travels with the task): no metadata store,
no run. So Ray workers on other hosts need nothing but the shared artifact location; the
driver writes every run.
"""

from __future__ import annotations

import functools
import os
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from loopml.core.errors import InvalidArgumentError
from loopml.pipelines.values import StoredValue, load_value, store_value, type_name
from loopml.store.artifacts import ContentAddressedStore, open_artifact_store

InputRefs = Mapping[str, StoredValue | tuple[StoredValue, ...]]


@dataclass(frozen=True)
class StepTask:
    """One step call as sent to a worker.

    Attributes:
        step: The step's name in the pipeline (for messages).
        fn: The step's function.
        params: Its plain arguments, by name.
        inputs: Where its input values are, by argument name.
        outputs: How many values it returns.
        artifacts_url: The artifact store the worker reads and writes.
    """

    step: str
    fn: Callable[..., Any]
    params: Mapping[str, Any]
    inputs: InputRefs
    outputs: int
    artifacts_url: str


@dataclass(frozen=True)
class StepOutcome:
    """What a worker sends back: where the outputs are, and when and where it ran.

    Attributes:
        outputs: One stored value per output.
        started_at: When the worker started the step (seconds since the epoch).
        ended_at: When its outputs were stored.
        host: The worker's host name.
        pid: The worker's process id.
    """

    outputs: tuple[StoredValue, ...]
    started_at: float
    ended_at: float
    host: str
    pid: int


@functools.lru_cache(maxsize=8)
def _artifacts(url: str) -> ContentAddressedStore:
    """One artifact store per URL per worker process."""
    return open_artifact_store(url)


def run_step(task: StepTask) -> StepOutcome:
    """Run one step in this process (called by the executor's worker, or in-process).

    Raises:
        Exception: What the step's function raised, as it is.
        InvalidArgumentError: It returned something that cannot be stored, or not the
            number of values its annotation declares.
    """
    started = time.time()
    artifacts = _artifacts(task.artifacts_url)
    kwargs = dict(task.params)
    for name, ref in task.inputs.items():
        if isinstance(ref, tuple):
            kwargs[name] = [load_value(artifacts, r) for r in ref]
        else:
            kwargs[name] = load_value(artifacts, ref)
    result = task.fn(**kwargs)
    values = split_outputs(task.step, result, task.outputs)
    stored = tuple(
        store_value(
            artifacts,
            value,
            what=f"output of step {task.step!r}"
            if task.outputs == 1
            else f"output {index} of step {task.step!r}",
        )
        for index, value in enumerate(values)
    )
    return StepOutcome(stored, started, time.time(), socket.gethostname(), os.getpid())


def split_outputs(step: str, result: Any, outputs: int) -> tuple[Any, ...]:
    """The step's return value as one value per declared output.

    Raises:
        InvalidArgumentError: A step declared ``outputs`` values (its annotation) and
            returned something else.
    """
    if outputs == 1:
        return (result,)
    if not isinstance(result, tuple | list) or len(result) != outputs:
        got = (
            f"a {type_name(result)} of {len(result)}"
            if isinstance(result, tuple | list)
            else f"a {type_name(result)}"
        )
        raise InvalidArgumentError(
            f"Step {step!r} declares {outputs} outputs (its return annotation is a tuple of "
            f"{outputs}) but returned {got}. Return a tuple of {outputs} values, or change "
            "the annotation."
        )
    return tuple(result)
