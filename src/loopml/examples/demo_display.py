"""The demo's last act: the timeline of every decision the loop took, with its evidence, and
the commands that open the same records and reports.

The timeline is :meth:`loopml.automation.LoopService.history` (what ``loopml loop history``
prints): each ``loop.*`` event of a policy with its reason and evidence lines. Each entry is
dated by the week of traffic (event time) in which the agent took it, since the replay runs
months of 2013 in minutes of wall clock.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from rich.console import Console

    from loopml.client import LoopmlClient

#: Policies in the order their runs happened.
POLICIES = ("late-retrain", "late-export")


def print_timeline(
    client: LoopmlClient,
    marks: Sequence[tuple[int, dt.date]],
    alerts: Sequence[tuple[dt.date, str, str]],
    console: Console,
) -> None:
    """Print monitoring's alerts and each policy's decisions, dated by the week of traffic."""
    from rich.rule import Rule

    from loopml.automation import LoopService

    console.print(Rule("Timeline of every decision"))
    for week, _rule, message in alerts:  # the message starts with the rule's name
        console.print(f"[dim]{week}[/] [bold red]{'ALERT':>12}[/]  {message}", highlight=False)
    times = [m[0] for m in marks]
    service = LoopService(client.backend)
    for policy in POLICIES:
        console.print(f"\n[bold]policy {policy}[/]  (loopml loop history {policy})")
        run = ""
        for entry in service.history(policy):
            if entry.run_id != run:
                run = entry.run_id
                console.print(f"  loop run {run[:12]}")
            at = bisect.bisect_right(times, entry.at) - 1
            week = marks[at][1] if at >= 0 else marks[0][1]
            style = {"PROMOTED": "bold green", "ROLLED BACK": "bold red"}.get(entry.title, "bold")
            console.print(
                f"  [dim]{week}[/] [{style}]{entry.title:>12}[/]  {entry.reason}", highlight=False
            )
            for line in entry.evidence:
                console.print(f"  {'':>23}[dim]·[/] {line}", highlight=False)


def print_commands(home: Path, reports: Sequence[Path], console: Console) -> None:
    """Print the commands that open the records and reports of this run."""
    from rich.rule import Rule

    env = f"LOOPML_HOME={home}"
    console.print(Rule("Open the records"))
    lines = [
        f"{env} loopml loop list",
        *(f"{env} loopml loop history {p}" for p in POLICIES),
        f"{env} loopml events list --subject loop:late-retrain",
        f"{env} loopml events list --kind monitor.alert",
        f"{env} loopml monitor show late",
        f"{env} loopml deploy history late-prod",
        f"{env} loopml models versions late",
        f"{env} loopml runs list -e late-flights",
    ]
    for line in lines:
        console.print(f"  {line}", highlight=False, soft_wrap=True)
    for report in reports:
        console.print(f"  report: {report}", highlight=False, soft_wrap=True)
