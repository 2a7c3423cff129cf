""":class:`ServerLog`: the prediction log of one model server: its spool, its compaction into
the log store while serving (every ``compact_interval_s``, adopting the folders of dead
processes) and at shutdown.

The spool itself (:class:`~loopml.store.logs.PredictionLog`) is per process; this class owns
its life around :class:`~loopml.serving.service.InferenceService`.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import pandas as pd

from loopml.serving.config import ServeConfig
from loopml.serving.large import LOG_CHUNK, log_records
from loopml.serving.metrics import ServingMetrics
from loopml.serving.result import PredictionResult

_log = logging.getLogger("loopml.serving")


class ServerLog:
    """The prediction log of one server (nothing is logged without a spool folder).

    Args:
        config: ``spool_dir`` (None: no logging), ``logs_url`` (None: the log stays in the
            spool) and ``compact_interval_s``.
        metrics: Where the log's drops and backlog are reported.
    """

    def __init__(self, config: ServeConfig, metrics: ServingMetrics) -> None:
        self.spool_dir = None if config.spool_dir is None else Path(config.spool_dir)
        self.logs_url = config.logs_url
        self.interval = config.compact_interval_s
        self.metrics = metrics
        self._spool: Any = None
        if self.spool_dir is not None:
            from loopml.store.logs import PredictionLog

            self._spool = PredictionLog(self.spool_dir)
        self._stopping = threading.Event()
        self._compactor: threading.Thread | None = None

    @property
    def enabled(self) -> bool:
        """Whether predictions are logged."""
        return self._spool is not None

    def start(self) -> None:
        """Compact every ``compact_interval_s`` in a daemon thread (adopting orphans first)."""
        if self._spool is not None and self.logs_url is not None:
            self._compactor = threading.Thread(
                target=self._compact_every, name="loopml-log-compactor", daemon=True
            )
            self._compactor.start()

    def _compact_every(self) -> None:
        while True:
            try:
                self.compact()
            except Exception as exc:  # compaction is retried next time; serving goes on
                _log.warning("Could not compact the prediction log: %s", exc)
            if self.interval <= 0 or self._stopping.wait(self.interval):
                return

    def compact(self) -> int:
        """Seal the current spool segment and move every closed one into the log store, with
        the folders of dead processes next to it; return the rows moved."""
        if self._spool is None or self.logs_url is None or self.spool_dir is None:
            return 0
        from loopml.store.logs.orphans import compact_with_orphans

        self._spool.rotate()
        return compact_with_orphans(self.spool_dir, self.logs_url)

    def record(
        self, result: PredictionResult, frame: pd.DataFrame, key: str | None, wait: bool = False
    ) -> None:
        """Append the rows of one answer (``wait``: with backpressure instead of dropping)."""
        if self._spool is None:
            return
        for start in range(0, len(result.ids), LOG_CHUNK):
            self._spool.append_many(log_records(result, frame, key, start), wait=wait)
        stats = self._spool.stats()
        self.metrics.log_dropped.set(stats.get("dropped", 0))
        self.metrics.log_pending.set(stats.get("pending", 0))

    def flush(self) -> None:
        """Write the rows queued so far to the spool segment (they stay in the spool)."""
        if self._spool is not None:
            self._spool.flush()

    def stop(self) -> None:
        """Stop compacting while serving (the compaction in progress finishes)."""
        self._stopping.set()
        if self._compactor is not None:
            self._compactor.join(timeout=30)

    def close(self) -> None:
        """Flush the spool and compact it into the log store."""
        if self._spool is None:
            return
        self._spool.close()
        if self.logs_url is not None and self.spool_dir is not None:
            from loopml.store.logs.compaction import compact
            from loopml.store.logs.orphans import remove_if_done

            compact(self.spool_dir, self.logs_url)
            remove_if_done(self.spool_dir)
