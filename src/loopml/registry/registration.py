"""The checks of a registration: the model on its example, and the saved package against the
object in memory; and the ``model.registered`` event."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loopml.core.entities import ColumnSchema, Event, ModelVersion
from loopml.core.errors import InvalidArgumentError, ModelExportError
from loopml.core.ids import new_event_id
from loopml.registry.flavors.base import Flavor, Predictor


def registered_event(version: ModelVersion) -> Event:
    """The audit event of a newly registered version (written in the same transaction)."""
    links: dict[str, str] = {}
    if version.run_id:
        links["run"] = version.run_id
    if version.training_data:
        links["train"] = version.training_data
    if version.validation_data:
        links["validation"] = version.validation_data
    return Event(
        event_id=new_event_id(),
        kind="model.registered",
        subject=f"model:{version.ref}",
        actor=version.created_by,
        at=version.created_at,
        reason=version.description,
        links=links,
        data={
            "flavor": version.flavor,
            "size_bytes": version.size_bytes,
            "manifest_digest": version.manifest_digest,
            "task": version.signature.output.task.value,
        },
    )


def call_on_example(predictor: Predictor, frame: pd.DataFrame, *, ref: str) -> tuple[Any, Any]:
    """Run the model on the example; a model that rejects it is a bad example."""
    try:
        predictions = np.asarray(predictor.predict(frame))
        proba = predictor.predict_proba(frame)
    except Exception as exc:  # the model's own error, whatever its library raises
        raise InvalidArgumentError(
            f"Model {ref!r} fails on its input example ({type(exc).__name__}: {exc}). The "
            f"example's columns are {list(frame.columns)}; pass rows shaped like the data the "
            "model was fitted on (without the target)."
        ) from exc
    if predictions.shape[:1] != (len(frame),):
        raise InvalidArgumentError(
            f"Model {ref!r} returned {predictions.shape} predictions for {len(frame)} example "
            "rows; predict must return one value per row."
        )
    return predictions, proba


def check_round_trip(
    flavor: Flavor,
    folder: Path,
    details: Mapping[str, Any],
    *,
    frame: pd.DataFrame,
    predictions: Any,
    proba: Any,
    name: str,
) -> None:
    """Load the saved payload back and require the same predictions as the original."""
    reloaded = flavor.load(folder, details)
    again = np.asarray(reloaded.predict(frame))
    same = _equal(again, predictions)
    if same and proba is not None:
        again_proba = reloaded.predict_proba(frame)
        same = again_proba is not None and _equal(np.asarray(again_proba), np.asarray(proba))
    if not same:
        raise ModelExportError(
            f"Model {name!r} was not registered: after saving it with the {flavor.name} "
            "flavor and loading it back, it predicts differently on the input example. The "
            "model keeps state the flavor does not save; wrap it in a loopml PythonModel."
        )


def _equal(a: np.ndarray, b: np.ndarray) -> bool:
    if a.shape != b.shape:
        return False
    if a.dtype.kind in "fc" and b.dtype.kind in "fc":
        return bool(np.allclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True))
    return bool(np.array_equal(a, b))


def probe_missing_values(
    predictor: Predictor, frame: pd.DataFrame, inputs: tuple[ColumnSchema, ...]
) -> tuple[ColumnSchema, ...]:
    """Find which input columns the model can take a missing value in, and mark the others
    ``nullable=False`` so a null in them is the caller's error (a 422 naming the column),
    not a model failure.

    One call with a row per column (each with that column missing) settles it when the model
    accepts them all (trees, imputing pipelines); otherwise each column is tried alone.
    """
    candidates = [i for i, column in enumerate(inputs) if column.nullable]
    if not candidates:
        return inputs
    from loopml.registry.enforce import InputEnforcer

    first = frame.iloc[0].to_dict()
    records = [{**first, inputs[i].name: None} for i in candidates]
    try:  # the same conversion a request goes through (nullable ints become floats, ...)
        base = InputEnforcer(inputs).enforce(records)
    except Exception:  # pragma: no cover - a nullable signature accepts missing values
        return inputs
    if _accepts(predictor, base):
        return inputs
    refused = {i for row, i in enumerate(candidates) if not _accepts(predictor, base.iloc[[row]])}
    return tuple(
        dataclasses.replace(column, nullable=False) if i in refused else column
        for i, column in enumerate(inputs)
    )


def _accepts(predictor: Predictor, frame: pd.DataFrame) -> bool:
    try:
        values = np.asarray(predictor.predict(frame))
    except Exception:  # the model's library refused missing values: that is the answer
        return False
    return values.shape[:1] == (len(frame),)
