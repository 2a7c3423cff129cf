"""``loopml monitor compare``: champion vs challenger on the same live traffic, both routes'
figures, the difference with its interval and the verdict with its reason (or ``--json``)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from loopml.core.entities import LiveComparison, MetricValue, RouteFigures

console = Console()

_VERDICT = {"promote": "green", "rollback": "red", "wait": "yellow"}
_STATUS = {"pass": "[green]pass[/]", "fail": "[red]fail[/]", "pending": "[yellow]pending[/]"}


def compare_command(
    model: str = typer.Argument(..., help="The model's name (its routes give the versions)."),
    challenger_route: str = typer.Option("canary", "--challenger-route", help="canary or shadow."),
    champion_route: str = typer.Option("champion", "--champion-route"),
    metric: str = typer.Option(
        None, "--metric", help="accuracy (classifiers' default), roc_auc, rmse, ..."
    ),
    min_labeled: int = typer.Option(
        1000, "--min-labeled", help="Labeled challenger rows needed to promote."
    ),
    min_duration: str = typer.Option(
        None, "--min-duration", help="Traffic (event time) needed to promote: 24h, 7d."
    ),
    margin: float = typer.Option(
        0.0, "--margin", help="How far below the champion a promoted challenger may be."
    ),
    rollback_drop: float = typer.Option(
        0.01, "--rollback-drop", help="Roll back when the whole interval is below -this."
    ),
    max_error_rate: float = typer.Option(None, "--max-error-rate"),
    max_fallback_rate: float = typer.Option(None, "--max-fallback-rate"),
    max_guardrail_rate: float = typer.Option(None, "--max-guardrail-rate"),
    rate_margin: float = typer.Option(
        0.01, "--rate-margin", help="Roll back when a rate exceeds the champion's by this."
    ),
    alpha: float = typer.Option(0.05, "--alpha", help="1 - the intervals' confidence."),
    fixed: bool = typer.Option(
        False, "--fixed", help="Fixed intervals, for one look (default: valid at every look)."
    ),
    since: str = typer.Option(None, "--since", help="Leave out rows before this time (UTC)."),
    until: str = typer.Option(None, "--until", help="Leave out rows from this time on (UTC)."),
    challenger_version: int = typer.Option(None, "--challenger-version"),
    champion_version: int = typer.Option(None, "--champion-version"),
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON."),
) -> None:
    """Compare a challenger with the champion on the same live traffic, and say whether to
    promote it, roll it back or wait (and for what)."""
    from loopml.cli.state import state
    from loopml.health.live_comparison import compare_live

    found = compare_live(
        state.client().backend,
        model,
        challenger_route=challenger_route,
        champion_route=champion_route,
        metric=metric,
        since=since,
        until=until,
        min_labeled=min_labeled,
        min_duration=min_duration,
        margin=margin,
        rollback_drop=rollback_drop,
        max_error_rate=max_error_rate,
        max_fallback_rate=max_fallback_rate,
        max_guardrail_rate=max_guardrail_rate,
        rate_margin=rate_margin,
        alpha=alpha,
        sequential=not fixed,
        challenger_version=challenger_version,
        champion_version=champion_version,
    )
    if as_json:
        console.print_json(json.dumps(found.to_dict()))
        return
    render(found)


def render(found: LiveComparison) -> None:
    """Print both routes, the difference, the checks and the verdict."""
    span = f"from {found.since or '-'} to {found.until or '-'}"
    table = Table(
        title=f"{found.model}: {found.challenger.route} vs {found.champion.route}, {span}"
    )
    for column in ("", found.challenger.route, found.champion.route):
        table.add_column(column, justify="left" if not column else "right")
    sides = (found.challenger, found.champion)
    table.add_row("version", *[s.version or "-" for s in sides])
    table.add_row("rows (requests)", *[f"{s.rows:,} ({s.requests:,})" for s in sides])
    table.add_row("labeled rows", *[f"{s.labeled:,}" for s in sides])
    table.add_row(found.metric, *[_metric(s.metric) for s in sides])
    for rate in ("error_rate", "fallback_rate", "guardrail_rate"):
        table.add_row(rate.replace("_", " "), *[_rate(_figure(s, rate)) for s in sides])
    console.print(table)
    diff = found.difference
    kind = "paired (same rows)" if found.paired else "unpaired (each route its own requests)"
    if diff.diff is None or diff.low is None or diff.high is None:
        console.print(f"difference: {escape(diff.reason or 'not computable')}")
    else:
        console.print(
            f"difference {found.metric} ({found.challenger.route} - {found.champion.route}, "
            f"{kind}): {diff.diff:+.4f} [{diff.low:+.4f}, {diff.high:+.4f}]"
        )
    for check in found.checks:
        console.print(f"  {_STATUS[check.status]} {check.name}: {escape(check.detail)}")
    for note in found.notes:
        console.print(f"  [dim]note: {escape(note)}[/]")
    color = _VERDICT[found.verdict]
    console.print(f"[bold {color}]{found.verdict}[/]: {escape(found.reason)}")


def _figure(side: RouteFigures, rate: str) -> MetricValue:
    value: MetricValue = getattr(side, rate)
    return value


def _metric(value: MetricValue) -> str:
    if value.value is None:
        return "-"
    if value.low is None or value.high is None:
        return f"{value.value:.4f}"
    return f"{value.value:.4f} [{value.low:.4f}, {value.high:.4f}]"


def _rate(value: MetricValue) -> str:
    if value.value is None:
        return "-"
    return f"{value.value:.1%} [{value.low or 0:.1%}, {value.high or 0:.1%}]"
