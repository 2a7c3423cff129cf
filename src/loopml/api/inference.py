"""The model server's HTTP face: an ASGI app over :class:`~loopml.serving.InferenceService`.

Routes:

* the Open Inference Protocol (KServe v2), with its binary data extension: server and model
  metadata, health, readiness and inference, also per served version (:mod:`loopml.api.oip`);
* ``POST /predict``: ``{"records": [{...}, ...]}``, ``{"columns": [...], "data": [[...]]}`` or
  one record ``{...}``; an optional ``"key"`` keeps a caller on the same canary route, and
  optional ``"timestamps"`` and ``"ids"`` (one per row) give each row's event time and the
  caller's id of it, logged with the row (the ids are echoed in the answer);
* ``POST /predict/batch``: the same, for many rows per request (a larger body limit);
* ``POST /v2/models/{name}/labels``: delayed labels for the rows this server predicted
  (:mod:`loopml.api.labels`);
* ``GET /metrics``: Prometheus.

With ``tokens`` (``loopml serve --auth token``) every route but the health checks and
``/metrics`` needs an API token (:mod:`loopml.api.auth`): 401 without a valid one, 403 when
its role is too low (labels need an editor).

Every answer carries the prediction ids, the version that answered and the route taken (in the
body and in the ``X-Loopml-Version`` / ``X-Loopml-Route`` headers). Bad input is a 4xx whose
message names the field: malformed JSON 400, wrong content type 415, a body over the limit
413, an unknown model 404, a missing/extra/mistyped column 422; a model that fails with no
fallback 503. Bodies are parsed with orjson, not through pydantic models, to keep the server's
own overhead small; their schemas (and every answer's) are declared for the OpenAPI document at
``/openapi.json`` (pages at ``/docs``) by :mod:`loopml.api.openapi`, from the signature of the
champion being served.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from typing import Any, NamedTuple

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.requests import ClientDisconnect

from loopml.api import bodies, labels, oip, openapi
from loopml.api.auth import TokenAuth
from loopml.core.errors import (
    AccessDeniedError,
    InvalidArgumentError,
    LoopmlError,
    MalformedRequestError,
    NotFoundError,
    PayloadTooLargeError,
    UnauthenticatedError,
    UnsupportedMediaTypeError,
)
from loopml.governance import TokenService
from loopml.serving import InferenceService, PredictionResult
from loopml.serving.large import OFFLOAD_ROWS
from loopml.serving.routing import CHAMPION

_log = logging.getLogger("loopml.api.inference")

#: Largest body of ``/predict`` and ``/v2/.../infer`` (bytes).
MAX_BODY = 2 * 1024 * 1024
#: Largest body of ``/predict/batch`` (bytes).
MAX_BATCH_BODY = 64 * 1024 * 1024
#: Bodies from this size on are parsed in a worker thread.
_OFFLOAD_BYTES = 256 * 1024
_JSON = bodies.JSON
#: A request id a client may choose (``x-request-id``); anything else gets a fresh one.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def _error(status: int, message: str) -> Response:
    return Response(orjson.dumps({"error": message}), status_code=status, media_type=_JSON)


def _unavailable(request: Request, exc: Exception) -> Response:
    """A 503 that names no internals (a model's error may carry paths or data): a generic
    message and a request id; the detail goes to the server's log under that id."""
    given = request.headers.get("x-request-id", "")
    rid = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
    cause = exc.__cause__
    detail = f"{exc}" + (f" (caused by {type(cause).__name__}: {cause})" if cause else "")
    _log.error("request %s %s failed: %s: %s", rid, request.url.path, type(exc).__name__, detail)
    message = (
        f"The server could not answer this request (request id {rid}): the model failed and "
        "no fallback answered, or a store is unreachable. The server's log has the detail "
        "under this id."
    )
    body = orjson.dumps({"error": message, "request_id": rid})
    return Response(body, status_code=503, media_type=_JSON, headers={"x-request-id": rid})


async def _body(request: Request, limit: int) -> Any:
    """Read and parse a JSON body within ``limit`` bytes (a large one in a worker thread, so
    the event loop keeps answering other requests meanwhile)."""
    raw = await bodies.read(request, limit)
    if len(raw) >= _OFFLOAD_BYTES:
        return await asyncio.to_thread(bodies.parse_json, raw)
    return bodies.parse_json(raw)


#: The keys of a ``/predict`` body that give per-row values beside the rows. In the
#: one-record form they are taken as such unless the served model has a column of that name.
_PER_ROW = ("timestamps", "ids")


class PredictBody(NamedTuple):
    """A ``/predict`` body, parsed: the rows, the routing key, and what the caller gave per
    row (checked by the service)."""

    rows: Any
    key: str | None = None
    timestamps: Any = None
    ids: Any = None


def _rows(body: Any, inputs: Collection[str] = ()) -> PredictBody:
    """The rows of a ``/predict`` body (in a form the service accepts), the routing key and
    the per-row ``timestamps`` and ``ids`` (``inputs``: the served model's columns)."""
    if isinstance(body, list):
        return PredictBody(body)
    if not isinstance(body, dict):
        raise InvalidArgumentError(
            'The body must be an object: {"records": [...]}, {"columns": [...], '
            '"data": [[...]]}, or one record {"col": value, ...}.',
        )
    key = body.get("key")
    if key is not None and not isinstance(key, str | int):
        raise InvalidArgumentError(
            f"'key' must be a string or an integer; got {type(key).__name__}."
        )
    key_text = None if key is None else str(key)
    timestamps, ids = body.get("timestamps"), body.get("ids")
    if "records" in body:
        records = body["records"]
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise InvalidArgumentError("'records' must be a list of objects, one per row.")
        return PredictBody(records, key_text, timestamps, ids)
    if "columns" in body or "data" in body:
        columns, data = body.get("columns"), body.get("data")
        if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
            raise InvalidArgumentError("'columns' must be a list of column names.")
        if len(set(columns)) < len(columns):
            twice = sorted(c for c, n in Counter(columns).items() if n > 1)
            raise InvalidArgumentError(
                f"'columns' names {', '.join(map(repr, twice))} more than once; name each "
                "column once."
            )
        if not isinstance(data, list) or not all(isinstance(r, list) for r in data):
            raise InvalidArgumentError("'data' must be a list of rows, each a list of values.")
        for i, row in enumerate(data):
            if len(row) != len(columns):
                raise InvalidArgumentError(
                    f"data[{i}] has {len(row)} values but there are {len(columns)} columns."
                )
        rows = [dict(zip(columns, row, strict=True)) for row in data]
        return PredictBody(rows, key_text, timestamps, ids)
    per_row = {k for k in _PER_ROW if k not in inputs}
    record = {k: v for k, v in body.items() if k != "key" and k not in per_row}
    given = {k: body.get(k) for k in per_row}
    return PredictBody(record, key_text, given.get("timestamps"), given.get("ids"))


def _headers(result: PredictionResult) -> dict[str, str]:
    return {"X-Loopml-Version": f"{result.model}@{result.version}", "X-Loopml-Route": result.route}


def _answer(result: PredictionResult) -> dict[str, Any]:
    out: dict[str, Any] = {
        "predictions": result.predictions,
        "prediction_ids": list(result.ids),
        "model": result.model,
        "version": result.version,
        "route": result.route,
    }
    if result.proba is not None:
        out["probabilities"] = result.proba
    if result.reason:
        out["fallback_reason"] = result.reason
    if result.caller is not None and result.caller.ids is not None:
        out["ids"] = result.caller.ids
    return out


def create_app(
    service: InferenceService, *, max_body: int = MAX_BODY, tokens: TokenService | None = None
) -> FastAPI:
    """Build the ASGI app over ``service`` (started and stopped with the app's lifespan).

    Its OpenAPI document describes the request bodies with the columns of the champion
    ``service`` serves at the time it is asked for (rebuilt after a hot swap).

    Args:
        service: What to serve.
        max_body: Largest body of ``/predict`` and ``infer`` (bytes).
        tokens: Require API tokens from these (``loopml serve --auth token``; see
            :mod:`loopml.api.auth`); None: no authentication.
    """

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        service.start()
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(title=f"loopml: {service.name}", lifespan=lifespan, openapi_url="/openapi.json")
    described: list[str] = []  # the champion the cached document describes

    def document() -> dict[str, Any]:
        """FastAPI's document of the routes, with request bodies from the champion's
        signature (the routes read raw JSON, so FastAPI cannot infer them)."""
        champion = service.slots[CHAMPION].current
        if app.openapi_schema is None or described != [champion.ref]:
            app.openapi_schema = None
            built = FastAPI.openapi(app)
            columns = champion.model.signature.inputs
            paths = built["paths"]
            for path in ("/predict", "/predict/batch"):
                paths[path]["post"]["requestBody"] = openapi.predict_body(columns)
            for action in ("infer", "explain"):
                for path in (
                    f"/v2/models/{{name}}/{action}",
                    f"/v2/models/{{name}}/versions/{{version}}/{action}",
                ):
                    paths[path]["post"]["requestBody"] = openapi.infer_body(columns)
            described[:] = [champion.ref]
        return app.openapi_schema or {}

    app.openapi = document  # type: ignore[method-assign]

    def inputs() -> tuple[str, ...]:
        return service.slots[CHAMPION].current.model.signature.input_names

    async def predict(body: PredictBody) -> Response:
        result = await service.predict(
            body.rows, key=body.key, timestamps=body.timestamps, ids=body.ids
        )
        if len(result.ids) < OFFLOAD_ROWS:
            content = orjson.dumps(_answer(result))
        else:  # seconds of work for a million rows: not on the event loop
            content = await asyncio.to_thread(lambda: orjson.dumps(_answer(result)))
        return Response(content, media_type=_JSON, headers=_headers(result))

    @app.exception_handler(LoopmlError)
    async def _loopml_error(request: Request, exc: LoopmlError) -> Response:
        status = _status(exc)
        return _unavailable(request, exc) if status == 503 else _error(status, str(exc))

    @app.exception_handler(ClientDisconnect)
    async def _gone(_request: Request, _exc: ClientDisconnect) -> Response:
        return Response(status_code=400)  # logged in _body; nobody is left to read it

    oip.add_routes(app, service, max_body=max_body)
    labels.add_routes(app, service)
    if tokens is not None:
        app.add_middleware(TokenAuth, tokens=tokens)

    @app.post("/predict", responses=openapi.predict_responses())
    async def predict_route(request: Request) -> Response:
        return await predict(_rows(await _body(request, max_body), inputs()))

    @app.post("/predict/batch", responses=openapi.predict_responses())
    async def predict_batch(request: Request) -> Response:
        body = await _body(request, max(max_body, MAX_BATCH_BODY))
        parsed = await asyncio.to_thread(_rows, body, inputs())  # a million rows: a while
        return await predict(parsed)

    @app.get("/metrics", response_class=PlainTextResponse)
    async def metrics() -> Response:
        data, kind = service.metrics.render()
        return Response(data, media_type=kind)

    return app


def _status(exc: LoopmlError) -> int:
    """The one HTTP status of each error the service raises (:mod:`loopml.api.auth` answers
    401 and 403 itself, before the request reaches the app)."""
    if isinstance(exc, UnauthenticatedError):
        return 401
    if isinstance(exc, AccessDeniedError):
        return 403
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, MalformedRequestError):
        return 400
    if isinstance(exc, PayloadTooLargeError):
        return 413
    if isinstance(exc, UnsupportedMediaTypeError):
        return 415
    if isinstance(exc, InvalidArgumentError):
        return 422  # the caller's input: a column, a type, a guardrail
    return 503  # the model failed with no fallback, or a store is unreachable
