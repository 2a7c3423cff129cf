"""Logging predictions of a model served elsewhere: :func:`log_predictions`.

The rows go to the prediction log store (route ``external``) with the same columns as the
rows the model server logs, so monitoring reads both the same way. Everything is checked
before anything is written: a call either logs every row or none.

Row ids: with ``ids``, each row's ``caller_id`` is the caller's id and its
``prediction_id`` is derived from the model name and that id, so logging the same rows again
(a retry) does not count them twice; without ``ids``, fresh prediction ids are made.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from loopml.core.clock import now_ms
from loopml.core.errors import InvalidArgumentError, did_you_mean
from loopml.store.logs.records import PredictionRecord, new_prediction_id

if TYPE_CHECKING:
    import pandas as pd

    from loopml.core.entities import ModelVersion
    from loopml.registry import ModelRegistry

#: Rows named at most in one error message.
_SHOWN = 5


def log_predictions(
    registry: ModelRegistry,
    logs_url: str,
    model: str,
    frame: pd.DataFrame,
    predictions: Any,
    *,
    ids: Sequence[Any] | None = None,
    probabilities: Any = None,
    timestamps: Any = None,
    latency_ms: Any = None,
    at: int | None = None,
    prediction_ids: Sequence[str] | None = None,
) -> list[str]:
    """Log the predictions a model served elsewhere made, as ``external`` rows.

    Args:
        registry: The model registry (resolves ``model`` and its signature).
        logs_url: The prediction log store.
        model: ``name@version`` or ``name@alias``, resolved once; rows record that version.
        frame: The input rows: a DataFrame with (at least) the signature's input columns;
            other columns are ignored.
        predictions: One prediction per row (array-like).
        ids: The caller's row ids (unique, non-empty once turned into text); returned and
            stored as ``caller_id``, for delayed labels to join on. None: ids are made.
        probabilities: Class probabilities, ``n x k`` in the model's class order (as
            ``predict_proba``; for a binary model the positive class is the second), values
            in [0, 1]. A 1-D array for a binary model is the positive class's probability.
        timestamps: Each row's event time: datetimes, pandas Timestamps, ISO strings or
            epoch milliseconds (naive times are UTC). None: the time of this call.
        latency_ms: The time the model took, one number for every row or one per row.
        at: When the rows were received (ms since the epoch; default now).
        prediction_ids: Without ``ids``, the prediction ids to use instead of fresh ones
            (the team server derives them from a request's idempotency key, so a retried
            upload logs the same rows); one per row.

    Returns:
        The row ids: ``ids`` as text when given, else the prediction ids made.

    Raises:
        InvalidArgumentError: A bad model reference or any bad argument (nothing is written).
        NotFoundError: No such model, version or alias.
        StoreError: The log store cannot be written.
    """
    import pandas as pd

    version = _resolve(registry, model)
    if not isinstance(frame, pd.DataFrame):
        raise InvalidArgumentError(
            "The 'frame' parameter of log_predictions must be a pandas DataFrame of the "
            f"input rows. Got {type(frame).__name__} instead."
        )
    n = len(frame)
    inputs = _inputs(frame, version)
    preds = _predictions(predictions, n)
    row_ids, pids = _ids(ids, n, version.name, prediction_ids)
    proba = _probabilities(probabilities, n, version)
    events = _timestamps(timestamps, n)
    latencies = _latencies(latency_ms, n)
    received = now_ms() if at is None else int(at)
    records = [
        PredictionRecord(
            prediction_id=pids[i],
            model=version.name,
            version=version.version,
            route="external",
            at=received,
            latency_ms=latencies[i],
            inputs=inputs[i],
            output=preds[i],
            proba=None if proba is None else proba[i],
            event_at=None if events is None else events[i],
            caller_id=None if ids is None else row_ids[i],
        )
        for i in range(n)
    ]
    from loopml.store.logs.partitions import write_records

    write_records(logs_url, records)
    return row_ids


def _resolve(registry: ModelRegistry, model: str) -> ModelVersion:
    if not isinstance(model, str) or "@" not in model:
        raise InvalidArgumentError(
            "The 'model' parameter of log_predictions must be 'name@version' or "
            f"'name@alias' (the version that made the predictions). Got {model!r} instead."
        )
    version: ModelVersion = registry.get(model)
    return version


def _inputs(frame: pd.DataFrame, version: ModelVersion) -> list[dict[str, Any]]:
    """One dict of JSON-ready values per row, of the signature's input columns."""
    import pandas as pd

    names = list(version.signature.input_names)
    columns = [str(c) for c in frame.columns]
    missing = [name for name in names if name not in columns]
    if missing:
        hint = did_you_mean(missing[0], [c for c in columns if c not in names])
        raise InvalidArgumentError(
            f"The frame given to log_predictions lacks the input columns {missing} of "
            f"{version.ref} (it has {columns[:20]}). Add them.{hint}"
        )
    twice = sorted({name for name in names if columns.count(name) > 1})
    if twice:
        raise InvalidArgumentError(
            f"The frame given to log_predictions has the columns {twice} more than once; "
            "keep one of each."
        )
    picked = frame.loc[:, names]
    for name in names:
        column = picked[name]
        if pd.api.types.is_datetime64_any_dtype(column):
            picked = picked.assign(**{name: column.map(lambda t: None if pd.isna(t) else str(t))})
    values = picked.astype(object).where(picked.notna(), None)
    rows: list[dict[str, Any]] = values.to_dict("records")  # type: ignore[assignment]
    return rows


def _predictions(predictions: Any, n: int) -> list[Any]:
    import pandas as pd

    values = np.asarray(
        predictions.to_numpy() if isinstance(predictions, pd.Series) else predictions
    )
    if values.ndim != 1 or len(values) != n:
        raise InvalidArgumentError(
            f"The 'predictions' of log_predictions must hold one value per row of the frame "
            f"({n}). Got shape {values.shape} instead."
        )
    out = pd.Series(values, dtype=object)
    return list(out.where(out.notna(), None))


def _ids(
    ids: Sequence[Any] | None, n: int, name: str, given: Sequence[str] | None = None
) -> tuple[list[str], list[str]]:
    """The ids returned and the prediction ids."""
    if ids is None:
        if given is not None and len(given) != n:
            raise InvalidArgumentError(
                f"log_predictions got {len(given)} prediction ids for {n} rows; give one per row."
            )
        made = [new_prediction_id() for _ in range(n)] if given is None else list(given)
        return made, made
    import pandas as pd

    if isinstance(ids, str | bytes) or not hasattr(ids, "__len__"):
        raise InvalidArgumentError(
            "The 'ids' parameter of log_predictions must be a sequence with one id per row. "
            f"Got {type(ids).__name__} instead."
        )
    if len(ids) != n:
        raise InvalidArgumentError(
            f"The 'ids' of log_predictions must hold one id per row of the frame ({n}). Got "
            f"{len(ids)} instead."
        )
    raw = pd.Series(list(ids), dtype=object)
    texts = raw.map(
        lambda v: "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
    )
    empty = np.flatnonzero((texts == "").to_numpy())
    if len(empty):
        raise InvalidArgumentError(
            f"The 'ids' of log_predictions must be non-empty; rows {empty[:_SHOWN].tolist()} "
            "have an empty or missing id. Give every row an id, or pass ids=None."
        )
    dupes = texts[texts.duplicated(keep=False)]
    if len(dupes):
        first = dupes.iloc[0]
        rows = np.flatnonzero((texts == first).to_numpy())[:_SHOWN].tolist()
        raise InvalidArgumentError(
            f"The 'ids' of log_predictions must be unique; {first!r} is at rows {rows} "
            f"({dupes.nunique()} id(s) repeat). Give each row its own id."
        )
    out = texts.tolist()
    salt = f"{name}|".encode()
    sha = hashlib.sha256
    return out, [sha(salt + text.encode()).hexdigest()[:32] for text in out]


def _probabilities(
    probabilities: Any, n: int, version: ModelVersion
) -> list[dict[str, float]] | None:
    import pandas as pd

    if probabilities is None:
        return None
    classes = list(version.signature.output.classes)
    if not classes:
        raise InvalidArgumentError(
            f"{version.ref} is not a classifier (no classes), so it has no probabilities to "
            "log; pass probabilities=None."
        )
    if isinstance(probabilities, pd.DataFrame):
        labels = {str(c): c for c in probabilities.columns}
        if sorted(labels) == sorted(str(c) for c in classes):
            probabilities = probabilities[[labels[str(c)] for c in classes]]
    try:
        values = np.asarray(probabilities, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(
            f"The 'probabilities' of log_predictions must be numbers: {exc}."
        ) from exc
    if values.ndim == 1 and len(classes) == 2:
        values = np.column_stack([1.0 - values, values])
    if values.ndim != 2 or values.shape != (n, len(classes)):
        raise InvalidArgumentError(
            f"The 'probabilities' of log_predictions must be an n x k array: {n} rows, one "
            f"column per class of {version.ref} in its order {classes}. Got shape "
            f"{values.shape} instead."
        )
    bad = np.flatnonzero(~((values >= 0) & (values <= 1)).all(axis=1))
    if len(bad):
        raise InvalidArgumentError(
            f"The 'probabilities' of log_predictions must be in [0, 1]; rows "
            f"{bad[:_SHOWN].tolist()} are not (first: {values[bad[0]].tolist()})."
        )
    frame = pd.DataFrame(values, columns=[str(c) for c in classes])
    rows: list[dict[str, float]] = frame.to_dict("records")  # type: ignore[assignment]
    return rows


def _timestamps(timestamps: Any, n: int) -> list[int] | None:
    """Event times as ms since the epoch (naive: UTC)."""
    import pandas as pd

    if timestamps is None:
        return None
    if isinstance(timestamps, str) or not hasattr(timestamps, "__len__"):
        raise InvalidArgumentError(
            "The 'timestamps' of log_predictions must be a sequence with one time per row. "
            f"Got {type(timestamps).__name__} instead."
        )
    if len(timestamps) != n:
        raise InvalidArgumentError(
            f"The 'timestamps' of log_predictions must hold one time per row of the frame "
            f"({n}). Got {len(timestamps)} instead."
        )
    raw = (
        timestamps.reset_index(drop=True)
        if isinstance(timestamps, pd.Series)
        else pd.Series(list(timestamps) if not isinstance(timestamps, pd.Index) else timestamps)
    )
    try:
        parsed = _parse_times(raw)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidArgumentError(
            "The 'timestamps' of log_predictions must be datetimes, pandas Timestamps, ISO "
            f"strings or epoch milliseconds: {exc}."
        ) from exc
    missing = np.flatnonzero(parsed.isna().to_numpy())
    if len(missing):
        raise InvalidArgumentError(
            f"The 'timestamps' of log_predictions hold no time (NaT/None) at rows "
            f"{missing[:_SHOWN].tolist()}; give every row its event time, or timestamps=None."
        )
    ms: list[int] = parsed.astype("datetime64[ms, UTC]").astype("int64").tolist()
    return ms


def _parse_times(raw: pd.Series) -> pd.Series:
    """UTC times from datetimes, ISO strings and epoch milliseconds (mixed is fine)."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(raw) or raw.map(lambda v: isinstance(v, bool | np.bool_)).any():
        raise TypeError("booleans are not times")
    if pd.api.types.is_numeric_dtype(raw):
        return pd.to_datetime(raw, unit="ms", utc=True)
    if pd.api.types.is_datetime64_any_dtype(raw):
        return pd.to_datetime(raw, utc=True)
    numbers = pd.to_numeric(raw, errors="coerce")
    is_number = numbers.notna()
    parsed = pd.to_datetime(raw.where(~is_number), utc=True, format="mixed")
    if is_number.any():
        parsed[is_number] = pd.to_datetime(numbers[is_number], unit="ms", utc=True)
    return parsed


def _latencies(latency_ms: Any, n: int) -> list[float | None]:
    if latency_ms is None:
        return [None] * n
    values = np.asarray(latency_ms, dtype=np.float64) if not np.isscalar(latency_ms) else None
    if values is None:
        try:
            values = np.full(n, float(latency_ms))
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(
                f"The 'latency_ms' of log_predictions must be a number or one per row: {exc}."
            ) from exc
    if values.ndim != 1 or len(values) != n:
        raise InvalidArgumentError(
            f"The 'latency_ms' of log_predictions must be one number, or one per row of the "
            f"frame ({n}). Got shape {values.shape} instead."
        )
    bad = np.flatnonzero(~(values >= 0))
    if len(bad):
        raise InvalidArgumentError(
            f"The 'latency_ms' of log_predictions must be numbers >= 0 (milliseconds); rows "
            f"{bad[:_SHOWN].tolist()} are not."
        )
    out: list[float | None] = values.tolist()
    return out
