"""``loopml runs``: list, show, compare, delete and restore runs; a metric's history and a
run's artifacts."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from loopml.cli.render import duration, number, size, status, when
from loopml.cli.state import state
from loopml.core.entities import Run

app = typer.Typer(
    help="Runs: list, show, compare, metrics, artifacts, delete, restore.", no_args_is_help=True
)
console = Console()
MAX_METRIC_COLUMNS = 4


@app.command("list")
def list_runs(
    experiment: list[str] = typer.Option(
        None, "--experiment", "-e", help="Experiment name (repeatable). Default: all."
    ),
    filter: str = typer.Option(
        None, "--filter", "-f", help="e.g. \"metrics.auc > 0.8 and params.max_depth = '6'\""
    ),
    order_by: list[str] = typer.Option(
        None, "--order-by", "-o", help="e.g. 'metrics.auc desc' (repeatable)."
    ),
    limit: int = typer.Option(20, "--limit", "-n", min=0, help="At most this many runs."),
    columns: str = typer.Option(
        None,
        "--columns",
        "-c",
        help="Extra columns, e.g. 'metrics.auc,params.lr'. Default: the most common metrics.",
    ),
    deleted: bool = typer.Option(False, "--deleted", help="Include deleted runs."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List runs, newest first (or in --order-by order)."""
    client = state.client()
    runs = client.search_runs(
        experiment or None,
        filter=filter,
        order_by=order_by or None,
        limit=limit,
        include_deleted=deleted,
        output="runs",
    )
    if as_json:
        console.print_json(json.dumps([r.to_dict() for r in runs]))
        return
    if not runs:
        where = f" in {state.location.where}" if state.location else ""
        console.print(f"No runs match{where}.")
        return
    if columns:
        extra = [c.strip() for c in columns.split(",") if c.strip()]
    else:
        common = Counter(k for r in runs for k in r.metrics)
        extra = [f"metrics.{k}" for k, _ in common.most_common(MAX_METRIC_COLUMNS)]
    table = Table()
    table.add_column("run id", style="dim", no_wrap=True)
    table.add_column("name", style="bold")
    table.add_column("status")
    table.add_column("started")
    table.add_column("duration", justify="right")
    for col in extra:
        table.add_column(col.split(".", 1)[-1], justify="right")
    for run in runs:
        table.add_row(
            run.run_id,
            run.name,
            status(run.status.value),
            when(run.start_time),
            duration(run.duration_ms),
            *[_field(run, c) for c in extra],
        )
    console.print(table)


def _field(run: Run, column: str) -> str:
    kind, _, key = column.partition(".")
    if kind == "metrics":
        return number(run.metrics[key]) if key in run.metrics else "-"
    if kind == "params":
        return run.params.get(key, "-")
    if kind == "tags":
        return run.tags.get(key, "-")
    return "?"


@app.command("show")
def show(
    run_id: str = typer.Argument(..., help="Run id or a unique prefix of it."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Show one run: status, params, metrics, tags and artifacts."""
    client = state.client()
    run = client.get_run(client.service.resolve_run_id(run_id))
    artifacts = client.list_artifacts(run.run_id)
    if as_json:
        data = run.to_dict() | {"artifacts": [a.to_dict() for a in artifacts]}
        console.print_json(json.dumps(data))
        return
    exp = client.get_experiment(run.experiment_id)
    console.print(f"[bold]{run.name}[/]  {status(run.status.value)}  [dim]{run.run_id}[/]")
    console.print(
        f"experiment {exp.name}  started {when(run.start_time)}  "
        f"duration {duration(run.duration_ms)}"
        + (f"  parent {run.parent_run_id}" if run.parent_run_id else "")
        + ("  [red](deleted)[/]" if run.deleted else "")
    )
    if run.error:
        console.print(f"[red]error:[/] {run.error.strip().splitlines()[-1]}")
    _kv_table("params", run.params)
    _kv_table("metrics (latest)", {k: number(v) for k, v in run.metrics.items()})
    user_tags = {k: v for k, v in run.tags.items() if not k.startswith("loopml.")}
    system_tags = {k: v for k, v in run.tags.items() if k.startswith("loopml.")}
    _kv_table("tags", user_tags)
    _kv_table("captured", system_tags)
    if artifacts:
        table = Table(title="artifacts", title_justify="left")
        table.add_column("path")
        table.add_column("size", justify="right")
        table.add_column("sha256", style="dim")
        for a in artifacts:
            table.add_row(a.path, size(a.size), a.digest[:16])
        console.print(table)


def _kv_table(title: str, values: Mapping[str, str]) -> None:
    if not values:
        return
    table = Table(title=title, title_justify="left")
    table.add_column("key")
    table.add_column("value", overflow="fold")
    for key in sorted(values):
        table.add_row(key, str(values[key]))
    console.print(table)


@app.command("compare")
def compare(
    run_ids: list[str] = typer.Argument(..., help="Two or more run ids (or unique prefixes)."),
    show_all: bool = typer.Option(False, "--all", help="Also show params that are equal."),
) -> None:
    """Compare runs side by side: the params that differ and every metric."""
    if len(run_ids) < 2:
        raise typer.BadParameter("give at least two run ids to compare.")
    client = state.client()
    runs = [client.get_run(client.service.resolve_run_id(r)) for r in run_ids]
    table = Table(title="compare", title_justify="left")
    table.add_column("")
    for run in runs:
        table.add_column(f"{run.name}\n[dim]{run.run_id[:8]}[/]", justify="right")
    if len(runs) == 2:
        table.add_column("Δ (2nd - 1st)", justify="right")
    param_keys = sorted({k for r in runs for k in r.params})
    shown = 0
    for key in param_keys:
        values = [r.params.get(key, "-") for r in runs]
        if show_all or len(set(values)) > 1:
            style = "" if len(set(values)) == 1 else "yellow"
            cells = [f"[{style}]{v}[/]" if style else v for v in values]
            table.add_row(f"params.{key}", *cells, *([""] if len(runs) == 2 else []))
            shown += 1
    equal = len(param_keys) - shown
    if param_keys:
        table.add_section()
    for key in sorted({k for r in runs for k in r.metrics}):
        vals = [r.metrics.get(key) for r in runs]
        cells = [number(v) if v is not None else "-" for v in vals]
        delta: list[str] = []
        if len(runs) == 2:
            a, b = vals
            delta = [number(b - a) if a is not None and b is not None else "-"]
        table.add_row(f"metrics.{key}", *cells, *delta)
    console.print(table)
    if equal and not show_all:
        console.print(f"[dim]{equal} params are equal in every run (show them with --all).[/]")


@app.command("delete")
def delete(
    run_ids: list[str] = typer.Argument(..., help="Run ids (or unique prefixes)."),
    purge: bool = typer.Option(
        False, "--purge", help="Remove the runs' metadata for good (not just hide them)."
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete runs: hidden from searches (or removed for good with --purge)."""
    client = state.client()
    ids = [client.service.resolve_run_id(r) for r in run_ids]
    if purge and not yes:
        question = f"Purge {len(ids)} run(s) and everything logged on them? This cannot be undone"
        if not typer.confirm(question, default=False):
            console.print("Nothing was purged.")  # declining is an answer, not an error
            return
    for run_id in ids:
        client.delete_run(run_id, purge=purge)
        if purge:
            console.print(f"purged {run_id}")
        else:
            console.print(f"deleted {run_id} (bring it back with `loopml runs restore {run_id}`)")


@app.command("restore")
def restore(
    run_ids: list[str] = typer.Argument(..., help="Run ids (or unique prefixes)."),
) -> None:
    """Bring back soft-deleted runs (purged runs are gone for good)."""
    client = state.client()
    for run_id in [client.service.resolve_run_id(r) for r in run_ids]:
        was_deleted = client.get_run(run_id).deleted
        client.restore_run(run_id)
        console.print(f"restored {run_id}" if was_deleted else f"{run_id} was not deleted")


@app.command("metrics")
def metrics(
    run_id: str = typer.Argument(..., help="Run id or a unique prefix of it."),
    key: str | None = typer.Argument(None, help="Metric key. Default: list the run's metrics."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Show every point of one metric (by step), or the run's metrics and their latest values."""
    client = state.client()
    run = client.get_run(client.service.resolve_run_id(run_id))
    if key is None:
        if as_json:
            console.print_json(json.dumps({k: _json_number(v) for k, v in run.metrics.items()}))
            return
        if not run.metrics:
            console.print(f"Run {run.run_id} has no metrics.")
            return
        _kv_table("metrics (latest)", {k: number(v) for k, v in run.metrics.items()})
        console.print("[dim]Give a KEY for its whole history: loopml runs metrics RUN KEY[/]")
        return
    if key not in run.metrics:
        from loopml.core.errors import NotFoundError, did_you_mean

        raise NotFoundError(
            f"Run {run.run_id} has no metric {key!r}.{did_you_mean(key, run.metrics)} "
            f"List its metrics with `loopml runs metrics {run.run_id[:8]}`."
        )
    points = client.get_metric_history(run.run_id, key)
    if as_json:
        rows = [p.to_dict() | {"value": _json_number(p.value)} for p in points]
        console.print_json(json.dumps(rows))
        return
    table = Table(title=f"{key} of {run.name}", title_justify="left")
    table.add_column("step", justify="right")
    table.add_column("value", justify="right")
    table.add_column("time")
    for point in points:
        table.add_row(str(point.step), number(point.value), when(point.timestamp))
    console.print(table)


def _json_number(value: float) -> float | str:
    """A metric value for JSON: NaN and infinities as the strings 'NaN', 'inf', '-inf'."""
    return value if math.isfinite(value) else number(value)


@app.command("artifacts")
def artifacts(
    run_id: str = typer.Argument(..., help="Run id or a unique prefix of it."),
    path: str | None = typer.Argument(None, help="An artifact or folder in the run. Default: all."),
    download: Path | None = typer.Option(
        None, "--download", "-d", help="Copy the artifacts (verified) into this folder."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List a run's artifacts, or download them (checked against their hashes)."""
    client = state.client()
    run = client.get_run(client.service.resolve_run_id(run_id))
    entries = client.list_artifacts(run.run_id)
    if path is not None:
        prefix = path.rstrip("/") + "/"
        entries = [e for e in entries if e.path == path or e.path.startswith(prefix)]
        if not entries:
            client.service.artifacts.find(run.run_id, path)  # NotFoundError with suggestions
    if download is not None:
        for entry in entries:
            client.download_artifacts(run.run_id, entry.path, download)
        total = sum(e.size for e in entries)
        console.print(f"downloaded {len(entries)} file(s), {size(total)}, to {download}")
        return
    if as_json:
        console.print_json(json.dumps([e.to_dict() for e in entries]))
        return
    if not entries:
        console.print(f"Run {run.run_id} has no artifacts.")
        return
    table = Table()
    table.add_column("path")
    table.add_column("size", justify="right")
    table.add_column("sha256", style="dim")
    for entry in entries:
        table.add_row(entry.path, size(entry.size), entry.digest[:16])
    console.print(table)
