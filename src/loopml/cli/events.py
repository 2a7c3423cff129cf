"""``loopml events``: the audit log of the loop's transitions."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from loopml.cli.render import when
from loopml.cli.state import state

app = typer.Typer(
    help="Audit events: every transition, with who, when and why.", no_args_is_help=True
)
console = Console()


@app.command("list")
def list_events(
    subject: str = typer.Option(
        None, "--subject", "-s", help="e.g. dataset:flights@3, or dataset:flights@ for all versions"
    ),
    kind: str = typer.Option(None, "--kind", "-k", help="e.g. dataset.registered"),
    limit: int = typer.Option(50, "--limit", "-n", min=1, help="The newest N."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List audit events, oldest first."""
    events = state.client().events(subject=subject, kind=kind, limit=limit)
    if as_json:
        console.print_json(json.dumps([e.to_dict() for e in events]))
        return
    if not events:
        console.print("No events match.")
        return
    table = Table()
    for col in ("when", "kind", "subject", "actor", "from", "reason", "links"):
        table.add_column(col, overflow="fold")
    for e in events:
        links = ", ".join(f"{k}={v[:12] if len(v) == 32 else v}" for k, v in e.links.items())
        origin = f"{e.address} ({e.client})" if e.client else "-"
        table.add_row(when(e.at), e.kind, e.subject, e.actor, origin, e.reason, links)
    console.print(table)
