"""The report :func:`loopml.monitor` returns: the stored entity with its table and page.

:class:`loopml.core.entities.MonitorReport` is the data (what is stored and sent as JSON);
core imports neither pandas nor the HTML renderer, so the two views that need them live on
this subclass, which is what the monitoring service returns.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from loopml.core.entities import MonitorReport as MonitorReportData
from loopml.core.entities.monitoring import FRAME_COLUMNS


class MonitorReport(MonitorReportData):
    """What :func:`loopml.monitor` found, window by window (the fields are
    :class:`loopml.core.entities.MonitorReport`'s), with :meth:`to_frame` and
    :meth:`to_html`."""

    def to_frame(self) -> pd.DataFrame:
        """One row per window x feature (:data:`~loopml.core.entities.monitoring.FRAME_COLUMNS`);
        ``start`` and ``end`` as UTC timestamps."""
        frame = pd.DataFrame.from_records(self.records(), columns=list(FRAME_COLUMNS))
        for column in ("start", "end"):
            frame[column] = pd.to_datetime(frame[column], utc=True)
        return frame

    def to_html(self, path: str | Path) -> Path:
        """Write the self-contained offline HTML report (and return its path)."""
        from loopml.health.report import write_html

        return write_html(self, Path(path))
