"""The prediction log as a monitor's current data (``loopml.monitor(model, current=None)``).

The rows a model answered (read columnar from the log store's typed columns and from the
spool folders not yet compacted, :func:`loopml.store.logs.read_log`), with the delayed labels
joined by row id (the caller's id when the row has one, else the prediction id), become one
DataFrame the window engine takes like any other:

- one column per input feature (``in.<name>`` in the log),
- :data:`TIME` (event time: the caller's timestamp, else when the server received the row),
- :data:`SCORE` (the logged probability of the positive class, for binary classifiers),
- :data:`LABEL` (the joined label; null where none arrived yet),
- :data:`ROUTE`, :data:`VERSION`, :data:`LATENCY`, :data:`ERROR` and :data:`RECEIVED` for the
  operational figures (:mod:`loopml.health.ops`).

Nothing here loops over rows in Python: labels are decoded once per distinct value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from loopml.core.errors import InvalidArgumentError, did_you_mean
from loopml.health.sources import Data

if TYPE_CHECKING:
    import pyarrow as pa

    from loopml.core.entities import ModelVersion
    from loopml.store.backend import Backend

#: Column names of the frame built from the log (no input feature may take them).
TIME = "__event_time"
SCORE = "__score"
LABEL = "__label"
ROUTE = "__route"
VERSION = "__version"
LATENCY = "__latency_ms"
ERROR = "__error"
RECEIVED = "__received_at"
RESERVED = (TIME, SCORE, LABEL, ROUTE, VERSION, LATENCY, ERROR, RECEIVED)

#: The routes monitored by default (``shadow`` rows only when asked for).
DEFAULT_ROUTES = ("champion", "canary", "external")
#: Every route a logged row can have.
ALL_ROUTES = ("champion", "canary", "fallback", "shadow", "batch", "external")


@dataclass(frozen=True)
class LogSelection:
    """Which logged rows a monitor run reads.

    Attributes:
        name: The registered model name.
        versions: The versions whose rows count (None: every version).
        routes: The routes whose rows count.
        label: How reports name the source.
    """

    name: str
    versions: tuple[int, ...] | None
    routes: tuple[str, ...]
    label: str


def check_routes(routes: Sequence[str] | str) -> tuple[str, ...]:
    """The routes as a tuple, each one known.

    Raises:
        InvalidArgumentError: An unknown route, or none at all.
    """
    if isinstance(routes, str):
        routes = (routes,)
    out = tuple(dict.fromkeys(str(r) for r in routes))
    if not out:
        raise InvalidArgumentError(
            f"routes= is empty: name at least one of {list(ALL_ROUTES)} (default "
            f"{list(DEFAULT_ROUTES)})."
        )
    for route in out:
        if route not in ALL_ROUTES:
            raise InvalidArgumentError(
                f"Unknown route {route!r} in routes=; the routes are {list(ALL_ROUTES)}."
                + did_you_mean(route, ALL_ROUTES)
            )
    return out


def selection(ref: str, version: ModelVersion, routes: tuple[str, ...]) -> LogSelection:
    """The rows ``ref`` names: ``name@version`` and ``name@alias`` that version's rows, a bare
    ``name`` the rows of every version."""
    bare = "@" not in ref
    versions = None if bare else (version.version,)
    where = f"{version.name} (every version)" if bare else version.ref
    return LogSelection(
        name=version.name,
        versions=versions,
        routes=routes,
        label=f"prediction log of {where}, routes {'/'.join(routes)}",
    )


def log_data(
    backend: Backend,
    chosen: LogSelection,
    *,
    features: Sequence[str],
    classes: tuple[Any, ...],
    binary: bool,
    since: int | None,
    until: int | None,
) -> Data:
    """The logged rows of ``chosen`` (with fallback rows, for the fallback rate) as a
    :class:`Data` whose frame has the columns of the module docstring."""
    from loopml.store.logs import read_log

    settings = backend.settings
    routes = tuple(dict.fromkeys((*chosen.routes, "fallback")))
    table = read_log(
        settings.logs_url,
        model=chosen.name,
        spool_dirs=(settings.home / "spool",),
        versions=chosen.versions,
        routes=routes,
        since=since,
        until=until,
        features=list(features),
    )
    frame = _frame(table, features, classes=classes, binary=binary)
    labels = backend.labels.get_labels(chosen.name)
    frame[LABEL] = joined_labels(table, labels)
    return Data(label=chosen.label, frame_=frame)


def _frame(
    table: pa.Table, features: Sequence[str], *, classes: tuple[Any, ...], binary: bool
) -> pd.DataFrame:
    columns: dict[str, Any] = {}
    names = set(table.column_names)
    for name in features:
        key = f"in.{name}"
        columns[name] = (
            table.column(key).to_pandas() if key in names else pd.Series([None] * table.num_rows)
        )
    columns[TIME] = table.column("event_at").to_pandas()
    columns[RECEIVED] = table.column("at").to_pandas()
    columns[ROUTE] = table.column("route").to_pandas()
    columns[VERSION] = table.column("version").to_pandas()
    columns[LATENCY] = table.column("latency_ms").to_pandas()
    columns[ERROR] = table.column("error").to_pandas()
    score = np.full(table.num_rows, np.nan)
    if binary and len(classes) == 2:
        key = f"p.{class_text(classes[1])}"
        if key in names:
            score = np.asarray(table.column(key).to_numpy(zero_copy_only=False), dtype=np.float64)
    columns[SCORE] = score
    frame = pd.DataFrame(columns)
    frame.index = pd.RangeIndex(len(frame))
    return frame


def class_text(value: Any) -> str:
    """A class label as the log's ``p.<class>`` column names it."""
    if isinstance(value, bool | np.bool_):
        return "True" if value else "False"
    if isinstance(value, np.generic):
        value = value.item()
    return str(value)


def joined_labels(table: pa.Table, labels: pa.Table) -> pd.Series:
    """Each logged row's label (by caller id, else prediction id), decoded once per distinct
    value; None where no label arrived."""
    import orjson
    import pyarrow as pa
    import pyarrow.compute as pc

    n = table.num_rows
    if n == 0 or labels.num_rows == 0:
        return pd.Series([None] * n, dtype=object)
    ids = labels.column("row_id")
    by_caller = pc.index_in(table.column("caller_id"), value_set=ids)
    by_prediction = pc.index_in(table.column("prediction_id"), value_set=ids)
    where = pc.coalesce(by_caller, by_prediction)
    found = pc.take(labels.column("label_json"), where)  # null where neither id has a label
    texts = found.combine_chunks() if isinstance(found, pa.ChunkedArray) else found
    encoded = texts.dictionary_encode()
    decoded = [orjson.loads(v) for v in encoded.dictionary.to_pylist()]
    valid = encoded.indices.is_valid().to_numpy(zero_copy_only=False)
    codes = encoded.indices.fill_null(0).to_numpy(zero_copy_only=False)
    values = np.empty(n, dtype=object)
    values[:] = None
    if decoded:
        lookup = np.empty(len(decoded), dtype=object)
        lookup[:] = decoded
        values[valid] = lookup[codes[valid].astype(np.int64)]
    return pd.Series(values, dtype=object)
