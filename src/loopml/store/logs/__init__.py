"""The prediction log: a durable local spool, compacted into Parquet, read with DuckDB.

- :class:`PredictionRecord`: one logged prediction.
- :class:`PredictionLog`: append off the request path; a background thread writes JSON Lines
  segments to a spool folder (flushed on close and at exit).
- :func:`compact`: moves closed segments into ``model=<name>/date=<day>/`` Parquet files of
  the log store (a folder or an fsspec URL), idempotently.
- :func:`write_records`: write records straight into the log store (no spool), durably.
- :func:`read_predictions` and :func:`inputs_frame`: query the log store (JSON columns).
- :func:`read_log`: one model's log with typed columns (``in.<feature>``, ``out``,
  ``p.<class>``), the spool's rows included, filtered by event time.
- :mod:`loopml.store.logs.orphans`: spool folders of dead processes, found by their free
  owner lock (:mod:`loopml.store.logs.owner`), adopted and compacted.

The request path (records, spool) needs only :mod:`orjson`; pyarrow and DuckDB are imported
when compaction or reading is first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loopml.core.lazy import lazy_getattr
from loopml.store.logs.records import ROUTES, PredictionRecord, new_prediction_id
from loopml.store.logs.spool import PredictionLog

if TYPE_CHECKING:
    from loopml.store.logs.compaction import SCHEMA, CompactionReport, compact, compact_spool
    from loopml.store.logs.log_table import read_log
    from loopml.store.logs.partitions import write_records
    from loopml.store.logs.reader import inputs_frame, read_predictions

_LAZY = {
    "SCHEMA": "loopml.store.logs.compaction",
    "CompactionReport": "loopml.store.logs.compaction",
    "compact": "loopml.store.logs.compaction",
    "compact_spool": "loopml.store.logs.compaction",
    "inputs_frame": "loopml.store.logs.reader",
    "read_log": "loopml.store.logs.log_table",
    "read_predictions": "loopml.store.logs.reader",
    "write_records": "loopml.store.logs.partitions",
}

__all__ = [
    "ROUTES",
    "SCHEMA",
    "CompactionReport",
    "PredictionLog",
    "PredictionRecord",
    "compact",
    "compact_spool",
    "inputs_frame",
    "new_prediction_id",
    "read_log",
    "read_predictions",
    "write_records",
]


__getattr__ = lazy_getattr(__name__, _LAZY, globals())
