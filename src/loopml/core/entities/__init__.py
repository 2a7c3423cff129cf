"""Frozen entities, one module per stage of the loop. The REST API returns these same classes."""

from loopml.core.entities.artifacts import ArtifactEntry, Blob
from loopml.core.entities.tracking import Experiment, MetricPoint, Run, RunStatus

__all__ = ["ArtifactEntry", "Blob", "Experiment", "MetricPoint", "Run", "RunStatus"]
