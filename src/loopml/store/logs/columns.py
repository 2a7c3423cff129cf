"""The columns of the log store: spool lines parsed into one Arrow table per chunk.

Every Parquet file of the log store (and every table :func:`parse_lines` returns) holds:

- the fixed columns of :data:`FIXED`: ``prediction_id``, ``model``, ``version`` (int64),
  ``route``, ``at`` (timestamp ms UTC, when the row was received), ``event_at`` (timestamp ms
  UTC: the caller's event time, else ``at``; never null), ``latency_ms`` (float64, null for
  ``external`` rows logged without one), ``request_key``, ``error``, ``caller_id``;
- the JSON text columns ``inputs``, ``output`` and ``proba`` (what
  :func:`~loopml.store.logs.reader.read_predictions` returns, as it always has);
- typed per-row values: ``in.<feature>`` per input name, ``out`` (the prediction) and
  ``p.<class>`` (float64) per class label of ``proba``. A column's type follows its values
  (:func:`typed_array`): numbers are float64, booleans bool, text string; anything else
  (lists, mappings, a mix of types) is JSON text. A column whose values are all null is left
  out, so it unions cleanly with the files where it has a type.

Files written before the typed columns have no ``event_at``, ``caller_id`` nor ``in.*``;
readers tell them apart by a null ``event_at`` and type their JSON with the same
:func:`typed_columns`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson
import pyarrow as pa

from loopml.store.logs.spool import json_default

#: The fixed columns of every row, in file order.
FIXED = pa.schema(
    [
        ("prediction_id", pa.string()),
        ("model", pa.string()),
        ("version", pa.int64()),
        ("route", pa.string()),
        ("at", pa.timestamp("ms", tz="UTC")),
        ("event_at", pa.timestamp("ms", tz="UTC")),
        ("latency_ms", pa.float64()),
        ("request_key", pa.string()),
        ("error", pa.string()),
        ("caller_id", pa.string()),
    ]
)
#: The JSON text columns (one row's inputs, output and class probabilities).
JSON_COLUMNS = ("inputs", "output", "proba")
#: What :func:`~loopml.store.logs.reader.read_predictions` returns: the columns it always
#: had, then ``event_at`` and ``caller_id``.
SCHEMA = pa.schema(
    [
        FIXED.field(name) if name in FIXED.names else pa.field(name, pa.string())
        for name in (
            "prediction_id",
            "model",
            "version",
            "route",
            "at",
            "latency_ms",
            *JSON_COLUMNS,
            "request_key",
            "error",
            "event_at",
            "caller_id",
        )
    ]
)
#: Prefix of the typed input columns (``in.age``).
INPUT_PREFIX = "in."
#: The typed prediction column.
OUTPUT_COLUMN = "out"
#: Prefix of the typed class probability columns (``p.1``).
PROBA_PREFIX = "p."

_DUMPS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
_BAD_LINE = (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError)


def is_typed(name: str) -> bool:
    """Whether ``name`` is a typed value column (``in.*``, ``out``, ``p.*``)."""
    return name == OUTPUT_COLUMN or name.startswith((INPUT_PREFIX, PROBA_PREFIX))


def typed_array(values: Sequence[Any]) -> pa.Array | None:
    """Return ``values`` (one column, JSON-ready) as a typed Arrow array; None if all null.

    Numbers become float64, booleans bool, text string; anything else (lists, mappings, a
    mix of types) JSON text.
    """
    try:
        arr = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        arr = None
    if arr is not None:
        if arr.null_count == len(arr):
            return None
        scalar = _scalar_typed(arr)
        if scalar is not None:
            return scalar
    return pa.array([None if v is None else _dumps(v) for v in values], pa.string())


def typed_columns(prefix: str, maps: Sequence[Mapping[str, Any] | None]) -> dict[str, pa.Array]:
    """One typed column per key of ``maps`` (one mapping or None per row), named
    ``prefix + key``, in order of first appearance; all-null columns are left out.

    Arrow infers every key's values at once (one struct array, in C++); keys it cannot type
    as one scalar type (lists, mappings, mixed types) are typed one by one by
    :func:`typed_array`.
    """
    import pyarrow.compute as pc

    try:
        struct = pa.array(maps)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError):
        struct = None
    if struct is None or not pa.types.is_struct(struct.type):
        keys = list(dict.fromkeys(key for m in maps if m for key in m))
        return _by_key(prefix, maps, keys)
    out: dict[str, pa.Array] = {}
    for index, field in enumerate(struct.type):
        child = pc.struct_field(struct, [index])
        arr = _scalar_typed(child)
        if arr is None and not pa.types.is_null(child.type):
            arr = _by_key(prefix, maps, [field.name]).get(f"{prefix}{field.name}")
        if arr is not None and arr.null_count < len(arr):
            out[f"{prefix}{field.name}"] = arr
    return out


def _by_key(
    prefix: str, maps: Sequence[Mapping[str, Any] | None], keys: Iterable[str]
) -> dict[str, pa.Array]:
    out: dict[str, pa.Array] = {}
    for key in keys:
        arr = typed_array([None if m is None else m.get(key) for m in maps])
        if arr is not None:
            out[f"{prefix}{key}"] = arr
    return out


def _scalar_typed(arr: pa.Array) -> pa.Array | None:
    """``arr`` in its log store type when it holds scalars (None for other types)."""
    kind = arr.type
    if pa.types.is_boolean(kind):
        return arr
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return arr.cast(pa.float64(), safe=False)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return arr.cast(pa.string())
    return None


def parse_lines(lines: Iterable[bytes]) -> tuple[pa.Table, int]:
    """Parse whole JSON lines (spool records) into a table of the log store's columns.

    Lines that are not records are skipped and counted, never an error.

    Returns:
        The table (:data:`FIXED`, the JSON columns, then the typed ones) and the number of
        skipped lines.
    """
    skipped = 0
    fixed: list[tuple[Any, ...]] = []
    inputs: list[Mapping[str, Any]] = []
    outputs: list[Any] = []
    probas: list[Mapping[str, Any] | None] = []
    loads = orjson.loads
    for line in lines:
        if not line.strip():
            continue
        try:
            d = loads(line)
            inp, proba = d["inputs"], d.get("proba")
            if not isinstance(inp, dict) or not (proba is None or isinstance(proba, dict)):
                raise TypeError("inputs and proba must be mappings")
            at, event_at, latency = d["at"], d.get("event_at"), d["latency_ms"]
            caller = d.get("caller_id")
            fixed.append(
                (
                    str(d["prediction_id"]),
                    str(d["model"]),
                    int(d["version"]),
                    str(d["route"]),
                    int(at),
                    int(at if event_at is None else event_at),
                    None if latency is None else float(latency),
                    d.get("request_key"),
                    d.get("error"),
                    None if caller is None else str(caller),
                )
            )
            output = d.get("output")
        except _BAD_LINE:
            skipped += 1
            continue
        inputs.append(inp)
        outputs.append(output)
        probas.append(proba)
    return records_table(fixed, inputs, outputs, probas), skipped


def records_table(
    fixed: Sequence[tuple[Any, ...]],
    inputs: Sequence[Mapping[str, Any]],
    outputs: Sequence[Any],
    probas: Sequence[Mapping[str, Any] | None],
) -> pa.Table:
    """Build the table of the log store's columns from parsed rows.

    Args:
        fixed: One tuple of the :data:`FIXED` values per row (times as ms integers).
        inputs: One row's inputs by feature name, per row (JSON-ready values; NumPy
            scalars are accepted, as by the spool).
        outputs: The prediction, per row.
        probas: Class probabilities by class label (or None), per row.
    """
    columns = list(zip(*fixed, strict=True)) if fixed else [()] * len(FIXED)
    arrays: dict[str, pa.Array] = {}
    for field, values in zip(FIXED, columns, strict=True):
        if pa.types.is_timestamp(field.type):
            arrays[field.name] = pa.array(values, pa.int64()).cast(field.type)
        else:
            arrays[field.name] = pa.array(values, field.type)
    dumps = _dumps
    arrays["inputs"] = pa.array([dumps(m) for m in inputs], pa.string())
    arrays["output"] = pa.array([dumps(v) for v in outputs], pa.string())
    arrays["proba"] = pa.array([None if p is None else dumps(p) for p in probas], pa.string())
    arrays.update(typed_columns(INPUT_PREFIX, inputs))
    out = typed_array(outputs)
    if out is not None:
        arrays[OUTPUT_COLUMN] = out
    arrays.update(typed_columns(PROBA_PREFIX, probas))
    return pa.table(arrays)


def _dumps(value: Any) -> str:
    """``value`` as JSON text (NumPy scalars, tuples and mappings as plain JSON)."""
    return orjson.dumps(value, default=json_default, option=_DUMPS).decode()


def unify(tables: Sequence[pa.Table]) -> pa.Table:
    """Concatenate tables whose columns may differ: a column missing from a table is null
    there, and a column typed differently in two tables (float64 here, string there) becomes
    string."""
    types: dict[str, pa.DataType] = {}
    for table in tables:
        for field in table.schema:
            seen = types.get(field.name)
            if seen is None or pa.types.is_null(seen):
                types[field.name] = field.type
            elif field.type != seen and not pa.types.is_null(field.type):
                types[field.name] = pa.string()
    schema = pa.schema(list(types.items()))
    parts = [conform(table, schema) for table in tables]
    return pa.concat_tables(parts) if parts else schema.empty_table()


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Return ``table`` with exactly the columns of ``schema`` (missing ones null), cast."""
    arrays = []
    for field in schema:
        if field.name in table.column_names:
            col = table.column(field.name)
            arrays.append(col if col.type == field.type else col.cast(field.type, safe=False))
        else:
            arrays.append(pa.nulls(table.num_rows, field.type))
    return pa.Table.from_arrays(arrays, schema=schema)
