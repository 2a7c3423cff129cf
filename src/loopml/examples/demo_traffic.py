"""The demo's production: later months of 2013 replayed as traffic, labels arriving late, and
monitoring with alert rules.

:class:`Replay` serves one stretch of flights at a time through the model server's service
(:class:`~loopml.serving.InferenceService`, in process, following the deployment record, so
a canary the agent starts or stops takes effect at the next stretch), in requests of
:data:`ROWS_PER_REQUEST` flights, each with its flights' departure hours as event times and
their ids; the server logs every answer. The labels of flights that departed more than
:data:`LABEL_DELAY` earlier arrive (``loopml.monitoring.log_labels``, joined by flight id).
:meth:`Replay.monitor` runs ``loopml.monitor`` over the model's own prediction log, month by
month, with the alert rules :data:`ALERT_RULES`; a fired rule is a ``monitor.alert`` event,
which is what a policy's alert trigger follows.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopml.examples.flights import FEATURES, TARGET, TIME

if TYPE_CHECKING:
    import pandas as pd

    from loopml.client import LoopmlClient
    from loopml.monitoring import MonitorReport

#: Flights per request: routing (champion or canary) is per request, by its key.
ROWS_PER_REQUEST = 10
#: Requests in flight at once (the server micro-batches them).
CONCURRENCY = 32
#: How long after departure a flight's label (late or not) arrives.
LABEL_DELAY = dt.timedelta(days=28)
#: Monitoring's alert rules: the summer's drift and the performance drop it brings.
ALERT_RULES: dict[str, Any] = {
    "rules": [
        {
            "name": "delays-drifted",
            "when": "feature: dep_delay drifted",
            "severity": "warning",
            "persist": 2,
            "sinks": [],
        },
        {
            "name": "accuracy-fell",
            "when": "performance.accuracy < 0.9",
            "severity": "critical",
            "persist": 2,
            "sinks": [],
        },
    ]
}


@dataclass(frozen=True)
class Served:
    """What one stretch of traffic did.

    Attributes:
        rows: Flights answered.
        requests: Requests sent.
        canary_requests: Of those, answered by the canary.
        labeled: Labels that arrived during the stretch.
    """

    rows: int
    requests: int
    canary_requests: int
    labeled: int


class Replay:
    """Serve flights in event-time order and let their labels arrive late.

    Args:
        client: The client of the demo's store.
        traffic: The flights to replay (features, ``late``, ``time_hour``), by flight id.
        deployment: The deployment record the server follows.
        model: The registered model's name (labels belong to it).
    """

    def __init__(
        self, client: LoopmlClient, traffic: pd.DataFrame, *, deployment: str, model: str
    ) -> None:
        self.client = client
        self.traffic = traffic
        self.deployment = deployment
        self.model = model
        self._unlabeled = traffic[[TARGET, TIME]]
        self._requests = 0

    def serve(self, start: dt.datetime, end: dt.datetime) -> Served:
        """Serve the flights that depart in ``[start, end)`` through a server following the
        deployment, then log the labels that have arrived by ``end``."""
        from loopml.serving import InferenceService, ServeConfig

        times = self.traffic[TIME]
        rows = self.traffic[(times >= start) & (times < end)]
        settings = self.client.settings
        config = ServeConfig(
            deployment=self.deployment,
            poll_interval_s=0,
            compact_interval_s=0,
            spool_dir=settings.home / "spool" / self.deployment,
            logs_url=settings.logs_url,
        )
        server = InferenceService(self.client.backend, config)
        # one request's payload: records, ISO event times and flight ids, built once
        records = rows[FEATURES].to_dict(orient="records")
        times = rows[TIME].dt.strftime("%Y-%m-%dT%H:%M:%SZ").tolist()
        ids = rows.index.tolist()
        starts = range(0, len(rows), ROWS_PER_REQUEST)
        first = self._requests
        self._requests += len(starts)

        async def send() -> int:
            gate = asyncio.Semaphore(CONCURRENCY)

            async def one(n: int, at: int) -> str:
                end = at + ROWS_PER_REQUEST
                async with gate:
                    answer = await server.predict(
                        records[at:end],
                        key=f"request-{first + n}",
                        timestamps=times[at:end],
                        ids=ids[at:end],
                    )
                    return answer.route

            routes = await asyncio.gather(*(one(n, at) for n, at in enumerate(starts)))
            await server.stop()  # flushes the log and compacts it into Parquet
            return sum(r == "canary" for r in routes)

        canary = asyncio.run(send())
        return Served(len(rows), len(starts), canary, self.label(end))

    def label(self, now: dt.datetime) -> int:
        """Log the labels of flights that departed more than :data:`LABEL_DELAY` before
        ``now`` and have none yet; return how many arrived."""
        import loopml

        due = self._unlabeled[self._unlabeled[TIME] < now - LABEL_DELAY]
        if due.empty:
            return 0
        self._unlabeled = self._unlabeled.drop(due.index)
        loopml.monitoring.log_labels(self.model, list(due.index), due[TARGET].tolist())
        return len(due)

    def monitor(self, start: dt.datetime, end: dt.datetime) -> MonitorReport:
        """Monitor the champion's logged traffic of ``[start, end)`` month by month, with
        the alert rules (a rule that holds fires a ``monitor.alert`` event)."""
        import loopml

        return loopml.monitor(
            f"{self.model}@champion",
            window="1mo",
            start=start,
            end=end,
            alerts=ALERT_RULES,
            multivariate=False,
            quality=False,
        )
