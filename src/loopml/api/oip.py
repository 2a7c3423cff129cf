"""The Open Inference Protocol (KServe v2, the HTTP protocol of Triton's clients) over an
:class:`~loopml.serving.InferenceService`.

Routes (``{name}`` is the served model; ``/versions/{version}`` pins one of the versions it
serves: the champion's, the canary's, the fallback's or the shadow's):

* ``GET /v2``: server metadata (name, version, extensions);
* ``GET /v2/health/live``, ``GET /v2/health/ready``;
* ``GET /v2/models/{name}[/versions/{version}]``: model metadata (inputs, and the outputs
  ``predict`` and, for a classifier, ``predict_proba``);
* ``GET /v2/models/{name}[/versions/{version}]/ready``;
* ``POST /v2/models/{name}[/versions/{version}]/explain``: the body of ``infer``; the answer
  gives each row's base value and the contribution of each input column (tree and linear
  models; :mod:`loopml.serving.explain`), a 422 naming what is supported for other models;
* ``POST /v2/models/{name}[/versions/{version}]/infer``: one input tensor per column (shape
  ``[rows]`` or ``[rows, 1]``), in JSON (``data``) or, with the binary data extension, as raw
  bytes after the JSON header (``Inference-Header-Content-Length``, each input's
  ``binary_data_size``); outputs come back in JSON, or as binary data when the request asks
  (``"parameters": {"binary_data_output": true}``, or ``binary_data`` per requested output),
  as Triton's clients do by default. Request ``parameters`` may carry ``timestamps`` and
  ``ids`` (lists, one per row, as in ``/predict``): each row's event time and the caller's
  id of it, logged with the row; the ids come back as ``parameters.ids`` of the answer.

Bad input is a 4xx naming the tensor: a malformed body or binary part (a header length that
is not the JSON's, sizes that run past the end, a tensor name given twice) 400, a tensor of
the wrong shape, datatype or values 422, an unknown model or version 404.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from loopml.api import bodies, openapi
from loopml.api.tensors import ARROW_DATATYPES, check_datatype, datatype_of, decode, encode
from loopml.core.errors import InvalidArgumentError, MalformedRequestError, NotFoundError
from loopml.core.version import VERSION
from loopml.registry import LoadedModel
from loopml.serving import InferenceService, PredictionResult
from loopml.serving.explain import Explainers
from loopml.serving.routing import CHAMPION

#: The server's name in ``GET /v2``.
SERVER_NAME = "loopml"
#: Protocol extensions this server supports.
EXTENSIONS = ("binary_tensor_data",)
#: The header giving the size of the JSON part of a body with binary data.
HEADER_LENGTH = "Inference-Header-Content-Length"
PREDICT = "predict"
PREDICT_PROBA = "predict_proba"


@dataclass(frozen=True)
class InferRequest:
    """An inference request, parsed.

    Attributes:
        id: The request's id, echoed back.
        columns: One list of values per input column.
        key: The routing key (``parameters.key``).
        timestamps: Each row's event time (``parameters.timestamps``; checked by the service).
        ids: Each row's caller id (``parameters.ids``; checked by the service).
        outputs: The outputs asked for and whether each comes back as binary data (None:
            every output).
        binary_output: Whether outputs not asked for by name come back as binary data.
    """

    id: str | None
    columns: dict[str, list[Any] | np.ndarray]
    key: str | None
    outputs: tuple[tuple[str, bool], ...] | None
    binary_output: bool
    timestamps: Any = None
    ids: Any = None


def _split(raw: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    """The JSON header and the binary part of a body."""
    if header_length is None:
        return raw, b""
    text = header_length.strip()
    if not text.isdigit():
        raise MalformedRequestError(
            f"The {HEADER_LENGTH} header must be the size in bytes of the body's JSON part; "
            f"got {header_length!r}."
        )
    size = int(text)
    if not 0 < size <= len(raw):
        raise MalformedRequestError(
            f"The {HEADER_LENGTH} header says the JSON part is {size} bytes, but the body is "
            f"{len(raw)} bytes: send the JSON part's size, then the tensors' bytes after it."
        )
    return raw[:size], raw[size:]


def _check_shape(shape: Any, rows: int, where: str) -> None:
    if shape is None:
        return
    if (
        not isinstance(shape, list)
        or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape)
        or len(shape) not in (1, 2)
        or shape[0] != rows
        or (len(shape) == 2 and shape[1] != 1)
    ):
        raise InvalidArgumentError(
            f"{where} has the shape {shape!r} but {rows} values: the shape of a column is "
            f"[rows] (or [rows, 1]), here [{rows}]."
        )


def parse_request(raw: bytes, header_length: str | None) -> InferRequest:
    """Parse an inference body (JSON, or a JSON header and binary tensor data).

    Raises:
        MalformedRequestError: The body or its binary part is malformed, or a tensor name
            appears twice (400).
        InvalidArgumentError: A tensor has the wrong form, shape, datatype or values (422).
    """
    header, binary = _split(raw, header_length)
    body = bodies.parse_json(header)
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
        raise InvalidArgumentError("The body must be an object with 'inputs': a list of tensors.")
    columns: dict[str, list[Any] | np.ndarray] = {}
    first: dict[str, int] = {}
    offset = 0
    for i, tensor in enumerate(body["inputs"]):
        if not isinstance(tensor, dict):
            raise InvalidArgumentError(f"inputs[{i}] must be an object with name, shape and data.")
        name = tensor.get("name")
        if not isinstance(name, str):
            raise InvalidArgumentError(f"inputs[{i}].name must be a string (the column's name).")
        where = f"inputs[{i}] ({name!r})"
        if name in first:
            raise MalformedRequestError(
                f"The input {name!r} is given twice (inputs[{first[name]}] and inputs[{i}]): "
                "send each column once."
            )
        first[name] = i
        parameters = tensor.get("parameters") or {}
        if not isinstance(parameters, dict):
            raise InvalidArgumentError(f"{where}.parameters must be an object.")
        size = parameters.get("binary_data_size")
        if size is not None:
            values = _binary_values(tensor, size, binary, offset, where=where, name=name)
            offset += size
        else:
            values = _json_values(tensor, where=where)
        _check_shape(tensor.get("shape"), len(values), where)
        columns[name] = values
    if offset != len(binary):
        raise MalformedRequestError(
            f"The body has {len(binary)} bytes of binary data after its JSON part, but the "
            f"inputs' binary_data_size add up to {offset}: check {HEADER_LENGTH} and the sizes."
        )
    if len({len(v) for v in columns.values()}) > 1:
        raise InvalidArgumentError("Every input tensor must have the same number of rows.")
    parameters = body.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise InvalidArgumentError("'parameters' must be an object.")
    key = parameters.get("key")
    binary_output = parameters.get("binary_data_output") is True
    request_id = body.get("id")
    return InferRequest(
        id=request_id if isinstance(request_id, str) else None,
        columns=columns,
        key=None if key is None else str(key),
        outputs=_requested(body.get("outputs"), binary_output),
        binary_output=binary_output,
        timestamps=parameters.get("timestamps"),
        ids=parameters.get("ids"),
    )


def _json_values(tensor: Mapping[str, Any], *, where: str) -> list[Any]:
    data = tensor.get("data")
    if not isinstance(data, list):
        raise InvalidArgumentError(f"{where}.data must be a list of values.")
    if any(isinstance(v, list | dict) for v in data):
        raise InvalidArgumentError(f"{where}.data must be flat: one value per row.")
    return data


def _binary_values(
    tensor: Mapping[str, Any], size: Any, binary: bytes, offset: int, *, where: str, name: str
) -> list[Any] | np.ndarray:
    """The values of a tensor sent as the ``size`` bytes at ``offset`` of the binary part."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise InvalidArgumentError(
            f"{where}.parameters.binary_data_size must be a byte count (an integer >= 0); "
            f"got {size!r}."
        )
    if "data" in tensor:
        raise InvalidArgumentError(
            f"{where} has both 'data' and a binary_data_size: send its values one way."
        )
    left = len(binary) - offset
    if size > left:
        raise MalformedRequestError(
            f"{where} declares {size} bytes of binary data, but only {left} bytes are "
            f"left in the body: check its binary_data_size and {HEADER_LENGTH}."
        )
    datatype = check_datatype(tensor.get("datatype"), name=name)
    return decode(binary[offset : offset + size], datatype, name=name)


def _requested(outputs: Any, binary_output: bool) -> tuple[tuple[str, bool], ...] | None:
    if outputs is None or outputs == []:  # none named: every output
        return None
    if not isinstance(outputs, list):
        raise InvalidArgumentError("'outputs' must be a list of objects, each with a 'name'.")
    asked: list[tuple[str, bool]] = []
    for i, output in enumerate(outputs):
        name = output.get("name") if isinstance(output, dict) else None
        if not isinstance(name, str):
            raise InvalidArgumentError(f"outputs[{i}] must be an object with a 'name' (string).")
        parameters = output.get("parameters") or {}
        binary = parameters.get("binary_data") if isinstance(parameters, dict) else None
        asked.append((name, binary_output if binary is None else binary is True))
    return tuple(asked)


def output_names(model: LoadedModel) -> list[str]:
    """The outputs of ``model``: ``predict``, and ``predict_proba`` for a classifier."""
    output = model.signature.output
    return [PREDICT, PREDICT_PROBA] if output.has_proba and output.classes else [PREDICT]


def _tensors(result: PredictionResult) -> dict[str, dict[str, Any]]:
    tensors: dict[str, dict[str, Any]] = {
        PREDICT: {
            "name": PREDICT,
            "shape": [len(result.predictions)],
            "datatype": datatype_of(result.predictions),
            "data": result.predictions,
        }
    }
    if result.proba is not None:
        labels = list(result.proba[0]) if result.proba else []
        tensors[PREDICT_PROBA] = {
            "name": PREDICT_PROBA,
            "shape": [len(result.proba), len(labels)],
            "datatype": "FP64",
            "data": [row[label] for row in result.proba for label in labels],
            "parameters": {"labels": labels},
        }
    return tensors


def answer(result: PredictionResult, request: InferRequest) -> tuple[bytes, dict[str, str]]:
    """The body of the answer (JSON, or a JSON header and binary data) and its headers."""
    tensors = _tensors(result)
    if request.outputs is None:
        chosen = [(name, request.binary_output) for name in tensors]
    else:
        chosen = [(name, binary) for name, binary in request.outputs if name in tensors]
    outputs: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for name, binary in chosen:
        tensor = dict(tensors[name])
        if binary:
            blob = encode(tensor.pop("data"), tensor["datatype"])
            tensor["parameters"] = {**tensor.get("parameters", {}), "binary_data_size": len(blob)}
            blobs.append(blob)
        outputs.append(tensor)
    parameters: dict[str, Any] = {"prediction_ids": list(result.ids), "route": result.route}
    if result.caller is not None and result.caller.ids is not None:
        parameters["ids"] = result.caller.ids
    header = orjson.dumps(
        {
            "model_name": result.model,
            "model_version": str(result.version),
            "id": request.id if request.id is not None else result.ids[0],
            "outputs": outputs,
            "parameters": parameters,
        }
    )
    headers = {
        "X-Loopml-Version": f"{result.model}@{result.version}",
        "X-Loopml-Route": result.route,
    }
    if not blobs:
        return header, {**headers, "content-type": bodies.JSON}
    headers[HEADER_LENGTH] = str(len(header))
    return header + b"".join(blobs), {**headers, "content-type": bodies.OCTETS}


def model_metadata(service: InferenceService, version: int | None = None) -> dict[str, Any]:
    """``GET /v2/models/{name}[/versions/{version}]``: the served versions, the inputs and
    outputs of the champion (or of the version named), each route's ref and runtime."""
    role = CHAMPION if version is None else service.role_of(version)
    model = service.slots[role].current.model
    output = model.signature.output
    outputs = [
        {"name": PREDICT, "datatype": ARROW_DATATYPES.get(output.dtype, "BYTES"), "shape": [-1]}
    ]
    if PREDICT_PROBA in output_names(model):
        shape = [-1, len(output.classes)]
        outputs.append({"name": PREDICT_PROBA, "datatype": "FP64", "shape": shape})
    deployment = service.describe()
    return {
        "name": deployment.pop("name"),
        "versions": deployment.pop("versions"),
        "platform": f"loopml-{model.manifest.flavor}",
        "inputs": [
            {"name": c.name, "datatype": ARROW_DATATYPES.get(c.dtype, "BYTES"), "shape": [-1]}
            for c in model.signature.inputs
        ],
        "outputs": outputs,
        **deployment,
    }


def _version(service: InferenceService, text: str) -> int:
    """The version a path names, if this server serves it."""
    if text.isascii() and text.isdigit() and int(text) in service.served_versions():
        return int(text)
    served = ", ".join(str(v) for v in service.served_versions())
    raise NotFoundError(
        f"Version {text!r} of {service.name!r} is not served here; this server serves "
        f"version(s) {served}."
    )


def add_routes(app: FastAPI, service: InferenceService, *, max_body: int) -> None:
    """Add the protocol's routes to ``app``."""

    def known(name: str) -> None:
        if name != service.name:
            raise NotFoundError(f"No model {name!r} here; this server serves {service.name!r}.")

    @app.get("/v2", responses=openapi.server_metadata_responses())
    async def server_metadata() -> Mapping[str, Any]:
        return {"name": SERVER_NAME, "version": VERSION, "extensions": list(EXTENSIONS)}

    @app.get("/v2/health/live")
    async def live() -> Mapping[str, bool]:
        return {"live": True}

    @app.get("/v2/health/ready", responses=openapi.ready_responses(named=False))
    async def ready() -> Response:
        ok = service.ready()
        return JSONResponse({"ready": ok}, status_code=200 if ok else 503)

    @app.get("/v2/models/{name}", responses=openapi.metadata_responses())
    async def metadata(name: str) -> Response:
        known(name)
        return Response(orjson.dumps(model_metadata(service)), media_type=bodies.JSON)

    @app.get("/v2/models/{name}/versions/{version}", responses=openapi.metadata_responses())
    async def version_metadata(name: str, version: str) -> Response:
        known(name)
        body = model_metadata(service, _version(service, version))
        return Response(orjson.dumps(body), media_type=bodies.JSON)

    @app.get("/v2/models/{name}/ready", responses=openapi.ready_responses(named=True))
    async def model_ready(name: str) -> Response:
        known(name)
        return JSONResponse({"name": name, "ready": service.ready()})

    @app.get(
        "/v2/models/{name}/versions/{version}/ready",
        responses=openapi.ready_responses(named=True),
    )
    async def version_ready(name: str, version: str) -> Response:
        known(name)
        _version(service, version)
        return JSONResponse({"name": name, "ready": service.ready()})

    async def infer(request: Request, version: int | None) -> Response:
        raw = await bodies.read(request, max_body, kinds=(bodies.JSON, bodies.OCTETS))
        parsed = parse_request(raw, request.headers.get(HEADER_LENGTH))
        if parsed.outputs is not None:
            role = CHAMPION if version is None else service.role_of(version)
            names = output_names(service.slots[role].current.model)
            for asked, _binary in parsed.outputs:
                if asked not in names:
                    raise InvalidArgumentError(
                        f"The output {asked!r} is not one of this model's outputs: "
                        f"{', '.join(names)}."
                    )
        result = await service.predict(
            parsed.columns,
            key=parsed.key,
            version=version,
            timestamps=parsed.timestamps,
            ids=parsed.ids,
        )
        content, headers = answer(result, parsed)
        kind = headers.pop("content-type")
        return Response(content, media_type=kind, headers=headers)

    explainers = Explainers(service.registry)

    async def explain(request: Request, version: int | None) -> Response:
        raw = await bodies.read(request, max_body, kinds=(bodies.JSON, bodies.OCTETS))
        parsed = parse_request(raw, request.headers.get(HEADER_LENGTH))
        role = CHAMPION if version is None else service.role_of(version)
        served = service.slots[role].current.model
        body = await run_in_threadpool(
            explainers.explain, served, parsed.columns, request_id=parsed.id
        )
        return Response(orjson.dumps(body), media_type=bodies.JSON)

    @app.post("/v2/models/{name}/explain", responses=openapi.explain_responses())
    async def model_explain(name: str, request: Request) -> Response:
        """Per-row contributions of each input column (tree and linear models)."""
        known(name)
        return await explain(request, None)

    @app.post("/v2/models/{name}/versions/{version}/explain", responses=openapi.explain_responses())
    async def version_explain(name: str, version: str, request: Request) -> Response:
        """Per-row contributions of each input column, by a version served here."""
        known(name)
        return await explain(request, _version(service, version))

    @app.post("/v2/models/{name}/infer", responses=openapi.infer_responses())
    async def model_infer(name: str, request: Request) -> Response:
        known(name)
        return await infer(request, None)

    @app.post("/v2/models/{name}/versions/{version}/infer", responses=openapi.infer_responses())
    async def version_infer(name: str, version: str, request: Request) -> Response:
        known(name)
        return await infer(request, _version(service, version))
