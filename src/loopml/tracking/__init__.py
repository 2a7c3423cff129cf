"""Layer 3, tracking: runs with params, metrics, tags, artifacts, captured code and
environment, and search. The SDK (``loopml.client``) and the CLI call :class:`TrackingService`.
"""

from loopml.tracking.experiments import ExperimentCatalog
from loopml.tracking.service import TrackingService
from loopml.tracking.writer import MetricSink, MetricWriter, flush_all_writers

__all__ = [
    "ExperimentCatalog",
    "MetricSink",
    "MetricWriter",
    "TrackingService",
    "flush_all_writers",
]
