"""``POST /v2/models/{name}/labels``: delayed labels sent to the model server.

Body: ``{"ids": [...], "labels": [...], "timestamps": [...]}`` (``timestamps`` optional), one
label per row id: the prediction ids this server returned, or the caller's own ids (``"ids"``
of a ``/predict`` request). The labels are checked against the champion being served, stored
for the model and matched against this server's prediction log (its log store, and the spool
folders next to its own, so rows not compacted yet match too). The answer is the
:class:`~loopml.core.entities.LabelSummary` as JSON. Another model's name is a 404; a body
that is not an object of lists of one length, or with ids that are not strings, a 422;
malformed JSON a 400.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

from loopml.api import bodies, openapi
from loopml.core.errors import InvalidArgumentError, NotFoundError
from loopml.health.labels import LabelService
from loopml.serving import InferenceService
from loopml.serving.routing import CHAMPION

#: Largest body of the labels route (bytes).
MAX_LABELS_BODY = 64 * 1024 * 1024
_FIELDS = ("ids", "labels", "timestamps")


def parse_body(body: Any) -> tuple[list[Any], list[Any], list[Any] | None]:
    """The ids, labels and timestamps of a labels body.

    Raises:
        InvalidArgumentError: Not an object, an unknown field, a field that is not a list, or
            lists of different lengths (422).
    """
    if not isinstance(body, dict):
        raise InvalidArgumentError(
            'The body must be an object: {"ids": [...], "labels": [...]} (and optionally '
            '"timestamps": [...]), one label per row id.'
        )
    extra = sorted(set(body) - set(_FIELDS))
    if extra:
        raise InvalidArgumentError(
            f"Unknown field(s) {', '.join(map(repr, extra))} in the body; the fields are "
            f"{', '.join(map(repr, _FIELDS))}."
        )
    for field in ("ids", "labels"):
        if not isinstance(body.get(field), list):
            raise InvalidArgumentError(
                f"{field!r} must be a list (one entry per row); got "
                f"{type(body.get(field)).__name__}."
            )
    timestamps = body.get("timestamps")
    if timestamps is not None and not isinstance(timestamps, list):
        raise InvalidArgumentError(
            f"'timestamps' must be a list (one event time per row) or null; got "
            f"{type(timestamps).__name__}."
        )
    return body["ids"], body["labels"], timestamps


def add_routes(app: FastAPI, service: InferenceService) -> None:
    """Add the labels route to ``app``."""
    backend = service.registry.backend
    config = service.config
    spool_root = None if config.spool_dir is None else Path(config.spool_dir).parent
    labels = LabelService(
        backend,
        logs_url=config.logs_url if config.logs_url is not None else backend.settings.logs_url,
        spool_root=spool_root,
    )

    @app.post(
        "/v2/models/{name}/labels",
        responses=openapi.labels_responses(),
        openapi_extra={"requestBody": openapi.labels_body()},
    )
    async def log_labels(name: str, request: Request) -> Response:
        if name != service.name:
            raise NotFoundError(f"No model {name!r} here; this server serves {service.name!r}.")
        body = bodies.parse_json(await bodies.read(request, MAX_LABELS_BODY))
        ids, values, timestamps = parse_body(body)
        version = service.slots[CHAMPION].current.model.version
        summary = await asyncio.to_thread(
            labels.log_labels, version, ids, values, timestamps=timestamps
        )
        return Response(orjson.dumps(summary.to_dict()), media_type=bodies.JSON)
