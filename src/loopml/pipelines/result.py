"""What a pipeline run returns: :class:`PipelineRun`, with a :class:`StepResult` per step."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from loopml.core.entities import RunStatus
from loopml.core.jsonable import Jsonable
from loopml.pipelines.values import StoredValue

StepStatus = Literal["FINISHED", "FAILED", "NOT_RUN"]


@dataclass(frozen=True)
class StepResult(Jsonable):
    """One step of a pipeline run.

    Attributes:
        cache_hit: True when the outputs of an earlier finished run were reused.
        seconds: Wall time of the step in this run, as the driver saw it (for a hit, the
            lookup; for a miss, from submitting it to storing its run).
        run_id: The step's child run ("" for a step that never ran).
        cache_key: The step call's cache key ("" when its inputs never existed).
        name: The step's name in the pipeline.
        status: ``FINISHED``, ``FAILED``, or ``NOT_RUN`` (the pipeline failed first).
        outputs: Where its output values are stored.
        started_at: When a worker started it (seconds since the epoch; None for a hit).
        ended_at: When the worker stored its outputs.
        attempts: Calls made (1 + retries used); 0 for a hit.
        cached_from: The run whose outputs a hit reused.
        error: Why it failed (the exception type and message).
    """

    cache_hit: bool
    seconds: float
    run_id: str
    cache_key: str
    name: str
    status: StepStatus
    outputs: tuple[StoredValue, ...] = ()
    started_at: float | None = None
    ended_at: float | None = None
    attempts: int = 0
    cached_from: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class PipelineRun(Jsonable):
    """A pipeline run as it ended.

    Attributes:
        run_id: The pipeline's run (its steps are its child runs).
        pipeline: The pipeline's name.
        status: FINISHED or FAILED.
        steps: Each step's result, by name, in the order they were called.
        params: The pipeline's parameters.
        executor: Where the steps ran (``inprocess``, ``process``, ``ray``).
        seconds: Wall time of the whole run.
        output_refs: Where the pipeline function's return values are stored (the returned
            structure, each step output replaced by ``{"$value": StoredValue}``).
        resumed_from: The FAILED run of the same pipeline and parameters this one resumed.
        outputs: The pipeline function's return values, loaded (not part of the JSON form).
    """

    run_id: str
    pipeline: str
    status: RunStatus
    steps: Mapping[str, StepResult]
    params: Mapping[str, Any]
    executor: str
    seconds: float
    output_refs: Any = None
    resumed_from: str | None = None
    outputs: Any = field(default=None, init=False, compare=False, repr=False)

    @property
    def cache_hits(self) -> int:
        """How many steps reused earlier outputs."""
        return sum(s.cache_hit for s in self.steps.values())

    def with_outputs(self, outputs: Any) -> PipelineRun:
        """This run with its loaded outputs attached."""
        object.__setattr__(self, "outputs", outputs)
        return self
