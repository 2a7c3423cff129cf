"""Layer 3: model serving without a web framework (the HTTP face is ``loopml.api.inference``).

- :mod:`.service`: :class:`InferenceService`: routing, fallbacks, deadlines, shadow, logging.
- :mod:`.slot`: a served ref and its hot swap when the alias moves.
- :mod:`.batcher`: adaptive micro-batching. :mod:`.routing`: canary routing.
- :mod:`.guardrails`: input and output rules with reject/clip/fallback actions.
- :mod:`.batch`: batch scoring of files. :mod:`.metrics`: the Prometheus metrics.
"""

from loopml.core.errors import GuardrailRejectedError, ModelUnavailableError, RowsRejectedError
from loopml.serving.guardrails import Guardrails
from loopml.serving.routing import Router
from loopml.serving.service import (
    InferenceService,
    PredictionResult,
    ServeConfig,
    parse_canary,
)

__all__ = [
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
