"""``loopml evaluate``, ``loopml gate`` and ``loopml evaluations list|show|report``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from loopml.cli.render import when
from loopml.core.entities import Evaluation, GateDecision, MetricValue

if TYPE_CHECKING:
    from loopml.evaluation import EvaluationService

console = Console()
app = typer.Typer(help="Stored evaluations: list, show, report.", no_args_is_help=True)

#: Exit code of `loopml gate` when the gate fails.
EXIT_GATE_FAILED = 1

_SLICE_HELP = (
    "A slice: a column (origin), two columns (origin,carrier), bins (distance:0,500,1000 or "
    "distance:4 for quartiles) or a named expression (night=hour >= 21). Repeat it."
)


def _service() -> EvaluationService:
    from loopml.cli.state import state

    return state.client().evaluations


def parse_slice(text: str) -> Any:
    """Turn a ``--slice`` value into the SDK's slice spec."""
    name, eq, expression = text.partition("=")
    if eq and expression.strip() and not any(op in name for op in "<>!"):
        return {"name": name.strip(), "where": expression.strip()}
    column, colon, bins = text.partition(":")
    if colon:
        parts = [p for p in bins.split(",") if p.strip()]
        if len(parts) == 1 and parts[0].strip().isdigit():
            return {"column": column.strip(), "bins": int(parts[0])}
        try:
            return {"column": column.strip(), "bins": [float(p) for p in parts]}
        except ValueError:
            raise typer.BadParameter(
                f"--slice {text!r}: bins are numbers separated by commas (distance:0,500,1000) "
                "or a count of quantile bins (distance:4)."
            ) from None
    columns = [c.strip() for c in text.split(",") if c.strip()]
    if len(columns) == 2:
        return (columns[0], columns[1])
    if len(columns) == 1:
        return columns[0]
    raise typer.BadParameter(f"--slice {text!r} is not a slice. {_SLICE_HELP}")


def _fmt(metric: MetricValue) -> str:
    if metric.value is None:
        return f"[dim]not computable: {metric.reason}[/]"
    text = f"{metric.value:.4f}"
    if metric.low is not None and metric.high is not None:
        text += f" [{metric.low:.4f}, {metric.high:.4f}]"
    return text


def print_evaluation(evaluation: Evaluation) -> None:
    """Print an evaluation's headline tables."""
    console.print(
        f"[bold]{evaluation.model}[/] ({evaluation.task}) vs "
        f"{evaluation.baseline or 'no baseline'}  evaluation {evaluation.evaluation_id}  "
        f"{when(evaluation.created_at)} by {evaluation.created_by}"
    )
    for result in evaluation.datasets:
        table = Table(title=f"{result.dataset}: {result.rows:,} rows")
        table.add_column("metric")
        table.add_column("value [interval]")
        if result.deltas:
            table.add_column("vs baseline [interval]")
        deltas = {d.name: d for d in result.deltas}
        for metric in result.metrics:
            row = [metric.name, _fmt(metric)]
            if result.deltas:
                d = deltas.get(metric.name)
                if d is None or d.diff is None:
                    row.append("")
                else:
                    interval = (
                        f" [{d.low:+.4f}, {d.high:+.4f}]"
                        if d.low is not None and d.high is not None
                        else ""
                    )
                    row.append(f"{d.diff:+.4f}{interval}")
            table.add_row(*row)
        console.print(table)
        shown = [*result.slices, *result.worst_slices]
        if shown:
            primary = result.metrics[0].name if result.metrics else ""
            slices = Table(title=f"slices ({primary})")
            for col in ("slice", "kind", "support", primary, "vs baseline"):
                slices.add_column(col)
            for piece in shown:
                m = piece.metric(primary)
                d = piece.delta(primary)
                slices.add_row(
                    piece.name,
                    "found" if piece.kind == "auto" else piece.kind,
                    f"{piece.support:,}",
                    _fmt(m) if m is not None else f"[dim]{piece.reason}[/]",
                    "" if d is None or d.diff is None else f"{d.diff:+.4f}",
                )
            console.print(slices)
        for f in result.fairness:
            value = "not computable: " + f.reason if f.value is None else f"{f.value:.4f}"
            console.print(f"fairness {f.metric} over {f.column}: {value}")
        for note in result.notes:
            console.print(f"[yellow]note:[/] {note}")
    if evaluation.costs is not None:
        costs = evaluation.costs

        def ms(key: str, digits: int) -> str:
            text = f"{costs.latency_ms[key]:.{digits}f} ms"
            if costs.rounds > 1 and key in costs.latency_low_ms and key in costs.latency_high_ms:
                text += (
                    f" [{costs.latency_low_ms[key]:.{digits}f}, "
                    f"{costs.latency_high_ms[key]:.{digits}f}]"
                )
            return text

        rounds = f" (median of {costs.rounds} rounds [range])" if costs.rounds > 1 else ""
        console.print(
            f"costs{rounds}: 1 row p50 {ms('p50_1', 2)} / p99 {ms('p99_1', 2)}; 1,000 rows "
            f"p50 {ms('p50_1000', 1)} / p99 {ms('p99_1000', 1)}; peak memory "
            f"{costs.peak_memory_mb:.1f} MB; package {costs.artifact_bytes / 1e6:.2f} MB"
        )


def print_decision(decision: GateDecision) -> None:
    """Print each gate check and the verdict."""
    table = Table(title=f"gate {decision.policy} on {decision.model}")
    for col in ("", "rule", "dataset", "observed", "threshold", "reason"):
        table.add_column(col)
    for check in decision.checks:
        mark = {True: "[green]pass[/]", False: "[red]FAIL[/]", None: "[red]not checked[/]"}[
            check.passed
        ]
        table.add_row(
            mark, check.rule, check.dataset or "", check.observed, check.threshold, check.reason
        )
    console.print(table)
    if decision.passed:
        console.print(f"[bold green]PASSED[/]: all {len(decision.checks)} checks passed.")
    else:
        console.print(
            f"[bold red]FAILED[/]: {len(decision.failures)} of {len(decision.checks)} checks "
            "failed or could not be checked."
        )


def _evaluate(
    service: EvaluationService,
    model: str,
    datasets: list[str],
    *,
    slices: list[str],
    baseline: str,
    sensitive: list[str],
    resamples: int,
    metrics: list[str] | None = None,
    seed: int = 0,
) -> Evaluation:
    """Run an evaluation from the command line's options (``--baseline none``: no baseline)."""
    return service.evaluate(
        model,
        datasets=datasets,
        slices=[parse_slice(s) for s in slices],
        baseline=None if baseline.lower() == "none" else baseline,
        sensitive=sensitive,
        metrics=metrics,
        resamples=resamples,
        seed=seed,
    )


def evaluate_command(
    model: str = typer.Argument(..., help="name@version or name@alias"),
    dataset: list[str] = typer.Option(..., "--dataset", "-d", help="Dataset ref; repeat it."),
    slice_: list[str] = typer.Option([], "--slice", "-s", help=_SLICE_HELP),
    baseline: str = typer.Option(
        "champion", "--baseline", "-b", help="Alias or name@version; 'none' for no baseline."
    ),
    sensitive: list[str] = typer.Option([], "--sensitive", help="Fairness column; repeat it."),
    metric: list[str] = typer.Option([], "--metric", "-m", help="Metric name; repeat it."),
    resamples: int = typer.Option(1000, "--resamples", help="Bootstrap resamples (0: none)."),
    seed: int = typer.Option(0, "--seed"),
    report: Path | None = typer.Option(None, "--report", help="Write the HTML report here."),
    as_json: bool = typer.Option(False, "--json", help="Print the evaluation as JSON."),
) -> None:
    """Evaluate a model version on datasets, slices and a baseline; store the result."""
    service = _service()
    with console.status(f"Evaluating {model} on {', '.join(dataset)} ..."):
        evaluation = _evaluate(
            service,
            model,
            dataset,
            slices=slice_,
            baseline=baseline,
            sensitive=sensitive,
            metrics=metric or None,
            resamples=resamples,
            seed=seed,
        )
    if as_json:
        console.print_json(json.dumps(evaluation.to_dict()))
    else:
        print_evaluation(evaluation)
    if report is not None:
        console.print(f"report: {service.report(evaluation, report)}")


def gate_command(
    model: str = typer.Argument(..., help="name@version"),
    policy: Path = typer.Option(..., "--policy", "-p", help="The gate policy (YAML)."),
    dataset: list[str] = typer.Option(
        [], "--dataset", "-d", help="Evaluate on this dataset first; repeat it."
    ),
    evaluation_id: str | None = typer.Option(
        None,
        "--evaluation",
        help="Gate a stored evaluation (its id or a unique prefix of it) instead of running one.",
    ),
    slice_: list[str] = typer.Option([], "--slice", "-s", help=_SLICE_HELP),
    baseline: str = typer.Option("champion", "--baseline", "-b"),
    sensitive: list[str] = typer.Option([], "--sensitive"),
    resamples: int = typer.Option(1000, "--resamples"),
    report: Path | None = typer.Option(None, "--report", help="Write the HTML report here."),
) -> None:
    """Check a release gate; exits 1 when it fails (so it can stop a CI job)."""
    from loopml.evaluation.policy import load_policy

    if evaluation_id is None and not dataset:
        raise typer.BadParameter("give --dataset (to evaluate now) or --evaluation ID.")
    # The policy is read and checked before any work: a missing file or a misspelled metric
    # fails in milliseconds, with no evaluation or event stored. The service is given the file
    # itself, which a server's proxy sends as the data it parses to.
    load_policy(policy)
    service = _service()
    with console.status(f"Gating {model} with {policy} ..."):
        if evaluation_id is not None:
            evaluation = service.get(evaluation_id)
        else:
            evaluation = _evaluate(
                service,
                model,
                dataset,
                slices=slice_,
                baseline=baseline,
                sensitive=sensitive,
                resamples=resamples,
            )
        decision = service.gate(model, policy, evaluation=evaluation)
    print_decision(decision)
    if report is not None:
        console.print(f"report: {service.report(evaluation, report, decision=decision)}")
    if not decision.passed:
        raise typer.Exit(EXIT_GATE_FAILED)


@app.command("list")
def list_evaluations(
    model: str = typer.Argument(..., help="name or name@version"),
    as_json: bool = typer.Option(False, "--json", help="Print the records as JSON."),
) -> None:
    """List the evaluations of a model or version, newest first (full ids; any unique prefix
    of 4+ digits works in `evaluations show`, `evaluations report` and `gate --evaluation`)."""
    records = _service().list(model)
    if as_json:
        console.print_json(json.dumps([r.to_dict() for r in records]))
        return
    if not records:
        console.print(f"No evaluations of {model} yet. Run `loopml evaluate {model} -d DATASET`.")
        return
    table = Table()
    table.add_column("evaluation", no_wrap=True, overflow="fold", min_width=32)
    for col in ("model", "baseline", "datasets", "headline", "when", "by"):
        table.add_column(col)
    for r in records:
        first = next(iter(r.summary.values()), {})
        headline = ", ".join(
            f"{k} {v:.4f}" for k, v in list(first.items())[:2] if isinstance(v, float)
        )
        table.add_row(
            r.evaluation_id,
            r.model,
            r.baseline or "",
            ", ".join(r.datasets),
            headline,
            when(r.created_at),
            r.created_by,
        )
    console.print(table)


@app.command("show")
def show(
    evaluation_id: str = typer.Argument(..., help="The evaluation id, or a unique prefix of it."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Show a stored evaluation."""
    evaluation = _service().get(evaluation_id)
    if as_json:
        console.print_json(json.dumps(evaluation.to_dict()))
    else:
        print_evaluation(evaluation)


@app.command("report")
def report_command(
    evaluation_id: str = typer.Argument(..., help="The evaluation id, or a unique prefix of it."),
    out: Path = typer.Option(Path("evaluation.html"), "--out", "-o"),
) -> None:
    """Write a stored evaluation's self-contained HTML report (and JSON beside it)."""
    console.print(f"report: {_service().report(evaluation_id, out)}")
