"""One logged prediction: :class:`PredictionRecord`, the row of the prediction log.

A record is what the model server (and ``loopml predict``) hands to
:class:`~loopml.store.logs.spool.PredictionLog`: one scored row with its inputs, its output,
which model version and route produced it, how long it took and when. Values are JSON-ready
(strings, numbers, booleans, None, lists and mappings of those; NumPy scalars are accepted
and written as plain numbers).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from loopml.core.errors import InvalidArgumentError, did_you_mean

#: The routes a prediction can take through a deployment.
#: ``external`` rows come from :func:`loopml.monitoring.log_predictions` (a model served
#: elsewhere); ``batch`` from ``loopml predict``.
ROUTES = frozenset({"champion", "canary", "fallback", "shadow", "batch", "external"})

#: The fields of a record, in the order they are written.
FIELDS = (
    "prediction_id",
    "model",
    "version",
    "route",
    "at",
    "latency_ms",
    "inputs",
    "output",
    "proba",
    "request_key",
    "error",
    "event_at",
    "caller_id",
)
_REQUIRED = FIELDS[:8]


def new_prediction_id() -> str:
    """Return a fresh prediction id (32 lowercase hex digits)."""
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class PredictionRecord:
    """One prediction as logged.

    Construction does no validation beyond the route (it sits on the request path);
    :meth:`from_dict` checks the shape of data read back.

    Attributes:
        prediction_id: 32 hex digits naming this prediction (see :func:`new_prediction_id`).
        model: The registered model name.
        version: The model version that answered.
        route: ``champion``, ``canary``, ``fallback``, ``shadow``, ``batch`` or ``external``.
        at: When the request arrived, in milliseconds since the Unix epoch (UTC).
        latency_ms: Time spent answering, in milliseconds (None: unknown, as for
            ``external`` rows logged without it).
        inputs: One row's input values by feature name (JSON-ready scalars).
        output: The prediction (a label, a number, ...), JSON-ready.
        proba: Class probabilities by class label, when the model gives them.
        request_key: The request's routing key (the same key takes the same canary route).
        error: Why the prediction failed, when it did (``output`` is then usually None).
        event_at: When the row's event happened (ms since the epoch, UTC), as the caller
            gave it (``"timestamps"`` of a request, ``timestamps=`` of ``log_predictions``);
            None: the event time is ``at``. Monitoring windows use event time.
        caller_id: The caller's own id of the row (``"ids"`` of a request, ``ids=`` of
            ``log_predictions``); delayed labels join on it or on ``prediction_id``.

    Example:
        >>> rec = PredictionRecord(
        ...     prediction_id="0" * 32, model="churn", version=3, route="champion",
        ...     at=1_700_000_000_000, latency_ms=1.5, inputs={"age": 41}, output=1,
        ... )
        >>> PredictionRecord.from_dict(rec.to_dict()) == rec
        True
    """

    prediction_id: str
    model: str
    version: int
    route: str
    at: int
    latency_ms: float | None
    inputs: Mapping[str, Any]
    output: Any
    proba: Mapping[str, float] | None = None
    request_key: str | None = None
    error: str | None = None
    event_at: int | None = None
    caller_id: str | None = None

    def __post_init__(self) -> None:
        if self.route not in ROUTES:
            raise InvalidArgumentError(
                f"The 'route' of a PredictionRecord must be one of {sorted(ROUTES)}. "
                f"Got {self.route!r} instead.{did_you_mean(str(self.route), ROUTES)}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Return the record as a plain dict of JSON-ready values (inputs/proba as dicts)."""
        return {
            "prediction_id": self.prediction_id,
            "model": self.model,
            "version": self.version,
            "route": self.route,
            "at": self.at,
            "latency_ms": self.latency_ms,
            "inputs": dict(self.inputs),
            "output": self.output,
            "proba": None if self.proba is None else dict(self.proba),
            "request_key": self.request_key,
            "error": self.error,
            "event_at": self.event_at,
            "caller_id": self.caller_id,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PredictionRecord:
        """Build a record from :meth:`to_dict` output (or one line of a spool segment).

        Raises:
            InvalidArgumentError: A required field is missing, or a field has the wrong type.
        """
        missing = [name for name in _REQUIRED if name not in data]
        if missing:
            raise InvalidArgumentError(
                f"A prediction record needs the fields {list(_REQUIRED)}; {missing} are "
                f"missing from {sorted(data)}. Pass a dict made by PredictionRecord.to_dict()."
            )
        inputs = data["inputs"]
        proba = data.get("proba")
        if not isinstance(inputs, Mapping) or not (proba is None or isinstance(proba, Mapping)):
            raise InvalidArgumentError(
                "The 'inputs' (and 'proba', when given) of a prediction record must be "
                f"mappings. Got inputs={type(inputs).__name__}, "
                f"proba={type(proba).__name__} instead."
            )
        try:
            return cls(
                prediction_id=str(data["prediction_id"]),
                model=str(data["model"]),
                version=int(data["version"]),
                route=str(data["route"]),
                at=int(data["at"]),
                latency_ms=None if data["latency_ms"] is None else float(data["latency_ms"]),
                inputs=dict(inputs),
                output=data["output"],
                proba=None if proba is None else {str(k): float(v) for k, v in proba.items()},
                request_key=data.get("request_key"),
                error=data.get("error"),
                event_at=None if data.get("event_at") is None else int(data["event_at"]),
                caller_id=None if data.get("caller_id") is None else str(data["caller_id"]),
            )
        except (TypeError, ValueError) as exc:
            if isinstance(exc, InvalidArgumentError):
                raise
            raise InvalidArgumentError(
                f"A prediction record has a field of the wrong type: {exc}. 'version' and "
                "'at' must be integers and 'latency_ms' a number."
            ) from exc
