"""Layer 4, the Python SDK: fluent functions acting on the active run, and ``LoopmlClient``.

No business rules here: everything calls :mod:`loopml.tracking`.
"""

from loopml.client.client import LoopmlClient
from loopml.client.fluent import (
    active_run,
    end_run,
    get_run,
    log_artifact,
    log_dict,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    search_runs,
    set_tag,
    set_tags,
    start_run,
)
from loopml.client.run_handle import ActiveRun

__all__ = [
    "ActiveRun",
    "LoopmlClient",
    "active_run",
    "end_run",
    "get_run",
    "log_artifact",
    "log_dict",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "search_runs",
    "set_tag",
    "set_tags",
    "start_run",
]
