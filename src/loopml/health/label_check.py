"""Does each label fit the model? :func:`check_labels`, vectorized over an Arrow array.

A classifier's label must be one of its classes. Numbers and text are never mixed up: ``"1"``
is not the class ``1`` (nor ``1`` the class ``"1"``), and ``True`` is not ``1``; a number
matches a numeric class of the same value (``1.0`` is the class ``1``: no information is
lost). A regressor's label must be a finite number. A missing label fits no model. The
stored label is JSON text: for a classifier, the class itself as the signature has it (so
``1.0`` is stored as ``1``); for a regressor, the number.

Arrays of one type are checked with Arrow kernels; a list mixing types (``[1, "a"]``), which
Arrow cannot hold in one array, is checked value by value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from loopml.core.entities import ModelVersion, TaskKind

#: How many refused labels are described in a summary's examples.
EXAMPLES = 3


@dataclass(frozen=True)
class CheckedLabels:
    """Labels checked against a model.

    Attributes:
        fits: One bool per label: whether it fits the model.
        label_json: One JSON text per label (null where it does not fit).
        problems: Messages for the first few labels that do not fit.
    """

    fits: np.ndarray
    label_json: pa.Array
    problems: tuple[str, ...]


def as_arrow(values: Any) -> pa.Array | None:
    """``values`` (a list, NumPy array, pandas Series or Arrow array) as one Arrow array, or
    None when they mix types Arrow cannot hold together. NaN counts as missing."""
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks()
    if isinstance(values, pa.Array):
        return values
    try:
        array = pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return None
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    return array


def check_labels(version: ModelVersion, labels: Any, ids: Sequence[str]) -> CheckedLabels:
    """Check each of ``labels`` against ``version``'s task and classes.

    Args:
        version: The model version whose signature says what a label must be.
        labels: The labels (a list, NumPy array, pandas Series or Arrow array).
        ids: The row id of each label (for the messages).

    Returns:
        Which labels fit, their JSON text, and messages for a few that do not.
    """
    output = version.signature.output
    array = as_arrow(labels)
    if array is None:
        values = [_plain(v) for v in labels]
        json_texts = [_fit_one(output.task, output.classes, v) for v in values]
        fits = np.array([t is not None for t in json_texts], dtype=bool)
        label_json = pa.array(json_texts, pa.string())
    else:
        fits, label_json = _fit_array(output.task, output.classes, array)
        values = None
    bad = np.flatnonzero(~fits)[:EXAMPLES]
    problems = []
    for position in bad:
        value = values[position] if values is not None else array[int(position)].as_py()  # type: ignore[index]
        problems.append(_problem(version, value, int(position), ids[int(position)]))
    return CheckedLabels(fits=fits, label_json=label_json, problems=tuple(problems))


def _kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "text"
    if isinstance(value, int | float):
        return "number"
    return None


def _plain(value: Any) -> Any:
    item = getattr(value, "item", None)  # NumPy scalars
    return item() if callable(item) and not isinstance(value, str | bytes) else value


def _fit_one(task: TaskKind, classes: Sequence[Any], value: Any) -> str | None:
    """The JSON text of one label, or None when it does not fit."""
    kind = _kind(value)
    if kind is None or (kind == "number" and not math.isfinite(value)):
        return None
    if task.is_classification and classes:
        for cls in classes:
            if _kind(cls) == kind and cls == value:
                return orjson.dumps(cls).decode()
        return None
    if task is TaskKind.REGRESSION and kind != "number":
        return None
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:  # an integer beyond 64 bits
        return None


def _fit_array(
    task: TaskKind, classes: Sequence[Any], array: pa.Array
) -> tuple[np.ndarray, pa.Array]:
    kind = _array_kind(array.type)
    n = len(array)
    nothing = (np.zeros(n, dtype=bool), pa.nulls(n, pa.string()))
    if kind is None:
        return nothing
    if task.is_classification and classes:
        same = [(i, c) for i, c in enumerate(classes) if _kind(c) == kind]
        if not same:
            return nothing
        positions = np.array([i for i, _ in same], dtype=np.int64)
        candidates = [c for _, c in same]
        if kind == "number":
            if pa.types.is_integer(array.type) and all(isinstance(c, int) for c in candidates):
                value_set = pa.array(candidates, pa.int64())
                array = array.cast(pa.int64())
            else:
                value_set = pa.array([float(c) for c in candidates], pa.float64())
                array = array.cast(pa.float64(), safe=False)
        else:
            value_set = pa.array(candidates)
            array = array.cast(value_set.type)
        local = pc.index_in(array, value_set=value_set)
        fits = local.is_valid().to_numpy(zero_copy_only=False)
        index = np.where(fits, local.fill_null(0).to_numpy(zero_copy_only=False), 0)
        texts = pa.array([orjson.dumps(c).decode() for c in classes], pa.string())
        taken = texts.take(pa.array(positions[index]))
        return fits, pc.if_else(pa.array(fits), taken, pa.scalar(None, pa.string()))
    if kind == "number":
        finite = pc.is_finite(array) if pa.types.is_floating(array.type) else array.is_valid()
        fits = finite.fill_null(False).to_numpy(zero_copy_only=False)
    elif task is TaskKind.REGRESSION:
        return nothing
    else:  # a task without classes: any present label
        fits = array.is_valid().to_numpy(zero_copy_only=False)
    if kind == "text":
        texts = pa.array(
            [None if v is None else orjson.dumps(v).decode() for v in array.to_pylist()],
            pa.string(),
        )
    elif kind == "bool":
        texts = pc.if_else(array, pa.scalar("true"), pa.scalar("false"))
    else:
        texts = array.cast(pa.string())
    return fits, pc.if_else(pa.array(fits), texts, pa.scalar(None, pa.string()))


def _array_kind(kind: pa.DataType) -> str | None:
    if pa.types.is_boolean(kind):
        return "bool"
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return "text"
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return "number"
    return None


def _problem(version: ModelVersion, value: Any, position: int, row_id: str) -> str:
    output = version.signature.output
    where = f"Label {value!r} at position {position} (id {row_id!r})"
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f"{where} is missing; give a label or leave the row out."
    if output.task.is_classification and output.classes:
        shown = ", ".join(repr(c) for c in output.classes)
        hint = ""
        kind = _kind(value)
        for cls in output.classes:
            if kind is not None and _kind(cls) != kind and str(cls) == str(value):
                hint = f" Give the class itself ({cls!r}), not its {kind} form."
                break
        return f"{where} is not one of the classes of {version.ref} ({shown}); not stored.{hint}"
    if output.task is TaskKind.REGRESSION:
        return f"{where} is not a finite number, as {version.ref} (a regressor) needs; not stored."
    return f"{where} cannot be stored as JSON; give a string, number or bool."
