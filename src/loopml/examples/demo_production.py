"""The demo's second act: April to December 2013 in production, week by week, with the two
loop policies' agents looking after the model.

Each week (of event time): the week's flights are served (:class:`~.demo_traffic.Replay`),
the labels of flights four weeks old arrive; at each new month the data team registers a
labeled holdout of the last fully labeled month (``flights-recent``, the retrain policy's
gate data) and monitoring checks the last three months of the champion's traffic with the
alert rules; once the retrained challenger is promoted, the flawed export arrives
(``flights-export@2``); then each agent ticks (``Agent.run_once``). After December the labels
keep arriving, week by week, until the export's challenger is decided.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loopml.examples.demo_champion import DEPLOYMENT, MODEL
from loopml.examples.demo_policies import bad_export, export_policy, retrain_policy
from loopml.examples.demo_traffic import LABEL_DELAY, Replay
from loopml.examples.flights import ID, TARGET, TIME, as_rows

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console

    from loopml.automation import Agent
    from loopml.client import LoopmlClient
    from loopml.monitoring import MonitorReport

UTC = dt.UTC
START = dt.datetime(2013, 4, 1, tzinfo=UTC)
END = dt.datetime(2014, 1, 1, tzinfo=UTC)
#: The flawed export arrives once the retrained model is champion, from this date on.
EXPORT_FROM = dt.datetime(2013, 10, 1, tzinfo=UTC)
#: Weeks of labels only, after the traffic ends, at most.
EXTRA_WEEKS = 8


@dataclass
class Production:
    """The second act's state.

    Attributes:
        client: The demo store's client.
        flights: Every flight (for the export).
        early: January-March's flights (the export's first version).
        traffic: The flights served.
        holdout: Labeled flights kept out of the traffic (``flights-recent`` versions).
        params: The champion's hyperparameters.
        console: Where progress is printed.
        marks: ``(wall-clock ms, week)`` at each agent tick: what event time the store's
            decisions happened in.
        alerts: Every alert fired, as ``(week, rule, message)``.
    """

    client: LoopmlClient
    flights: pd.DataFrame
    early: pd.DataFrame
    traffic: pd.DataFrame
    holdout: pd.DataFrame
    params: dict[str, Any]
    console: Console
    marks: list[tuple[int, dt.date]] = field(default_factory=list)
    alerts: list[tuple[dt.date, str, str]] = field(default_factory=list)
    exported: dt.date | None = None
    last_report: MonitorReport | None = None
    _recent_month: int = 3
    _explained: bool = False
    _waits: dict[str, str] = field(default_factory=dict)
    _tally: Counter[str] = field(default_factory=Counter)  # this month's rows, requests, ...

    def run(self, progress: Any) -> None:
        """Replay April-December week by week (see the module docstring)."""
        from loopml.automation import Agent, load_policy

        replay = Replay(self.client, self.traffic, deployment=DEPLOYMENT, model=MODEL)
        self._first_versions()
        backend = self.client.backend
        agents = [
            Agent(backend, [load_policy(p)], name=f"agent-{p['name']}", interval_s=0, say=self._say)
            for p in (retrain_policy(self.params), export_policy(self.params))
        ]
        weeks = int((END - START).days / 7) + 1 + EXTRA_WEEKS
        task = progress.add_task("production", total=weeks)
        try:
            for agent in agents:
                agent.start()
                agent.run_once()  # from now on their triggers count
            week = START
            while week < END + dt.timedelta(weeks=EXTRA_WEEKS):
                nxt = week + dt.timedelta(days=7)
                if week < END:
                    served = replay.serve(week, min(nxt, END))
                    self._tally.update(
                        rows=served.rows,
                        requests=served.requests,
                        canary=served.canary_requests,
                        labels=served.labeled,
                    )
                    progress.update(
                        task,
                        advance=1,
                        description=f"week of {week:%Y-%m-%d}: {served.rows:,} flights, "
                        f"{served.requests:,} requests ({served.canary_requests} on the canary), "
                        f"{served.labeled:,} labels arrived",
                    )
                else:
                    labeled = replay.label(nxt)
                    self._tally.update(labels=labeled)
                    progress.update(
                        task,
                        advance=1,
                        description=f"week of {week:%Y-%m-%d}: {labeled:,} labels arrived",
                    )
                if nxt.month != week.month:
                    self._month_end(replay, nxt)
                self._tick(agents, nxt)
                week = nxt
                if week >= END and self._decided("late-export"):
                    break
        finally:
            for agent in agents:
                agent.close()

    def _first_versions(self) -> None:
        """The datasets the policies name, before their agents start: the holdout of March
        (``flights-recent@1``) and the export team's first drop, January-March."""
        import loopml

        march = as_rows(self.holdout[self.holdout["month"] == 3])
        loopml.datasets.register(
            "flights-recent",
            march,
            target=TARGET,
            timestamp=TIME,
            key=ID,
            description="a labeled holdout of March 2013",
        )
        for name, rows in (
            ("flights-export", as_rows(self.early)),
            ("flights-export-holdout", march),
        ):
            loopml.datasets.register(
                name,
                rows,
                target=TARGET,
                timestamp=TIME,
                key=ID,
                description="the export team's first drop: January-March",
            )

    def _say(self, line: str) -> None:
        """Print an agent's line; a run that waits for the same thing again is not repeated."""
        run, _, said = line.partition(" waits at ")
        if said:
            if self._waits.get(run) == said:
                return
            self._waits[run] = said
        self.console.print(f"    [cyan]agent[/] {line}", highlight=False)

    def _tick(self, agents: list[Agent], now: dt.datetime) -> None:
        from loopml.core.clock import now_ms

        if self.exported is None and self._decided("late-retrain") and now >= EXPORT_FROM:
            self._export(now)
        self.marks.append((now_ms(), now.date()))
        for agent in agents:
            agent.run_once()
        if self.exported is not None and not self._explained and self._decided("late-export"):
            self._explained = True
            since = dt.datetime.combine(self.exported, dt.time(), tzinfo=UTC)
            served = self.traffic[(self.traffic[TIME] >= since) & (self.traffic[TIME] < now)]
            late = float((served["dep_delay"] > 0).mean())
            self.console.print(
                f"  [bold]why it lost live[/]: every flight it was trained and gated on left on "
                f"time; of the {len(served):,} flights served since its release, {late:.0%} "
                "left late, a kind of flight it never saw (it calls most of their late "
                "arrivals on time)",
                highlight=False,
            )

    def _decided(self, policy: str) -> bool:
        from loopml.automation import LoopService

        runs = [
            r for r in LoopService(self.client.backend).runs(policy=policy) if r.status != "skipped"
        ]
        return bool(runs) and not any(r.is_open for r in runs)

    def _month_end(self, replay: Replay, now: dt.datetime) -> None:
        """A new month: register the newest fully labeled month's holdout, and monitor the
        last three months of the champion's traffic with the alert rules."""
        import loopml

        labeled_until = now - LABEL_DELAY
        while self._recent_month < 12:
            month = self._recent_month + 1
            month_end = dt.datetime(2013 + month // 12, month % 12 + 1, 1, tzinfo=UTC)
            if month_end > labeled_until:
                break
            loopml.datasets.register(
                "flights-recent",
                as_rows(self.holdout[self.holdout["month"] == month]),
                target=TARGET,
                timestamp=TIME,
                key=ID,
                description=f"a labeled holdout of {month_end - dt.timedelta(days=1):%B %Y}",
            )
            self._recent_month = month
        tally, self._tally = self._tally, Counter()
        self.console.print(
            f"  [bold]served[/] up to {now:%Y-%m-%d}: {tally['rows']:,} flights in "
            f"{tally['requests']:,} requests ({tally['canary']:,} answered by a canary); "
            f"{tally['labels']:,} labels arrived",
            highlight=False,
        )
        start = (now.replace(day=1) - dt.timedelta(days=80)).replace(day=1)
        report = replay.monitor(start, now)
        self.last_report = report
        labeled = [w for w in report.windows if (w.label_coverage or 0) > 0.9]
        if labeled and report.windows:
            w, newest = labeled[-1], report.windows[-1]
            accuracy = w.performance["accuracy"]
            drifted = ", ".join(newest.drifted_features) or "nothing"
            self.console.print(
                f"  [bold]monitoring[/] {report.model}: {str(w.start)[:7]} accuracy "
                f"{accuracy.value:.3f} [{accuracy.low:.3f}, {accuracy.high:.3f}] on {w.rows:,} "
                f"labeled flights; drifted in {str(newest.start)[:7]}: {drifted}",
                highlight=False,
            )
        for alert in report.alerts:
            if alert.status == "fired":
                self.alerts.append((now.date(), alert.rule, alert.message))
                self.console.print(
                    f"  [bold red]ALERT[/] ({alert.severity}) {alert.message}",
                    highlight=False,
                )

    def _export(self, now: dt.datetime) -> None:
        import loopml

        train, holdout = bad_export(self.flights.drop(self.traffic.index))
        loopml.datasets.register(
            "flights-export-holdout",
            as_rows(holdout),
            target=TARGET,
            timestamp=TIME,
            key=ID,
            description="holdout of the August-September export",
        )
        version = loopml.datasets.register(
            "flights-export",
            as_rows(train),
            target=TARGET,
            timestamp=TIME,
            key=ID,
            description="August-September export (only on-time departures)",
        )
        self.exported = now.date()
        self.console.print(
            f"  [bold]new export[/] {version.ref}: {version.rows:,} flights of August-September; "
            "unnoticed, its query kept only flights that left on time (dep_delay <= 0), and its "
            "holdout was cut from the same rows",
            highlight=False,
        )
