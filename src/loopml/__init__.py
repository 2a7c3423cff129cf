"""loopml: one closed loop for tabular machine learning.

``import loopml`` is cheap: the SDK functions are re-exported lazily, so pandas,
SQLAlchemy and friends load only when a function that needs them is first called.

Example:
    >>> import loopml
    >>> with loopml.start_run(experiment="demo") as run:  # doctest: +SKIP
    ...     run.log_param("max_depth", 6)
    ...     run.log_metric("auc", 0.91)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from loopml.core.lazy import lazy_getattr
from loopml.core.version import VERSION

__version__ = VERSION

# name -> module that defines it; resolved on first attribute access (PEP 562).
_LAZY: dict[str, str] = {
    "LoopmlClient": "loopml.client",
    "Run": "loopml.core.entities",
    "active_run": "loopml.client",
    "end_run": "loopml.client",
    "get_run": "loopml.client",
    "log_artifact": "loopml.client",
    "log_dict": "loopml.client",
    "log_metric": "loopml.client",
    "log_metrics": "loopml.client",
    "log_param": "loopml.client",
    "log_params": "loopml.client",
    "search_runs": "loopml.client",
    "set_tag": "loopml.client",
    "set_tags": "loopml.client",
    "start_run": "loopml.client",
    "evaluate": "loopml.client.evaluation",
    "evaluation_report": "loopml.client.evaluation",
    "gate": "loopml.client.evaluation",
    "get_evaluation": "loopml.client.evaluation",
    "list_evaluations": "loopml.client.evaluation",
    "monitor": "loopml.client.monitoring",
    "pipeline": "loopml.pipelines",
    "step": "loopml.pipelines",
    "sweep": "loopml.client.sweeps",
}

__all__ = [  # noqa: RUF022 - __version__ first, then the sorted SDK names
    "__version__",
    "LoopmlClient",
    "Run",
    "active_run",
    "datasets",
    "deployments",
    "end_run",
    "errors",
    "evaluate",
    "evaluation_report",
    "gate",
    "get_evaluation",
    "get_run",
    "list_evaluations",
    "log_artifact",
    "log_dict",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "loops",
    "models",
    "monitor",
    "monitoring",
    "pipeline",
    "search_runs",
    "set_tag",
    "set_tags",
    "start_run",
    "step",
    "sweep",
]

if TYPE_CHECKING:
    from loopml.client import (
        LoopmlClient,
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
    from loopml.client.evaluation import (
        evaluate,
        evaluation_report,
        gate,
        get_evaluation,
        list_evaluations,
    )
    from loopml.client.monitoring import monitor
    from loopml.client.sweeps import sweep
    from loopml.core.entities import Run
    from loopml.pipelines import pipeline, step


#: Submodules exposed as attributes (``loopml.datasets.register(...)``), loaded on first use.
_LAZY_MODULES: dict[str, str] = {
    "datasets": "loopml.datasets",
    "deployments": "loopml.deployments",
    "errors": "loopml.errors",
    "loops": "loopml.loops",
    "models": "loopml.models",
    "monitoring": "loopml.monitoring",
}


_lazy_name = lazy_getattr("loopml", _LAZY, globals())


def __getattr__(name: str) -> Any:
    if name in _LAZY_MODULES:
        submodule = importlib.import_module(_LAZY_MODULES[name])
        globals()[name] = submodule
        return submodule
    return _lazy_name(name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_LAZY_MODULES))
