"""``loopml data``: register, list, show, profile, validate, diff and split datasets."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from loopml.cli.render import number, size, when
from loopml.cli.state import state
from loopml.core.entities import DatasetVersion, ValidationReport
from loopml.core.errors import NotFoundError
from loopml.data import DatasetService, validate_batch

app = typer.Typer(help="Datasets: versioned, profiled, validated.", no_args_is_help=True)
console = Console()

#: Exit code of `loopml data validate` when the batch has errors.
EXIT_INVALID = 1


@app.command("register")
def register(
    name: str = typer.Argument(..., help="Dataset name, e.g. credit."),
    path: Path = typer.Argument(..., help="CSV or Parquet file, or a folder of Parquet files."),
    target: str = typer.Option(None, "--target", help="Label column."),
    timestamp: str = typer.Option(None, "--timestamp", help="Event-time column."),
    key: str = typer.Option(None, "--key", help="Row identifier column."),
    description: str = typer.Option("", "--description", "-d"),
) -> None:
    """Register a file as the next version of a dataset (the same rows reuse a version)."""
    client = state.client()
    with console.status(f"Reading, profiling and storing {path} ..."):
        before = {v.ref for v in _safe_versions(client.datasets, name)}
        version = client.datasets.register(
            name, str(path), target=target, timestamp=timestamp, key=key, description=description
        )
    verb = "Already registered as" if version.ref in before else "Registered"
    console.print(
        f"{verb} [bold]{version.ref}[/]: {version.rows:,} rows, "
        f"{len(version.schema.columns)} columns, {size(version.size_bytes)}, "
        f"sha256 {version.content_hash[:12]}"
    )


def _safe_versions(service: DatasetService, name: str) -> list[DatasetVersion]:
    try:
        return service.versions(name)
    except NotFoundError:
        return []


@app.command("list")
def list_datasets() -> None:
    """List datasets with their latest version."""
    versions = state.client().datasets.latest_versions()
    if not versions:
        console.print("No datasets yet. Register one: `loopml data register NAME FILE`.")
        return
    table = Table()
    for col in ("dataset", "latest", "rows", "columns", "size", "registered", "by"):
        table.add_column(col, justify="right" if col in {"rows", "columns", "size"} else "left")
    for v in versions:
        table.add_row(
            v.name,
            f"@{v.version}",
            f"{v.rows:,}",
            str(len(v.schema.columns)),
            size(v.size_bytes),
            when(v.created_at),
            v.created_by,
        )
    console.print(table)


@app.command("show")
def show(
    ref: str = typer.Argument(..., help="name, name@3 or name@latest"),
    as_json: bool = typer.Option(False, "--json", help="Print the version as JSON."),
) -> None:
    """Show a version: metadata, schema, lineage."""
    client = state.client()
    v = client.datasets.get(ref)
    if as_json:
        console.print_json(json.dumps(v.to_dict()))
        return
    console.print(
        f"[bold]{v.ref}[/]  {v.rows:,} rows  {size(v.size_bytes)}  "
        f"registered {when(v.created_at)} by {v.created_by}"
    )
    console.print(
        f"sha256 {v.content_hash}"
        + (f"  run {v.run_id}" if v.run_id else "")
        + (f"  parents {', '.join(v.parents)}" if v.parents else "")
        + (f"  split {v.split}" if v.split else "")
    )
    if v.description:
        console.print(v.description)
    table = Table(title="schema", title_justify="left")
    for col in ("column", "type", "role", "nullable", "known values"):
        table.add_column(col)
    for c in v.schema.columns:
        cats = (
            ""
            if c.categories is None
            else (
                ", ".join(c.categories[:6])
                + (" ..." if len(c.categories) > 6 or c.other_bucket else "")
            )
        )
        table.add_row(c.name, c.dtype, c.role.value, "yes" if c.nullable else "no", cats)
    console.print(table)
    users = client.datasets.runs_using(v.ref)
    if users:
        console.print("used by runs: " + ", ".join(f"{r[:8]} ({role})" for r, role in users))


@app.command("profile")
def profile(ref: str = typer.Argument(..., help="name, name@3 or name@latest")) -> None:
    """Show the reference statistics of a version."""
    v = state.client().datasets.get(ref)
    table = Table(title=f"profile of {v.ref} ({v.profile.rows:,} rows)", title_justify="left")
    for col in ("column", "nulls", "distinct", "min", "mean", "max", "top values"):
        table.add_column(col, justify="left" if col in {"column", "top values"} else "right")
    dtypes = {c.name: c.dtype for c in v.schema.columns}
    for c in v.profile.columns:
        num = c.numeric
        top = ""
        if c.frequencies:
            ranked = sorted(c.frequencies.items(), key=lambda kv: -kv[1])[:3]
            top = ", ".join(f"{k} ({n:,})" for k, n in ranked)
        dtype = dtypes.get(c.name, "")
        table.add_row(
            c.name,
            f"{c.nulls:,}",
            f"{c.distinct:,}",
            *((_statistic(x, dtype) for x in (num.min, num.mean, num.max)) if num else ("",) * 3),
            top,
        )
    console.print(table)


def _statistic(value: float, dtype: str) -> str:
    """A profile statistic: ISO 8601 for datetime columns (in the column's zone), else a
    number."""
    from loopml.data.profile import as_datetime  # NumPy and Arrow: only when profiles show

    moment = as_datetime(value, dtype)
    if moment is None:
        return number(value)
    if isinstance(moment, dt.datetime) and moment.microsecond:
        return moment.isoformat(timespec="milliseconds")
    return moment.isoformat(timespec="seconds") if isinstance(moment, dt.datetime) else str(moment)


def print_report(report: ValidationReport) -> None:
    """Render a validation report as a table (shared with other commands)."""
    verdict = "[green]passed[/]" if report.ok else "[red]FAILED[/]"
    console.print(
        f"Validation of {report.rows:,} rows against {report.against}: {verdict} "
        f"({len(report.errors)} errors, "
        f"{len(report.anomalies) - len(report.errors)} warnings)"
    )
    if not report.anomalies:
        return
    table = Table()
    for col in ("severity", "column", "kind", "observed", "expected", "rows"):
        table.add_column(col, overflow="fold")
    for a in report.anomalies:
        style = "red" if a.severity == "error" else "yellow"
        table.add_row(
            f"[{style}]{a.severity}[/]",
            a.column or "-",
            a.kind,
            a.observed,
            a.expected,
            "" if a.rows is None else f"{a.rows:,}",
        )
    console.print(table)


@app.command("validate")
def validate(
    path: Path = typer.Argument(..., help="The new batch: CSV or Parquet."),
    against: str = typer.Option(
        ...,
        "--against",
        "-a",
        help="Reference version (credit@3), or a .json saved by `loopml data show --json`.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Validate a batch against a version; exits 1 when there are errors (gates a pipeline).

    Validation only reads: it never creates a store or registers anything, and against a
    ``.json`` file it needs no store at all.
    """
    if not path.exists():
        raise NotFoundError(
            f"The batch file {str(path)!r} does not exist (relative paths start at "
            f"{Path.cwd()}); nothing was validated."
        )
    with console.status(f"Validating {path} against {against} ..."):
        if against.endswith(".json"):
            report = validate_batch(str(path), against=Path(against))
        else:
            report = state.client().datasets.validate(str(path), against=against)
    if as_json:
        console.print_json(json.dumps(report.to_dict()))
    else:
        print_report(report)
    if not report.ok:
        raise typer.Exit(EXIT_INVALID)


@app.command("diff")
def diff(
    old: str = typer.Argument(..., help="e.g. credit@2"),
    new: str = typer.Argument(..., help="e.g. credit@3"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Compare two versions: columns, types, rows (added/removed/changed by key)."""
    d = state.client().datasets.diff(old, new)
    if as_json:
        console.print_json(json.dumps(d.to_dict()))
        return
    console.print(f"{d.old} -> {d.new}: rows {d.old_rows:,} -> {d.new_rows:,}")
    for col in d.added_columns:
        console.print(f"  [green]+ column {col}[/]")
    for col in d.removed_columns:
        console.print(f"  [red]- column {col}[/]")
    for col, (a, b) in d.type_changes.items():
        console.print(f"  [yellow]~ column {col}: {a} -> {b}[/]")
    if d.key is not None:
        console.print(
            f"  by key {d.key}: {d.rows_added:,} added, {d.rows_removed:,} removed, "
            f"{d.rows_changed:,} changed"
        )
    else:
        console.print("  (no shared key declared: row-level changes not computed)")


@app.command("split")
def split(
    ref: str = typer.Argument(..., help="Version to split, e.g. credit@3"),
    method: str = typer.Option("random", "--method", "-m", help="random, hash or time"),
    train: float = typer.Option(0.8, "--train", help="Share of the train split (random, hash)."),
    seed: int = typer.Option(0, "--seed"),
    column: str = typer.Option(None, "--column", help="Key (hash) or time (time) column."),
    cutoff: str = typer.Option(None, "--cutoff", help="Time split: first time of 'test'."),
) -> None:
    """Split a version into <name>-train and <name>-test versions that record their parent."""
    fractions = {"train": train, "test": round(1 - train, 12)}
    with console.status(f"Splitting {ref} ..."):
        parts = state.client().datasets.split(
            ref,
            method=method,  # type: ignore[arg-type]
            fractions=fractions,
            seed=seed,
            column=column,
            cutoff=cutoff,
        )
    for split_name, v in parts.items():
        console.print(f"{split_name}: [bold]{v.ref}[/] ({v.rows:,} rows, parent {v.parents[0]})")
