"""``loopml labels log``: store delayed labels from a CSV or Parquet file, with a Rich summary
or ``--json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from loopml.core.entities import LabelSummary
from loopml.core.errors import InvalidArgumentError, did_you_mean

app = typer.Typer(
    help="Delayed labels: ground truth that arrives after the predictions.", no_args_is_help=True
)
console = Console()


def read_columns(path: Path, wanted: dict[str, str | None]) -> dict[str, Any]:
    """The columns of a CSV or Parquet file named by ``wanted`` (option -> column name).

    A CSV's id column is read as text (``007`` stays ``007``); its other columns are typed by
    pandas, a column at a time.

    Raises:
        InvalidArgumentError: No such file, not CSV or Parquet, or a column is missing (the
            message lists the file's columns).
    """
    import pandas as pd

    if not path.is_file():
        raise InvalidArgumentError(f"There is no file {str(path)!r}; pass a CSV or Parquet file.")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        columns = list(pd.read_csv(path, nrows=0).columns)
    elif suffix in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        columns = list(pq.read_schema(path).names)
    else:
        raise InvalidArgumentError(
            f"{path.name!r} is neither CSV (.csv) nor Parquet (.parquet, .pq); convert it to one."
        )
    for option, name in wanted.items():
        if name is not None and name not in columns:
            raise InvalidArgumentError(
                f"{option} {name!r} is not a column of {path.name}; its columns are "
                f"{', '.join(map(repr, columns))}.{did_you_mean(name, columns)}"
            )
    names = [n for n in wanted.values() if n is not None]
    if suffix == ".csv":
        id_column = wanted.get("--id-column")
        frame = pd.read_csv(path, usecols=names, dtype={id_column: "string"} if id_column else None)
    else:
        frame = pd.read_parquet(path, columns=list(dict.fromkeys(names)))
    return {option: None if name is None else frame[name] for option, name in wanted.items()}


def render(summary: LabelSummary) -> None:
    """Print a summary for a person."""
    table = Table(title=f"Labels for {summary.model}", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("received", str(summary.received))
    table.add_row("stored", str(summary.stored))
    table.add_row("matched to a logged prediction", str(summary.matched))
    table.add_row("unknown id (stored, joins later)", _warn(summary.unknown))
    table.add_row("duplicates (last label wins)", _warn(summary.duplicates))
    table.add_row("refused: wrong type", _warn(summary.bad_type, "red"))
    console.print(table)
    for example in summary.examples:
        console.print(f"  - {escape(example)}")


def _warn(count: int, color: str = "yellow") -> str:
    return f"[{color}]{count}[/]" if count else "0"


def log_command(
    file: Path = typer.Argument(..., help="A CSV or Parquet file with one label per row."),
    model: str = typer.Option(
        ..., "--model", help="name@alias or name@version: the labels are checked against it."
    ),
    id_column: str = typer.Option(
        ..., "--id-column", help="The column of row ids (prediction ids or your own ids)."
    ),
    label_column: str = typer.Option(..., "--label-column", help="The column of labels."),
    timestamp_column: str = typer.Option(
        None, "--timestamp-column", help="The column of event times (ISO 8601 or ms)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Store the labels of FILE for MODEL's logged predictions, joined later by row id."""
    columns = read_columns(
        file,
        {
            "--id-column": id_column,
            "--label-column": label_column,
            "--timestamp-column": timestamp_column,
        },
    )
    from loopml.cli.state import state
    from loopml.health.labels import LabelService

    service = LabelService(state.client().backend)
    summary = service.log_labels(
        model,
        columns["--id-column"],
        columns["--label-column"],
        timestamps=columns["--timestamp-column"],
    )
    if as_json:
        console.print_json(json.dumps(summary.to_dict()))
    else:
        render(summary)


app.command("log")(log_command)
