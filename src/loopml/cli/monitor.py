"""``loopml monitor run``: drift, performance and concept drift per window, with a Rich summary,
``--json`` and an offline HTML report; ``loopml monitor watch``: the same run on a schedule;
``loopml monitor show``: the stored runs.

``run`` and ``watch`` share their options (declared once below) and the code that makes one
run (:func:`_monitor_once`) and prints it (:func:`_emit`)."""

from __future__ import annotations

import json
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from loopml.cli.monitor_render import render, render_alerts, render_results
from loopml.core.errors import InvalidArgumentError

if TYPE_CHECKING:
    from loopml.health import MonitorService
    from loopml.health.monitor_report import MonitorReport

app = typer.Typer(
    help="Monitoring: data drift, performance and concept drift.", no_args_is_help=True
)
console = Console()
err_console = Console(stderr=True)

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


# -- options shared by `run` and `watch` --------------------------------------------------------

Reference = Annotated[
    str | None,
    typer.Option(
        "--reference", help="CSV/Parquet file or dataset ref (default: the training data)."
    ),
]
WindowSpec = Annotated[
    str | None, typer.Option("--window", help="1d, 6h, 1w, 1mo, 1y, or a row count.")
]
Features = Annotated[
    list[str] | None, typer.Option("--feature", help="A column to test. Repeat it.")
]
Tests = Annotated[list[str] | None, typer.Option("--test", help="column=test, e.g. distance=psi.")]
Thresholds = Annotated[
    list[str] | None, typer.Option("--threshold", help="name=value, e.g. alpha=0.01.")
]
TimestampColumn = Annotated[str | None, typer.Option("--timestamp-column")]
LabelColumn = Annotated[str | None, typer.Option("--label-column")]
ScoreColumn = Annotated[str | None, typer.Option("--score-column")]
Multivariate = Annotated[bool, typer.Option("--multivariate/--no-multivariate")]
Alerts = Annotated[
    Path | None,
    typer.Option("--alerts", help="A YAML file of alert rules (see docs/monitoring.md)."),
]
Report = Annotated[Path | None, typer.Option("--report", help="Write the HTML report here.")]
Routes = Annotated[
    list[str] | None,
    typer.Option(
        "--route",
        help="With the prediction log: a route whose rows count (champion, canary, external, "
        "shadow, batch). Repeat it. Default: champion, canary and external.",
    ),
]


@dataclass(frozen=True)
class _Request:
    """What one run is asked to do (files are read again on every run of a watch)."""

    model: str | None
    current: str | None
    reference: str | None
    window: str | None
    features: list[str] | None
    tests: dict[str, Any]
    thresholds: dict[str, Any]
    timestamp_column: str | None
    label_column: str | None
    score_column: str | None
    multivariate: bool
    rules: Any = field(default=None)
    routes: tuple[str, ...] | None = None

    @classmethod
    def parse(
        cls,
        model: str | None,
        current: str | None,
        *,
        reference: str | None,
        window: str | None,
        feature: list[str] | None,
        test: list[str] | None,
        threshold: list[str] | None,
        timestamp_column: str | None,
        label_column: str | None,
        score_column: str | None,
        multivariate: bool,
        alerts: Path | None,
        routes: list[str] | None = None,
    ) -> _Request:
        """Check the options before any work (a bad rule or pair fails at once)."""
        rules = None
        chosen = None
        if routes:
            from loopml.health.log_source import check_routes

            chosen = check_routes(routes)
        if alerts is not None:
            from loopml.health.alerts import load_rules

            rules = load_rules(alerts)
        return cls(
            model=model,
            current=current,
            reference=reference,
            window=window,
            features=feature or None,
            tests=_pairs(test or [], "--test", numbers=False),
            thresholds=_pairs(threshold or [], "--threshold", numbers=True),
            timestamp_column=timestamp_column,
            label_column=label_column,
            score_column=score_column,
            multivariate=multivariate,
            rules=rules,
            routes=chosen,
        )


def _monitor_once(request: _Request, *, start: Any = None, end: Any = None) -> MonitorReport:
    """One monitor run (stored when it uses a store)."""
    from loopml.health.log_source import DEFAULT_ROUTES

    cur, ref = _data(request.current), _data(request.reference)
    service = _service(request.model, cur, ref, alerts=request.rules is not None)
    return service.monitor(
        request.model,
        current=cur,
        reference=ref,
        window=request.window,
        start=start,
        end=end,
        features=request.features,
        tests=request.tests,
        thresholds=request.thresholds,
        timestamp_column=request.timestamp_column,
        label_column=request.label_column,
        score_column=request.score_column,
        multivariate=request.multivariate,
        alerts=request.rules,
        routes=DEFAULT_ROUTES if request.routes is None else request.routes,
    )


def _write_report(result: MonitorReport, report: Path | None, *, quiet: bool) -> None:
    if report is None:
        return
    written = result.to_html(report)
    if quiet:  # stdout holds the JSON alone
        typer.echo(f"Report written to {written}", err=True)
    else:
        console.print(f"Report written to {written}")


def _emit(result: MonitorReport, *, as_json: bool, report: Path | None) -> None:
    """Print a run (table or JSON) and write its HTML report."""
    if as_json:
        console.print_json(json.dumps(result.to_dict()))
    else:
        render(result)
        if result.run_id:
            console.print(f"stored as monitor run {result.run_id}")
    _write_report(result, report, quiet=as_json)


# -- run -------------------------------------------------------------------------------------------


def run_command(
    model: str = typer.Argument(None, help="name@version or name@alias (omit: data drift alone)."),
    current: str = typer.Option(
        None,
        "--current",
        help="CSV/Parquet file or dataset ref (omit: the model's prediction log, labels joined).",
    ),
    reference: Reference = None,
    window: WindowSpec = None,
    start: str = typer.Option(None, "--start", help="Leave out rows before this time (UTC)."),
    end: str = typer.Option(None, "--end", help="Leave out rows from this time on (UTC)."),
    feature: Features = None,
    test: Tests = None,
    threshold: Thresholds = None,
    timestamp_column: TimestampColumn = None,
    label_column: LabelColumn = None,
    score_column: ScoreColumn = None,
    multivariate: Multivariate = True,
    alerts: Alerts = None,
    report: Report = None,
    route: Routes = None,
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    fail_on_drift: bool = typer.Option(
        False, "--fail-on-drift", help="Exit 1 when any window's dataset drifted."
    ),
) -> None:
    """Check current data (and a model on it) against a reference, window by window."""
    request = _Request.parse(
        model,
        current,
        reference=reference,
        window=window,
        feature=feature,
        test=test,
        threshold=threshold,
        timestamp_column=timestamp_column,
        label_column=label_column,
        score_column=score_column,
        multivariate=multivariate,
        alerts=alerts,
        routes=route,
    )
    result = _monitor_once(request, start=start, end=end)
    _emit(result, as_json=as_json, report=report)
    if fail_on_drift and any(w.dataset_drift for w in result.windows):
        raise typer.Exit(EXIT_DRIFT)


app.command("run")(run_command)


# -- watch -----------------------------------------------------------------------------------------


def _seconds(value: str, option: str) -> float:
    from loopml.health.alerts import parse_duration

    ms = parse_duration(value, option)
    if ms <= 0:
        raise InvalidArgumentError(f"{option} {value!r}: give a duration above 0, e.g. 1h.")
    return ms / 1000


def _one_line(n: int, result: MonitorReport) -> str:
    drifted = [w.start or f"#{w.index}" for w in result.windows if w.dataset_drift]
    fired = [a.rule for a in result.alerts if a.status == "fired"]
    return (
        f"run {n}: {len(result.windows)} window(s), {len(drifted)} drifted"
        + (f" ({', '.join(drifted)})" if drifted else "")
        + (f", alerts fired: {', '.join(fired)}" if fired else "")
        + (f"; stored as {result.run_id}" if result.run_id else "")
    )


@app.command("watch")
def watch_command(
    model: str = typer.Argument(..., help="name@version or name@alias of the model to watch."),
    every: str = typer.Option(..., "--every", help="Run every 90s, 30min, 1h, 1d..."),
    lookback: str = typer.Option(
        "7d", "--lookback", help="Each run checks the rows of this last stretch of time."
    ),
    current: str = typer.Option(
        None,
        "--current",
        help="CSV/Parquet file or dataset ref, read again on each run (default: the model's "
        "prediction log).",
    ),
    reference: Reference = None,
    window: WindowSpec = None,
    feature: Features = None,
    test: Tests = None,
    threshold: Thresholds = None,
    timestamp_column: TimestampColumn = None,
    label_column: LabelColumn = None,
    score_column: ScoreColumn = None,
    multivariate: Multivariate = True,
    alerts: Alerts = None,
    report: Report = None,
    route: Routes = None,
    max_runs: int = typer.Option(None, "--max-runs", min=1, help="Stop after N runs."),
) -> None:
    """Monitor a model on a schedule: every run covers the last --lookback, is stored, and
    fires its alerts (each deduplicated by its cooldown). Ctrl-C or SIGTERM stops it after the
    current run; a second one abandons the run (nothing of it is stored)."""
    import datetime as dt

    from loopml.core.clock import now_ms
    from loopml.health.watch import watch

    interval, back_ms = _seconds(every, "--every"), int(_seconds(lookback, "--lookback") * 1000)
    request = _Request.parse(
        model,
        current,
        reference=reference,
        window=window,
        feature=feature,
        test=test,
        threshold=threshold,
        timestamp_column=timestamp_column,
        label_column=label_column,
        score_column=score_column,
        multivariate=multivariate,
        alerts=alerts,
        routes=route,
    )

    def run_once(_n: int) -> MonitorReport:
        end = now_ms()
        utc = dt.UTC
        start_at = dt.datetime.fromtimestamp((end - back_ms) / 1000, utc)
        return _monitor_once(
            request, start=start_at, end=dt.datetime.fromtimestamp(end / 1000, utc)
        )

    def on_result(n: int, result: MonitorReport) -> None:
        console.print(_one_line(n, result))
        render_alerts(result)
        _write_report(result, report, quiet=False)

    def on_error(n: int, exc: Exception, wait: float) -> None:
        err_console.print(
            f"[bold red]run {n} failed:[/] {type(exc).__name__}: {exc}; next try in {wait:g}s",
            highlight=False,
        )

    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt  # a second signal abandons the run in progress
        stop.set()
        err_console.print(
            f"{signal.Signals(signum).name}: stopping after the current run "
            "(send it again to abandon the run)."
        )

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        console.print(
            f"watching {model} every {every} over the last {lookback} "
            + ("(Ctrl-C to stop)" if max_runs is None else f"({max_runs} run(s))")
        )
        runs = watch(
            run_once,
            every=interval,
            stop=stop,
            on_result=on_result,
            on_error=on_error,
            max_runs=max_runs,
        )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    console.print(f"watch ended after {runs} run(s)" + (" (stopped)" if stop.is_set() else ""))


# -- show ------------------------------------------------------------------------------------------


@app.command("show")
def show_command(
    model: str = typer.Argument(
        None, help="A model name (all its versions), or a subject such as data:flights@4."
    ),
    since: str = typer.Option(
        None, "--since", help="Runs made since: a duration back (6h, 7d) or a UTC date/time."
    ),
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="At most N windows."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List stored monitor results, newest run first (one row per window)."""
    from loopml.cli.state import state
    from loopml.core.clock import now_ms
    from loopml.health.results import list_results, parse_since

    since_ms = None if since is None else parse_since(since, now=now_ms())
    client = state.client()
    if client.settings.server_url:  # through a server: the results it stored
        store: Any = getattr(client.monitoring, "results")  # noqa: B009  (the remote's)
    else:
        store = client.backend.monitor_results
    results = list_results(store, model, since=since_ms, limit=limit)
    if as_json:
        console.print_json(json.dumps([r.to_dict() for r in results]))
        return
    if not results:
        console.print(
            "No stored monitor results match."
            + ("" if model else " Run `loopml monitor run` or `loopml monitor watch` first.")
        )
        return
    render_results(results)


# -- to-dataset ------------------------------------------------------------------------------------


@app.command("to-dataset")
def to_dataset_command(
    model: str = typer.Argument(..., help="name@alias, name@version, or name (every version)."),
    start: str = typer.Option(None, "--start", help="Leave out rows before this time (UTC)."),
    end: str = typer.Option(None, "--end", help="Leave out rows from this time on (UTC)."),
    name: str = typer.Option(None, "--name", help="Dataset name (default <model>-production)."),
    route: Routes = None,
    all_rows: bool = typer.Option(
        False, "--all-rows", help="Keep rows whose label has not arrived (label left empty)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the dataset version as JSON."),
) -> None:
    """Register a stretch of the model's prediction log, labels joined, as a dataset version."""
    from loopml.cli.state import state
    from loopml.health.production_data import to_dataset

    version = to_dataset(
        state.client().backend,
        model,
        name=name,
        start=start,
        end=end,
        routes=tuple(route) if route else ("champion", "canary", "external"),
        labeled_only=not all_rows,
    )
    if as_json:
        console.print_json(json.dumps(version.to_dict()))
        return
    console.print(
        f"registered {version.ref}: {version.rows:,} rows from the prediction log of {model} "
        f"(target {version.schema.target!r}, time {version.schema.timestamp!r})"
    )
