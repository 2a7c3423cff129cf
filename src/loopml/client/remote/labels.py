"""Delayed labels and prediction-log uploads through a ``loopml server``
(:class:`RemoteLabels`): the SDK's ``loopml.monitoring.log_labels`` and ``log_predictions``
with ``LOOPML_SERVER_URL`` set, so a model server or monitor on another host needs no
storage credentials. The server checks and stores (``POST /monitoring/labels``,
``POST /monitoring/predictions``); here the values are only turned into JSON.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

from loopml.core.entities import LabelSummary, ModelVersion
from loopml.core.errors import InvalidArgumentError
from loopml.store.remote import Transport, decode, new_idempotency_key

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["RemoteLabels"]


def _plain(value: Any) -> Any:
    """A JSON-ready scalar: NumPy scalars as Python ones, NaN and NaT as None."""
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is not None and type(value).__name__ in ("NaTType", "NAType"):
        return None
    return value


def _values(values: Any) -> list[Any]:
    """A sequence (list, array, Series) as a list of JSON-ready scalars."""
    if isinstance(values, str | bytes) or not hasattr(values, "__iter__"):
        raise InvalidArgumentError(
            f"Expected a sequence (a list, array or Series); got {type(values).__name__}."
        )
    listed = values.tolist() if hasattr(values, "tolist") else list(values)
    return [_plain(v) for v in listed]


class RemoteLabels:
    """Labels and predictions sent to a ``loopml server`` (stands for
    :class:`~loopml.health.labels.LabelService` and :func:`~loopml.health.ingest.log_predictions`).

    Args:
        transport: The server.
    """

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        answer = self.transport.request(
            "POST",
            path,
            content=orjson.dumps(body),
            headers={"Content-Type": "application/json"},
            idempotency_key=new_idempotency_key(),  # both routes may be sent again safely
        )
        return answer.json()

    def log_labels(
        self, model: str | ModelVersion, ids: Any, labels: Any, *, timestamps: Any = None
    ) -> LabelSummary:
        """Store delayed labels of ``model``'s rows on the server (see
        :func:`loopml.monitoring.log_labels`)."""
        from loopml.health.labels import parse_ids, parse_timestamps

        ref = model.ref if isinstance(model, ModelVersion) else model
        body: dict[str, Any] = {"model": ref, "ids": parse_ids(ids), "labels": _values(labels)}
        if timestamps is not None:
            body["timestamps"] = parse_timestamps(timestamps)
        return decode(LabelSummary, self._post("/monitoring/labels", body))

    def log_predictions(
        self,
        model: str,
        frame: pd.DataFrame,
        predictions: Any,
        *,
        ids: Sequence[Any] | None = None,
        probabilities: Any = None,
        timestamps: Any = None,
        latency_ms: Any = None,
    ) -> list[str]:
        """Log predictions of a model served elsewhere to the server's prediction log (see
        :func:`loopml.monitoring.log_predictions`)."""
        import numpy as np
        import pandas as pd

        from loopml.health.labels import parse_timestamps

        if not isinstance(frame, pd.DataFrame):
            raise InvalidArgumentError(
                "The 'frame' parameter of log_predictions must be a pandas DataFrame of the "
                f"input rows. Got {type(frame).__name__} instead."
            )
        picked = frame.rename(columns=str)
        for name in picked.columns[
            [pd.api.types.is_datetime64_any_dtype(t) for t in picked.dtypes]
        ]:
            picked[name] = picked[name].map(lambda t: None if pd.isna(t) else str(t))
        rows = [
            {k: _plain(v) for k, v in row.items()}
            for row in picked.astype(object).to_dict("records")
        ]
        body: dict[str, Any] = {"model": model, "rows": rows, "predictions": _values(predictions)}
        if ids is not None:
            body["ids"] = [str(v) if not isinstance(v, str | int) else v for v in _values(ids)]
        if isinstance(probabilities, pd.DataFrame):  # the server orders it by class name
            named = probabilities.rename(columns=str).astype(np.float64)
            body["probabilities"] = named.to_dict("records")
        elif probabilities is not None:
            body["probabilities"] = np.asarray(probabilities, dtype=np.float64).tolist()
        if timestamps is not None:
            times = (
                timestamps.reset_index(drop=True)
                if isinstance(timestamps, pd.Series)
                else timestamps
            )
            body["timestamps"] = parse_timestamps(times)
        if latency_ms is not None:
            body["latency_ms"] = (
                _plain(latency_ms) if np.isscalar(latency_ms) else _values(latency_ms)
            )
        found: list[str] = decode(list[str], self._post("/monitoring/predictions", body))
        return found
