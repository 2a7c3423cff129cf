"""Layer 3, pipelines: hyperparameter sweeps with Optuna (:func:`sweep`), each trial a child
run, run on an executor from :mod:`loopml.compute`.

The SDK's ``loopml.sweep`` fronts :func:`sweep`, with each trial's run active in the objective.
"""

from loopml.pipelines.sweep_result import SweepResult, TrialRecord, read_sweep
from loopml.pipelines.sweeps import sweep

__all__ = ["SweepResult", "TrialRecord", "read_sweep", "sweep"]
