"""``loopml monitor run``: drift, performance and concept drift per window, with a Rich summary,
``--json`` and an offline HTML report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from loopml.core.entities import MonitorReport, MonitorWindow
from loopml.core.errors import InvalidArgumentError

if TYPE_CHECKING:
    from loopml.health import MonitorService

app = typer.Typer(
    help="Monitoring: data drift, performance and concept drift.", no_args_is_help=True
)
console = Console()

#: Exit code of `loopml monitor run --fail-on-drift` when a window drifted.
EXIT_DRIFT = 1
_FILES = (".csv", ".parquet", ".pq")


def _data(value: str | None) -> Any:
    """A CSV or Parquet file as a DataFrame; anything else is a dataset ref."""
    if value is None:
        return None
    path = Path(value)
    if path.suffix.lower() in _FILES or path.is_file() or path.is_dir():
        if not path.exists():
            raise InvalidArgumentError(f"There is no file {value!r}; pass a CSV or Parquet file.")
        import pandas as pd

        return pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path)
    return value


def _pairs(items: list[str], option: str, *, numbers: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key.strip() or not value.strip():
            raise typer.BadParameter(f"{option} {item!r}: write it as name=value.")
        if numbers:
            try:
                out[key.strip()] = float(value)
            except ValueError:
                raise typer.BadParameter(
                    f"{option} {item!r}: the value must be a number."
                ) from None
        else:
            out[key.strip()] = value.strip()
    return out


def _service(
    model: str | None, current: Any, reference: Any, *, alerts: bool = False
) -> MonitorService:
    from loopml.health import MonitorService

    if model is None and not alerts and all(not isinstance(x, str) for x in (current, reference)):
        return MonitorService(None)  # files alone: no store needed, none created
    from loopml.cli.state import state

    return state.client().monitoring


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _flag(value: bool | None) -> str:
    if value is None:
        return "[dim]n/a[/]"
    return "[red]drift[/]" if value else "[green]ok[/]"


def _row(w: MonitorWindow) -> list[str]:
    multi = w.multivariate
    real, est = w.performance.get("roc_auc"), w.estimated.get("roc_auc")
    return [
        (w.start or f"#{w.index}").replace("T00:00:00Z", ""),
        f"{w.rows:,}",
        f"{_flag(w.dataset_drift)} {_num(w.drift_share, 2)}",
        ", ".join(w.drifted_features) or "-",
        "-" if multi is None else f"{_flag(multi.drifted)} {_num(multi.auc)}",
        "-" if w.prediction_drift is None else _flag(w.prediction_drift.drifted),
        _num(real.value if real else None),
        _num(est.value if est else None),
        "-" if w.concept_drift is None else _flag(w.concept_drift.detected),
        str(len(w.quality)),
    ]


def render(report: MonitorReport) -> None:
    """Print a report's summary table."""
    table = Table(
        title=f"{report.current} vs {report.reference}"
        + (f" - model {report.model}" if report.model else "")
    )
    names = [
        "window",
        "rows",
        "dataset drift",
        "drifted features",
        "domain AUC",
        "score drift",  # 5-8: the model's columns, shown with a model
        "roc_auc",
        "estimated",
        "concept",
        "quality",
    ]
    keep = [i for i in range(len(names)) if report.model or not 5 <= i <= 8]
    for i in keep:
        table.add_column(names[i])
    for w in report.windows:
        cells = _row(w)
        table.add_row(*(cells[i] for i in keep))
    console.print(table)
    if report.calibration:
        console.print(f"estimate calibration: {report.calibration}")
    render_alerts(report)


_COLORS = {"info": "cyan", "warning": "yellow", "critical": "red"}


def render_alerts(report: MonitorReport) -> None:
    """Print the alerts of a run (nothing when no rule held)."""
    for a in report.alerts:
        color = _COLORS.get(a.severity, "white")
        if a.status == "suppressed":
            console.print(f"[dim]alert {a.rule} suppressed (fired within its cooldown)[/]")
            continue
        failed = [sink for sink, outcome in a.deliveries.items() if outcome != "ok"]
        console.print(
            f"[{color}]ALERT {a.severity}[/] {a.message}"
            + (f" [red](delivery failed: {', '.join(failed)})[/]" if failed else "")
        )


def run_command(
    model: str = typer.Argument(None, help="name@version or name@alias (omit: data drift alone)."),
    current: str = typer.Option(..., "--current", help="CSV/Parquet file or dataset ref."),
    reference: str = typer.Option(
        None, "--reference", help="CSV/Parquet file or dataset ref (default: the training data)."
    ),
    window: str = typer.Option(None, "--window", help="1d, 6h, 1w, 1mo, or a row count."),
    start: str = typer.Option(None, "--start", help="Leave out rows before this time (UTC)."),
    end: str = typer.Option(None, "--end", help="Leave out rows from this time on (UTC)."),
    feature: list[str] = typer.Option(None, "--feature", help="A column to test. Repeat it."),
    test: list[str] = typer.Option(None, "--test", help="column=test, e.g. distance=psi."),
    threshold: list[str] = typer.Option(None, "--threshold", help="name=value, e.g. alpha=0.01."),
    timestamp_column: str = typer.Option(None, "--timestamp-column"),
    label_column: str = typer.Option(None, "--label-column"),
    score_column: str = typer.Option(None, "--score-column"),
    multivariate: bool = typer.Option(True, "--multivariate/--no-multivariate"),
    alerts: Path = typer.Option(
        None, "--alerts", help="A YAML file of alert rules (see docs/monitoring.md)."
    ),
    report: Path = typer.Option(None, "--report", help="Write the HTML report here."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    fail_on_drift: bool = typer.Option(
        False, "--fail-on-drift", help="Exit 1 when any window's dataset drifted."
    ),
) -> None:
    """Check current data (and a model on it) against a reference, window by window."""
    rules = None
    if alerts is not None:
        from loopml.health.alerts import load_rules

        rules = load_rules(alerts)  # a bad rule fails before any work
    cur, ref = _data(current), _data(reference)
    service = _service(model, cur, ref, alerts=rules is not None)
    result = service.monitor(
        model,
        current=cur,
        reference=ref,
        window=window,
        start=start,
        end=end,
        features=feature or None,
        tests=_pairs(test or [], "--test", numbers=False),
        thresholds=_pairs(threshold or [], "--threshold", numbers=True),
        timestamp_column=timestamp_column,
        label_column=label_column,
        score_column=score_column,
        multivariate=multivariate,
        alerts=rules,
    )
    if as_json:
        console.print_json(json.dumps(result.to_dict()))
    else:
        render(result)
    if report is not None:
        written = result.to_html(report)
        if as_json:  # stdout holds the JSON alone
            typer.echo(f"Report written to {written}", err=True)
        else:
            console.print(f"Report written to {written}")
    if fail_on_drift and any(w.dataset_drift for w in result.windows):
        raise typer.Exit(EXIT_DRIFT)


app.command("run")(run_command)
