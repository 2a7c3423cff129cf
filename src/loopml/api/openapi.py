"""The OpenAPI description of the model server's bodies and answers (``/openapi.json``, ``/docs``).

The routes in :mod:`loopml.api.inference` read their bodies with orjson, not through pydantic
models, so FastAPI cannot infer these schemas; they are declared here, built from the served
model's signature so that a client (or a fuzzer such as schemathesis) sees the real columns
and their JSON types. Everything is plain JSON Schema (OpenAPI 3.1) in dicts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from loopml.core.entities.data import ColumnSchema

_JSON = "application/json"
#: A JSON scalar: one cell of a row or one prediction.
SCALAR: dict[str, Any] = {"type": ["number", "string", "boolean", "null"]}
#: The body of every 4xx and 503 answer.
ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string", "description": "What was wrong and the fix."}},
}
_KEY: dict[str, Any] = {
    "type": ["string", "integer"],
    "description": "A routing key: the same key always takes the same canary route.",
}
#: The per-row event times a request may give (logged as each row's ``event_at``).
TIMESTAMPS: dict[str, Any] = {
    "type": "array",
    "items": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "number"}]},
    "description": "One event time per row, in the rows' order: ISO 8601 strings (without a "
    "zone: UTC) or epoch milliseconds, one form per request. Logged as each row's event "
    "time (monitoring windows use it); without it, the time the request arrived.",
}
#: The per-row ids a caller may give (logged as each row's ``caller_id``).
IDS: dict[str, Any] = {
    "type": "array",
    "items": {"type": ["string", "integer"]},
    "description": "The caller's id of each row, in the rows' order: strings or integers "
    "(kept as text), unique within the request. Logged with each row and echoed in the "
    "answer; labels sent later join on these or on the prediction ids.",
}
_ANSWER_HEADERS: dict[str, Any] = {
    "X-Loopml-Version": {
        "description": "The version that answered, as name@version.",
        "schema": {"type": "string"},
    },
    "X-Loopml-Route": {
        "description": "The route taken: champion, canary or fallback.",
        "schema": {"type": "string"},
    },
}
_ERRORS = {
    400: "The body is empty or not JSON.",
    413: "The body is over the size limit.",
    415: "The Content-Type is not application/json.",
    422: "The body's shape is wrong, a column is missing, mistyped or holds a bad value, or "
    "the model refused the rows' values.",
    503: "The model failed and no fallback is configured. The body says so in general terms "
    "with a request id (also in the x-request-id header), never the model's own error: the "
    "server's log has the detail under that id.",
}
#: The body of a 503: a generic message and the id the server logged the detail with.
UNAVAILABLE: dict[str, Any] = {
    "type": "object",
    "required": ["error", "request_id"],
    "properties": {
        "error": {"type": "string", "description": "What failed, in general terms."},
        "request_id": {"type": "string", "description": "The id of the detail in the log."},
    },
}
_REQUEST_ID = {
    "x-request-id": {
        "description": "The id under which the server logged the detail of the failure.",
        "schema": {"type": "string"},
    }
}


def column_schema(column: ColumnSchema) -> dict[str, Any]:
    """The JSON Schema of one input column's values (from its Arrow ``dtype``)."""
    dtype = column.dtype.lower()
    schema: dict[str, Any]
    if dtype.startswith(("int", "uint")):
        schema = {"type": "integer"}
    elif dtype in ("double", "float", "halffloat") or dtype.startswith("decimal"):
        schema = {"type": "number"}
    elif dtype in ("bool", "boolean"):
        schema = {"type": "boolean"}
    elif dtype.startswith("timestamp"):
        schema = {"type": "string", "format": "date-time"}
    elif dtype.startswith(("string", "large_string", "dictionary")):
        schema = {"type": "string"}
    else:
        return {"description": f"Arrow type {column.dtype}."}
    if column.nullable:
        schema["type"] = [schema["type"], "null"]
    return schema


def _example(column: ColumnSchema) -> Any:
    kind = column_schema(column).get("type")
    kind = kind[0] if isinstance(kind, list) else kind
    return {"integer": 0, "number": 0.0, "boolean": False}.get(str(kind), "")


def record_schema(columns: Sequence[ColumnSchema]) -> dict[str, Any]:
    """One row as an object: every input column required, other keys ignored."""
    return {
        "type": "object",
        "required": [c.name for c in columns],
        "properties": {c.name: column_schema(c) for c in columns},
    }


def predict_body(columns: Sequence[ColumnSchema]) -> dict[str, Any]:
    """The ``requestBody`` of ``POST /predict`` and ``POST /predict/batch``."""
    record = record_schema(columns)
    records = {"type": "array", "items": record, "minItems": 1}
    example = {c.name: _example(c) for c in columns}
    schema = {
        "anyOf": [
            {
                "title": "Records",
                "type": "object",
                "required": ["records"],
                "properties": {
                    "records": records,
                    "key": _KEY,
                    "timestamps": TIMESTAMPS,
                    "ids": IDS,
                },
            },
            {
                "title": "Columns and data",
                "type": "object",
                "required": ["columns", "data"],
                "properties": {
                    "columns": {"type": "array", "items": {"type": "string"}},
                    "data": {
                        "type": "array",
                        "minItems": 1,
                        "items": {"type": "array", "items": SCALAR},
                        "description": "One list of values per row, in the order of 'columns'.",
                    },
                    "key": _KEY,
                    "timestamps": TIMESTAMPS,
                    "ids": IDS,
                },
            },
            {
                "title": "One record",
                **record,
                "properties": {  # a column named like a per-row field is the column
                    "timestamps": {**TIMESTAMPS, "maxItems": 1},
                    "ids": {**IDS, "maxItems": 1},
                    **record["properties"],
                    "key": _KEY,
                },
            },
            {"title": "A list of records", **records},
        ]
    }
    return {
        "required": True,
        "content": {
            _JSON: {
                "schema": schema,
                "examples": {
                    "records": {"value": {"records": [example]}},
                    "columns": {
                        "value": {"columns": list(example), "data": [list(example.values())]}
                    },
                },
            }
        },
    }


def infer_body(columns: Sequence[ColumnSchema]) -> dict[str, Any]:
    """The ``requestBody`` of ``POST /v2/models/{name}/infer``: one tensor per column."""
    datatypes = {"integer": "INT64", "number": "FP64", "boolean": "BOOL"}
    tensors = []
    example = []
    for c in columns:
        values = column_schema(c)
        kind = values.get("type")
        kind = kind[0] if isinstance(kind, list) else kind
        tensors.append(
            {
                "type": "object",
                "required": ["name", "data"],
                "properties": {
                    "name": {"const": c.name},
                    "shape": {"type": "array", "items": {"type": "integer"}},
                    "datatype": {"type": "string"},
                    "data": {"type": "array", "items": values, "minItems": 1},
                },
            }
        )
        example.append(
            {
                "name": c.name,
                "shape": [1],
                "datatype": datatypes.get(str(kind), "BYTES"),
                "data": [_example(c)],
            }
        )
    schema = {
        "type": "object",
        "required": ["inputs"],
        "properties": {
            "id": {"type": "string", "description": "Echoed back as the answer's id."},
            "inputs": {
                "type": "array",
                "prefixItems": tensors,
                "minItems": len(tensors),
                "description": "One tensor per input column, each with one value per row.",
            },
            "parameters": {
                "type": "object",
                "properties": {"key": _KEY, "timestamps": TIMESTAMPS, "ids": IDS},
            },
        },
    }
    return {
        "required": True,
        "content": {_JSON: {"schema": schema, "example": {"id": "1", "inputs": example}}},
    }


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Responses for error ``statuses``, each ``{"error": "..."}`` (a 503 with its
    ``request_id``, also in the ``x-request-id`` header)."""
    return {
        status: {
            "description": _ERRORS.get(status, "The model is not served here."),
            "content": {_JSON: {"schema": UNAVAILABLE if status == 503 else ERROR}},
            **({"headers": _REQUEST_ID} if status == 503 else {}),
        }
        for status in statuses
    }


def predict_responses() -> dict[int | str, dict[str, Any]]:
    """The answers of ``POST /predict`` and ``POST /predict/batch``."""
    answer = {
        "type": "object",
        "required": ["predictions", "prediction_ids", "model", "version", "route"],
        "properties": {
            "predictions": {"type": "array", "items": SCALAR},
            "prediction_ids": {
                "type": "array",
                "items": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
            },
            "model": {"type": "string"},
            "version": {
                "type": "integer",
                "description": "The version that answered (0: a fallback declared with the "
                "deployment, a constant or a heuristic).",
            },
            "route": {"enum": ["champion", "canary", "fallback"]},
            "probabilities": {
                "type": "array",
                "items": {"type": "object", "additionalProperties": {"type": "number"}},
                "description": "Per row, the probability of each class label.",
            },
            "fallback_reason": {"type": "string"},
            "ids": {
                "type": "array",
                "items": {"type": "string"},
                "description": "The caller's row ids as given (as text), when it gave them.",
            },
        },
    }
    ok = {"description": "One prediction per row.", "headers": _ANSWER_HEADERS}
    return {200: {**ok, "content": {_JSON: {"schema": answer}}}, **errors(400, 413, 415, 422, 503)}


def infer_responses() -> dict[int | str, dict[str, Any]]:
    """The answers of ``POST /v2/models/{name}/infer`` (Open Inference Protocol)."""
    tensor = {
        "type": "object",
        "required": ["name", "shape", "datatype", "data"],
        "properties": {
            "name": {"type": "string"},
            "shape": {"type": "array", "items": {"type": "integer"}},
            "datatype": {"type": "string"},
            "data": {"type": "array", "items": SCALAR},
            "parameters": {"type": "object"},
        },
    }
    answer = {
        "type": "object",
        "required": ["model_name", "model_version", "id", "outputs", "parameters"],
        "properties": {
            "model_name": {"type": "string"},
            "model_version": {"type": "string"},
            "id": {"type": "string"},
            "outputs": {"type": "array", "items": tensor},
            "parameters": {
                "type": "object",
                "required": ["prediction_ids", "route"],
                "properties": {
                    "prediction_ids": {"type": "array", "items": {"type": "string"}},
                    "route": {"enum": ["champion", "canary", "fallback", "shadow"]},
                    "ids": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "The caller's row ids as given (as text), when it "
                        "gave them.",
                    },
                },
            },
        },
    }
    ok = {
        "description": "The outputs: predict, and predict_proba for a classifier. With the "
        "binary data extension (Inference-Header-Content-Length) the body is this JSON "
        "followed by the outputs' bytes (application/octet-stream).",
    }
    return {
        200: {
            **ok,
            "headers": _ANSWER_HEADERS,
            "content": {
                _JSON: {"schema": answer},
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            },
        },
        **errors(400, 404, 413, 415, 422, 503),
    }


def explain_responses() -> dict[int | str, dict[str, Any]]:
    """The answers of ``POST /v2/models/{name}/explain`` (see docs/explanations.md)."""
    rows = {"type": "array", "items": {"type": ["number", "null"]}}
    answer = {
        "type": "object",
        "required": ["model_name", "model_version", "kind", "method", "explained", "features"],
        "properties": {
            "model_name": {"type": "string"},
            "model_version": {"type": "string"},
            "id": {"type": "string"},
            "kind": {"enum": ["linear", "tree"]},
            "method": {"type": "string"},
            "explained": {"enum": ["margin", "probability", "value"]},
            "features": {"type": "array", "items": {"type": "string"}},
            "base_values": rows,
            "contributions": {"type": "array", "items": rows},
            "classes": {"type": "array", "items": SCALAR},
        },
    }
    ok = {"description": "Per row: a base value and each input column's contribution."}
    return {200: {**ok, "content": {_JSON: {"schema": answer}}}, **errors(400, 404, 413, 415, 422)}


def metadata_responses() -> dict[int | str, dict[str, Any]]:
    """The answers of ``GET /v2/models/{name}``."""
    tensor = {
        "type": "object",
        "required": ["name", "datatype", "shape"],
        "properties": {
            "name": {"type": "string"},
            "datatype": {"type": "string"},
            "shape": {"type": "array", "items": {"type": "integer"}},
        },
    }
    answer = {
        "type": "object",
        "required": ["name", "versions", "platform", "inputs", "outputs"],
        "properties": {
            "name": {"type": "string"},
            "versions": {"type": "array", "items": {"type": "string"}},
            "platform": {"type": "string"},
            "inputs": {"type": "array", "items": tensor},
            "outputs": {"type": "array", "items": tensor},
            "routes": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "The ref each route serves (champion, canary, shadow, fallback).",
            },
            "runtimes": {
                "type": "object",
                "additionalProperties": {"enum": ["native", "onnx"]},
                "description": "The runtime of each route: the model's library or its ONNX export.",
            },
            "fallback": {
                "type": "string",
                "description": "A fallback declared with the deployment (value:..., python:...).",
            },
            "canary_share": {
                "type": "number",
                "description": "The canary's percent of the requests (when there is a canary).",
            },
            "deployment": {
                "type": "string",
                "description": "The deployment record this server follows (serve --deployment).",
            },
            "deployment_version": {
                "type": "integer",
                "description": "The version of that record whose routes are served.",
            },
        },
    }
    ok = {"description": "The served model: versions, inputs and outputs."}
    return {200: {**ok, "content": {_JSON: {"schema": answer}}}, **errors(404)}


def ready_responses(*, named: bool) -> dict[int | str, dict[str, Any]]:
    """The answers of ``GET /v2/health/ready`` and (``named``) ``GET /v2/models/{name}/ready``."""
    fields = ["name", "ready"] if named else ["ready"]
    answer = {
        "type": "object",
        "required": fields,
        "properties": {"name": {"type": "string"}, "ready": {"type": "boolean"}},
    }
    content = {_JSON: {"schema": answer}}
    if named:
        return {
            200: {"description": "Whether the model is loaded.", "content": content},
            **errors(404),
        }
    return {
        200: {"description": "The model is loaded.", "content": content},
        503: {"description": "The model is not loaded yet.", "content": content},
    }


def server_metadata_responses() -> dict[int | str, dict[str, Any]]:
    """The answer of ``GET /v2`` (the server's name, version and protocol extensions)."""
    answer = {
        "type": "object",
        "required": ["name", "version", "extensions"],
        "properties": {
            "name": {"type": "string"},
            "version": {"type": "string"},
            "extensions": {"type": "array", "items": {"type": "string"}},
        },
    }
    ok = {"description": "The server: name, version and protocol extensions."}
    return {200: {**ok, "content": {_JSON: {"schema": answer}}}}


def labels_body() -> dict[str, Any]:
    """The body of ``POST /v2/models/{name}/labels``."""
    schema = {
        "type": "object",
        "required": ["ids", "labels"],
        "properties": {
            "ids": {
                "type": "array",
                "items": {"type": "string", "maxLength": 250},
                "description": "One row id per label: a prediction id this server returned, or "
                "the caller's own id of the row.",
            },
            "labels": {
                "type": "array",
                "items": SCALAR,
                "description": "The ground truth of each row: one of a classifier's classes "
                "(as the model has it: 1 is not '1'), or a finite number for a regressor.",
            },
            "timestamps": {
                "type": ["array", "null"],
                "items": {"type": ["string", "integer", "null"]},
                "description": "Optional event time per row: ISO 8601 text or ms since the epoch.",
            },
        },
        "additionalProperties": False,
    }
    example = {"ids": ["0f3c", "a17"], "labels": [1, 0]}
    return {"required": True, "content": {_JSON: {"schema": schema, "example": example}}}


def labels_responses() -> dict[int | str, dict[str, Any]]:
    """The answers of ``POST /v2/models/{name}/labels``: the label summary."""
    count = {"type": "integer", "minimum": 0}
    summary = {
        "type": "object",
        "required": [
            "model",
            "received",
            "stored",
            "matched",
            "unknown",
            "duplicates",
            "bad_type",
            "examples",
        ],
        "properties": {
            "model": {"type": "string", "description": "The version checked against."},
            "received": count,
            "stored": count,
            "matched": count,
            "unknown": count,
            "duplicates": count,
            "bad_type": count,
            "examples": {"type": "array", "items": {"type": "string"}},
        },
    }
    ok = {"description": "What became of the labels (LabelSummary)."}
    return {
        200: {**ok, "content": {_JSON: {"schema": summary}}},
        **errors(400, 404, 413, 415, 422, 503),
    }
