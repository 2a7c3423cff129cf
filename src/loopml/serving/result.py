"""The answer to one request: :class:`PredictionResult`, built from a model's outputs."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from loopml.serving.batcher import BatchOutput
from loopml.serving.caller_rows import CallerRows
from loopml.serving.fallbacks import DeclaredFallback
from loopml.serving.slot import Served


@dataclass(frozen=True)
class PredictionResult:
    """The answer to one request.

    Attributes:
        ids: One prediction id per row (32 hex digits; the log's key, for joining labels).
        predictions: One prediction per row (JSON-ready).
        proba: Class probabilities per row (``{label: p}``), or None.
        model: The model name.
        version: The version that answered.
        route: ``champion``, ``canary``, ``fallback`` or ``shadow``.
        latency_ms: Time spent in the service.
        reason: Why the fallback answered, if it did.
        caller: The event times and ids the caller gave for its rows (logged with each
            row; the ids are echoed in the answer), or None.
    """

    ids: tuple[str, ...]
    predictions: list[Any]
    proba: list[dict[str, float]] | None
    model: str
    version: int
    route: str
    latency_ms: float
    reason: str | None = None
    caller: CallerRows | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


def _plain(values: np.ndarray) -> list[Any]:
    return [v.item() if isinstance(v, np.generic) else v for v in values.tolist()]


def result_of(
    served: Served | DeclaredFallback,
    *,
    route: str,
    out: BatchOutput,
    rows: int,
    latency: float,
    reason: str | None,
    caller: CallerRows | None = None,
) -> PredictionResult:
    """The answer of ``served`` on ``rows`` rows: fresh prediction ids, JSON-ready values,
    probabilities keyed by class label, and the caller's rows' times and ids (``caller``)."""
    classes = served.classes
    proba = None
    if out.proba is not None and classes:
        labels = [str(c) for c in classes]
        proba = [dict(zip(labels, map(float, row), strict=True)) for row in out.proba]
    return PredictionResult(
        ids=tuple(uuid.uuid4().hex for _ in range(rows)),
        predictions=_plain(out.predictions),
        proba=proba,
        model=served.name,
        version=served.version,
        route=route,
        latency_ms=latency,
        reason=reason,
        caller=caller,
    )
