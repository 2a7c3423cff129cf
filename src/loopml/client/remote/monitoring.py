"""Monitoring through a ``loopml server``: the stored results (:class:`RemoteMonitorResults`,
the :class:`~loopml.store.protocols.MonitorResultStore` reads over the REST API) and
:class:`RemoteMonitoring` (the methods of :class:`~loopml.health.MonitorService`).

A monitor run over DataFrames alone (no model, ``store=False``) needs no store and runs here;
one that reads the prediction log, a registered reference or stores its results runs where
the store is (``loopml monitor run`` on the server's host).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from loopml.client.remote.paths import seg, store_only
from loopml.core.entities import Event, MonitorResult
from loopml.health.log_source import DEFAULT_ROUTES
from loopml.store.remote import Transport

if TYPE_CHECKING:
    from loopml.health.monitor_report import MonitorReport

__all__ = ["RemoteMonitorResults", "RemoteMonitoring"]


class RemoteMonitorResults:
    """The stored monitor windows of a ``loopml server`` (reads only).

    Args:
        transport: The server.
    """

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def add(self, results: Sequence[MonitorResult], *, event: Event | None = None) -> None:
        """Not through a server: results are stored by the monitor run that made them."""
        raise store_only("MonitorResultStore.add")

    def list_results(
        self,
        *,
        subject: str | None = None,
        run_id: str | None = None,
        since: int | None = None,
        until: int | None = None,
        limit: int | None = None,
    ) -> list[MonitorResult]:
        """The windows matching every filter given, newest run first."""
        if run_id is not None:
            found = self.transport.get(f"/monitoring/runs/{seg(run_id)}", list[MonitorResult])
        else:
            found = self.transport.get(
                "/monitoring/results",
                list[MonitorResult],
                model=subject,
                since=since,
                limit=limit if limit is not None else 10_000,
            )
        found = [
            r
            for r in found
            if (subject is None or r.subject == subject)
            and (since is None or r.created_at >= since)
            and (until is None or r.created_at <= until)
        ]
        return found if limit is None else found[:limit]


class RemoteMonitoring:
    """Monitoring through a ``loopml server`` (stands for
    :class:`~loopml.health.MonitorService`).

    Args:
        transport: The server.
    """

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.results = RemoteMonitorResults(transport)

    @property
    def datasets(self) -> Any:
        """No dataset service of its own: the client's ``datasets`` is the server's."""
        return None

    def monitor(
        self,
        model: str | None = None,
        *,
        current: Any = None,
        reference: Any = None,
        window: int | str | None = None,
        start: Any = None,
        end: Any = None,
        features: Sequence[str] | None = None,
        thresholds: Mapping[str, float] | None = None,
        tests: Mapping[str, str] | None = None,
        timestamp_column: str | None = None,
        label_column: str | None = None,
        score_column: str | None = None,
        multivariate: bool = True,
        quality: bool = True,
        seed: int = 0,
        alerts: Any = None,
        store: bool = True,
        routes: Sequence[str] | str = DEFAULT_ROUTES,
    ) -> MonitorReport:
        """Monitor DataFrames here (no model, ``store=False``); anything that needs the store
        runs on the server's host. See :func:`loopml.monitor`."""
        from loopml.health import MonitorService

        frames = not isinstance(current, str | None) and not isinstance(reference, str | None)
        if model is not None or store or not frames:
            raise store_only(
                "MonitorService.monitor with a model, a dataset ref or store=True",
                "it reads the prediction log or the registry and stores results; pass "
                "current= and reference= DataFrames with store=False to monitor here",
            )
        return MonitorService(None).monitor(
            None,
            current=current,
            reference=reference,
            window=window,
            start=start,
            end=end,
            features=features,
            thresholds=thresholds,
            tests=tests,
            timestamp_column=timestamp_column,
            label_column=label_column,
            score_column=score_column,
            multivariate=multivariate,
            quality=quality,
            seed=seed,
            alerts=alerts,
            store=False,
            routes=routes,
        )
