"""``loopml experiments``: list experiments."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from loopml.cli.render import when
from loopml.cli.state import state

app = typer.Typer(help="Experiments: named groups of runs.", no_args_is_help=True)
console = Console()


@app.command("list")
def list_experiments() -> None:
    """List experiments with their number of runs."""
    client = state.client()
    exps = client.list_experiments()
    if not exps:
        where = f" in {state.location.where}" if state.location else ""
        console.print(
            f"No experiments yet{where}. Start a run: `with loopml.start_run(experiment=...)`."
        )
        return
    table = Table()
    table.add_column("name", style="bold")
    table.add_column("experiment id", style="dim")
    table.add_column("runs", justify="right")
    table.add_column("created")
    for exp in exps:
        count = client.service.experiments.count_runs(exp)
        table.add_row(exp.name, exp.experiment_id, str(count), when(exp.created_at))
    console.print(table)
