"""Layer 3: model serving without a web framework (the HTTP face is ``loopml.api.inference``).

- :mod:`.config`: :class:`ServeConfig` and its defaults (standard library only).
- :mod:`.service`: :class:`InferenceService`: routing, fallbacks, deadlines, shadow, logging.
- :mod:`.result`: :class:`PredictionResult`, the answer to one request.
- :mod:`.caller_rows`: :class:`CallerRows`, the event times and ids a caller gives its rows.
- :mod:`.deployment`: a config resolved against the registry (fallback, guardrails, checks).
- :mod:`.deployments`: :class:`DeploymentService`, deployment records in the store (with
  :mod:`.deployment_fields` and :mod:`.deployment_changes`); :mod:`.follower`: a server
  following its record live; :mod:`.routes`: the routes a server swaps whole.
- :mod:`.slot`: a served ref and its hot swap when the alias moves.
- :mod:`.server_log`: the server's prediction log (spool, compaction).
- :mod:`.batcher`: adaptive micro-batching. :mod:`.routing`: canary routing.
- :mod:`.guardrails`: input and output rules with reject/clip/fallback actions.
- :mod:`.batch`: batch scoring of files. :mod:`.metrics`: the Prometheus metrics.

``import loopml.serving.config`` loads nothing heavy (the CLI reads its defaults); the
service and its libraries load when one of its names is first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loopml.core.errors import GuardrailRejectedError, ModelUnavailableError, RowsRejectedError
from loopml.core.lazy import lazy_getattr
from loopml.serving.config import ServeConfig, parse_canary

if TYPE_CHECKING:
    from loopml.serving.caller_rows import CallerRows
    from loopml.serving.deployments import DeploymentService
    from loopml.serving.guardrails import Guardrails
    from loopml.serving.result import PredictionResult
    from loopml.serving.routing import Router
    from loopml.serving.service import InferenceService

_LAZY = {
    "CallerRows": "loopml.serving.caller_rows",
    "DeploymentService": "loopml.serving.deployments",
    "Guardrails": "loopml.serving.guardrails",
    "InferenceService": "loopml.serving.service",
    "PredictionResult": "loopml.serving.result",
    "Router": "loopml.serving.routing",
}

__all__ = [
    "CallerRows",
    "DeploymentService",
    "GuardrailRejectedError",
    "Guardrails",
    "InferenceService",
    "ModelUnavailableError",
    "PredictionResult",
    "Router",
    "RowsRejectedError",
    "ServeConfig",
    "parse_canary",
]


__getattr__ = lazy_getattr(__name__, _LAZY, globals())
