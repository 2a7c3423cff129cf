"""Fresh training data from production: a stretch of a model's prediction log, with the labels
that arrived for it, registered as a new dataset version (``loopml.monitoring.to_dataset``).

The rows are the ones :func:`loopml.health.log_source.log_data` reads for monitoring (the log
store's typed input columns and the spool folders, labels joined by row id), kept on the
monitored routes (``champion``, ``canary``, ``external`` by default; never ``fallback``: those
rows were answered by another model, but their inputs are real traffic and are kept when
``routes`` names ``fallback``), without the rows the server answered with an error. The dataset
has the model's input columns, the label under the training dataset's target name and the event
time under its time column's name (``event_at`` when it declared none); the lineage back to the
model is the ``dataset.from_predictions`` event, linked to the dataset and the model version,
written once (registering the same rows again, as a retry does, adds no second event).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from loopml.core.clock import now_ms
from loopml.core.entities import DatasetVersion, Event
from loopml.core.errors import InvalidArgumentError
from loopml.core.ids import new_event_id
from loopml.core.settings import current_user
from loopml.health.log_source import (
    DEFAULT_ROUTES,
    ERROR,
    LABEL,
    RESERVED,
    ROUTE,
    TIME,
    VERSION,
    check_routes,
    log_data,
    selection,
)
from loopml.health.windows import utc_ms

if TYPE_CHECKING:
    from loopml.store.backend import Backend

#: The event that links a dataset version to the model whose predictions it holds.
FROM_PREDICTIONS = "dataset.from_predictions"


def to_dataset(
    backend: Backend,
    model: str,
    *,
    name: str | None = None,
    start: Any = None,
    end: Any = None,
    routes: Sequence[str] | str = DEFAULT_ROUTES,
    labeled_only: bool = True,
    description: str = "",
) -> DatasetVersion:
    """Register the logged rows of ``model`` in ``[start, end)`` (event time) as the next
    version of dataset ``name`` (default ``<model name>-production``); see
    :func:`loopml.monitoring.to_dataset`."""
    from loopml.data import DatasetService
    from loopml.registry import ModelRegistry

    chosen_routes = check_routes(routes)
    registry = ModelRegistry(backend)
    version = registry.get(model)
    loaded = registry.load(version)
    features = list(loaded.signature.input_names)
    datasets = DatasetService(backend)
    trained = None if version.training_data is None else datasets.get(version.training_data)
    target = (trained.schema.target if trained else None) or "label"
    time_column = (trained.schema.timestamp if trained else None) or "event_at"
    clash = [c for c in (target, time_column) if c in features] + [
        c for c in features if c in RESERVED
    ]
    if clash:
        raise InvalidArgumentError(
            f"Column {clash[0]!r} is both a model input and the label or time column of the "
            "dataset to build; rename it in the training dataset's declared target/timestamp."
        )
    since, until = utc_ms(start, "start"), utc_ms(end, "end")
    data = log_data(
        backend,
        selection(model, version, chosen_routes),
        features=features,
        classes=tuple(loaded.classes),
        binary=False,
        since=since,
        until=until,
    )
    frame = data.frame()
    logged = len(frame)
    keep = frame[ROUTE].isin(chosen_routes) & frame[ERROR].isna()
    errors = int((frame[ROUTE].isin(chosen_routes) & frame[ERROR].notna()).sum())
    if labeled_only:
        keep &= frame[LABEL].notna()
    frame = frame[keep]
    if frame.empty:
        where = f" between {start} and {end}" if start is not None or end is not None else ""
        raise InvalidArgumentError(
            f"No {'labeled ' if labeled_only else ''}logged rows of {version.ref}{where} on "
            f"routes {list(chosen_routes)} ({logged:,} logged rows read): widen start/end, log "
            "labels first (loopml.monitoring.log_labels), or pass labeled_only=False."
        )
    out = pd.DataFrame({c: frame[c].to_numpy() for c in features})
    out[target] = pd.Series(list(frame[LABEL]), dtype=object).infer_objects().to_numpy()
    out[time_column] = pd.to_datetime(frame[TIME], utc=True).to_numpy()
    out = out.sort_values(time_column, kind="stable").reset_index(drop=True)
    dataset_name = name or f"{version.name}-production"
    dataset = datasets.register(
        dataset_name,
        out,
        target=target,
        timestamp=time_column,
        description=description
        or f"predictions of {version.ref} with their labels, from its prediction log",
    )
    subject = f"dataset:{dataset.ref}"
    if backend.events.list_events(subject=subject, kind=FROM_PREDICTIONS, limit=1):
        return dataset  # the same rows registered again (a retry): its lineage is recorded
    per_version = frame[VERSION].value_counts().sort_index()
    backend.events.append(
        Event(
            event_id=new_event_id(),
            kind=FROM_PREDICTIONS,
            subject=subject,
            actor=current_user(backend.settings),
            at=now_ms(),
            reason=f"rows served by {model}",
            links={"model": version.ref},
            data={
                "model": model,
                "rows": len(out),
                "logged_rows": logged,
                "error_rows": errors,
                "labeled_only": labeled_only,
                "routes": list(chosen_routes),
                "start": since,
                "end": until,
                "versions": {str(k): int(v) for k, v in per_version.items()},
            },
        )
    )
    return dataset
