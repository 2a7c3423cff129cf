"""Frozen entities, one module per stage of the loop. The REST API returns these same classes."""

from loopml.core.entities.artifacts import ArtifactEntry, Blob
from loopml.core.entities.data import (
    OTHER,
    Anomaly,
    ColumnProfile,
    ColumnRole,
    ColumnSchema,
    DatasetDiff,
    DatasetProfile,
    DatasetSchema,
    DatasetVersion,
    NumericSummary,
    ValidationReport,
)
from loopml.core.entities.events import Event
from loopml.core.entities.registry import (
    AliasMove,
    ApprovalStatus,
    ModelExport,
    ModelManifest,
    ModelOutput,
    ModelSignature,
    ModelVersion,
    PackageFile,
    RegisteredModel,
    TaskKind,
)
from loopml.core.entities.tracking import Experiment, MetricPoint, Run, RunStatus

__all__ = [
    "OTHER",
    "AliasMove",
    "Anomaly",
    "ApprovalStatus",
    "ArtifactEntry",
    "Blob",
    "ColumnProfile",
    "ColumnRole",
    "ColumnSchema",
    "DatasetDiff",
    "DatasetProfile",
    "DatasetSchema",
    "DatasetVersion",
    "Event",
    "Experiment",
    "MetricPoint",
    "ModelExport",
    "ModelManifest",
    "ModelOutput",
    "ModelSignature",
    "ModelVersion",
    "NumericSummary",
    "PackageFile",
    "RegisteredModel",
    "Run",
    "RunStatus",
    "TaskKind",
    "ValidationReport",
]
