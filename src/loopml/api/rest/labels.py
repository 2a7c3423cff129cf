"""Delayed labels and prediction-log uploads: what model servers and monitors on other hosts
send so they need no storage credentials.

* ``POST /monitoring/labels`` (``log_labels``: an editor): ``{"model", "ids", "labels",
  "timestamps"?}``, checked and stored by :class:`~loopml.health.labels.LabelService` on the
  server. Answers the :class:`~loopml.core.entities.LabelSummary`. The label store keeps one
  label per ``(model, row id)`` (last wins), so the same ids and labels sent again store
  nothing new: a retried request is harmless.
* ``POST /monitoring/predictions`` (``write``: an editor): rows as JSON records with their
  predictions, logged as route ``external`` by :func:`loopml.health.ingest.log_predictions`
  (everything checked before any row is written). With ``ids``, a retry logs nothing twice;
  without, the prediction ids are derived from the request's ``Idempotency-Key`` when it has
  one (so a retried request makes the same ids), else made fresh.

Both bodies are read within the server's ``--max-body-mb`` (larger: 413, nothing written);
a value of the wrong type is a 422 whose ``field`` names it (``body.labels.3``).
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Header, Request
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic import ValidationError as PydanticValidationError
from starlette.concurrency import run_in_threadpool

from loopml.api import bodies
from loopml.api.rest.access import needs
from loopml.api.rest.params import LINE
from loopml.api.rest.services import Services, services_of
from loopml.core.entities import LabelSummary
from loopml.core.errors import InvalidArgumentError
from loopml.governance import Action

__all__ = ["LabelsBody", "PredictionsBody", "router"]

router = APIRouter(tags=["monitoring"])
Svc = Annotated[Services, Depends(services_of)]
M = TypeVar("M", bound=BaseModel)

#: Most rows (or labels) in one request (the body limit usually bounds it first).
MAX_ROWS = 1_000_000
#: The longest row id a store keeps (the label store's column).
MAX_ID = 250

ModelRef = Annotated[str, Field(min_length=1, max_length=300, pattern=LINE)]


def _scalar(value: Any) -> Any:
    if value is None or isinstance(value, str | bool | int | float):
        return value
    raise ValueError("must be a string, number, boolean or null")


def _row_id(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and len(value) <= MAX_ID:
        return value
    raise ValueError(f"must be a string of at most {MAX_ID} characters or an integer")


def _time(value: Any) -> Any:
    if value is None or (isinstance(value, str | int) and not isinstance(value, bool)):
        return value
    raise ValueError("must be ISO 8601 text, an integer (ms since the epoch) or null")


def _number(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    raise ValueError("must be a number")


def _numbers(value: Any) -> Any:
    if isinstance(value, list):
        return [_number(v) for v in value]
    if isinstance(value, dict):  # class -> probability (a DataFrame's row, by column name)
        return {str(k): _number(v) for k, v in value.items()}
    return _number(value)


_NUMBER = {"type": "number"}
Scalar = Annotated[
    Any,
    AfterValidator(_scalar),
    WithJsonSchema({"type": ["string", "number", "boolean", "null"]}),
]
RowId = Annotated[
    Any,
    AfterValidator(_row_id),
    WithJsonSchema({"anyOf": [{"type": "string", "maxLength": MAX_ID}, {"type": "integer"}]}),
]
Time = Annotated[
    Any, AfterValidator(_time), WithJsonSchema({"type": ["string", "integer", "null"]})
]
Number = Annotated[Any, AfterValidator(_number), WithJsonSchema(_NUMBER)]
Numbers = Annotated[
    Any,
    AfterValidator(_numbers),
    WithJsonSchema(
        {
            "anyOf": [
                _NUMBER,
                {"type": "array", "items": _NUMBER},
                {"type": "object", "additionalProperties": _NUMBER},
            ]
        }
    ),
]


class LabelsBody(BaseModel):
    """Delayed labels of a model's rows (``loopml.monitoring.log_labels``)."""

    model_config = ConfigDict(extra="forbid")

    model: ModelRef = Field(description="name, name@alias or name@version")
    ids: list[RowId] = Field(max_length=MAX_ROWS, description="one row id per label")
    labels: list[Scalar] = Field(max_length=MAX_ROWS, description="one label per id")
    timestamps: list[Time] | None = Field(
        default=None, max_length=MAX_ROWS, description="event time per label (ISO 8601 or ms)"
    )


class PredictionsBody(BaseModel):
    """Predictions a model served elsewhere made (``loopml.monitoring.log_predictions``)."""

    model_config = ConfigDict(extra="forbid")

    model: ModelRef = Field(description="name@version or name@alias")
    rows: list[dict[str, Scalar]] = Field(max_length=MAX_ROWS, description="input rows")
    predictions: list[Scalar] = Field(max_length=MAX_ROWS, description="one per row")
    ids: list[RowId] | None = Field(default=None, max_length=MAX_ROWS)
    probabilities: list[Numbers] | None = Field(default=None, max_length=MAX_ROWS)
    timestamps: list[Time] | None = Field(default=None, max_length=MAX_ROWS)
    latency_ms: Numbers | None = None


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


async def _read(request: Request, model: type[M]) -> M:
    """The body within the server's limit, validated as ``model`` (422 naming the field)."""
    limit: int = request.app.state.config.max_body
    raw = await bodies.read(request, limit)
    try:
        return model.model_validate_json(raw)
    except PydanticValidationError as exc:
        problems = exc.errors(include_url=False, include_input=False, include_context=False)
        for problem in problems:
            problem["loc"] = ("body", *problem["loc"])
        raise RequestValidationError(problems) from None


def _field_error(field: str, message: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("body", field), "msg": message, "type": "value_error"}])


def _check_timestamps(values: list[Any] | None, field: str) -> None:
    """Name the first unreadable event time (the service only says one is)."""
    if values is None:
        return
    from loopml.health.labels import parse_timestamps

    try:
        parse_timestamps(values)
    except InvalidArgumentError:
        for i, value in enumerate(values):
            try:
                parse_timestamps([value])
            except InvalidArgumentError as exc:
                raise _field_error(f"{field}.{i}", f"{value!r} is not a time: {exc}") from None
        raise


@router.post(
    "/monitoring/labels",
    dependencies=[Depends(needs(Action.LOG_LABELS))],
    openapi_extra=_schema(LabelsBody),
)
async def log_labels(request: Request, services: Svc) -> LabelSummary:
    """Store delayed labels of ``model``'s rows (checked against its version; see
    ``loopml.monitoring.log_labels``): labels that do not fit are counted in ``bad_type``."""
    body = await _read(request, LabelsBody)
    lengths = {"ids": len(body.ids), "labels": len(body.labels)}
    if body.timestamps is not None:
        lengths["timestamps"] = len(body.timestamps)
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{n} {name}" for name, n in lengths.items())
        raise _field_error("labels", f"needs one label (and timestamp) per id; got {shown}")
    _check_timestamps(body.timestamps, "timestamps")
    from loopml.health.labels import LabelService

    service = LabelService(services.backend)
    summary: LabelSummary = await run_in_threadpool(
        service.log_labels, body.model, body.ids, body.labels, timestamps=body.timestamps
    )
    return summary


@router.post(
    "/monitoring/predictions",
    dependencies=[Depends(needs(Action.WRITE))],
    openapi_extra=_schema(PredictionsBody),
)
async def log_predictions(
    request: Request,
    services: Svc,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=64)] = None,
) -> list[str]:
    """Log predictions of ``model`` (route ``external``) for monitoring; returns the row ids
    (see ``loopml.monitoring.log_predictions``). All rows are written or none."""
    body = await _read(request, PredictionsBody)
    if len(body.rows) != len(body.predictions):
        raise _field_error(
            "predictions",
            f"needs one prediction per row; got {len(body.predictions)} for {len(body.rows)} rows",
        )
    return await run_in_threadpool(_log_predictions, services, body, idempotency_key)


def _log_predictions(services: Services, body: PredictionsBody, key: str | None) -> list[str]:
    import pandas as pd

    from loopml.health.ingest import log_predictions

    frame = pd.DataFrame.from_records(body.rows) if body.rows else pd.DataFrame()
    proba: Any = body.probabilities
    if proba and all(isinstance(p, dict) for p in proba):  # columns named by class: reordered
        proba = pd.DataFrame.from_records(proba)
    made = None
    if body.ids is None and key is not None:  # a retry of this request makes the same ids
        salt = f"{body.model}|{key}|".encode()
        made = [
            hashlib.sha256(salt + str(i).encode()).hexdigest()[:32] for i in range(len(body.rows))
        ]
    ids = log_predictions(
        services.models,
        services.backend.settings.logs_url,
        body.model,
        frame,
        body.predictions,
        ids=body.ids,
        probabilities=proba,
        timestamps=body.timestamps,
        latency_ms=body.latency_ms,
        prediction_ids=made,
    )
    return ids
