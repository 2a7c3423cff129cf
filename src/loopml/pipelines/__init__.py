"""Layer 3: pipelines of cached steps, run on an executor (``inprocess``, ``process``, ``ray``).

- :mod:`.step_function` and :mod:`.pipeline_function`: ``@loopml.step`` and ``@loopml.pipeline``.
- :mod:`.graph`: tracing a pipeline function into a graph of step calls (handles).
- :mod:`.values`: what passes between steps, stored in the artifact store by type.
- :mod:`.cache`: cache keys (code, parameters, input contents) and the lookup by run tag.
- :mod:`.worker`: what a worker does for one step (artifact store only).
- :mod:`.runner`: the driver: runs, submission, waiting, failure and resume.
- :mod:`.records`: the pipeline run and the child run of each step.
- :mod:`.driver_steps`: ``read_dataset``, ``register_dataset``, ``register_model``.
- :mod:`.result`: :class:`PipelineRun` and :class:`StepResult`.
- :mod:`.sweeps`: hyperparameter sweeps with Optuna (:func:`sweep`), each trial a child run
  (:mod:`.sweep_trial`, :mod:`.sweep_storage`, :mod:`.sweep_result`).

Importing this package imports no pandas, NumPy or store: decorating functions is cheap.

Example:
    >>> import loopml
    >>> @loopml.step
    ... def add(a: int, b: int) -> int:
    ...     return a + b
    >>> @loopml.pipeline
    ... def sums(x: int = 1):
    ...     return add(add(x, 2), 3)
    >>> sums.run(x=1).outputs  # doctest: +SKIP
    6
"""

from __future__ import annotations

from loopml.pipelines.driver_steps import read_dataset, register_dataset, register_model
from loopml.pipelines.graph import Handle
from loopml.pipelines.pipeline_function import Pipeline, pipeline
from loopml.pipelines.result import PipelineRun, StepResult
from loopml.pipelines.step_function import Step, step
from loopml.pipelines.sweep_result import SweepResult, TrialRecord, read_sweep
from loopml.pipelines.sweeps import sweep
from loopml.pipelines.values import StoredValue

__all__ = [
    "Handle",
    "Pipeline",
    "PipelineRun",
    "Step",
    "StepResult",
    "StoredValue",
    "SweepResult",
    "TrialRecord",
    "pipeline",
    "read_dataset",
    "read_sweep",
    "register_dataset",
    "register_model",
    "step",
    "sweep",
]
