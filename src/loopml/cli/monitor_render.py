"""Rich tables of ``loopml monitor``: a run's windows and alerts, and stored results."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from loopml.cli.render import when
from loopml.core.entities import MonitorReport, MonitorResult, MonitorWindow

console = Console()


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
        _ops(w),
    ]


def _ops(w: MonitorWindow) -> str:
    """Latency p50/p99 and the error and fallback rates of the prediction log's rows."""
    ops = w.ops
    if not ops:
        return "-"
    p50, p99 = ops.get("latency_p50_ms"), ops.get("latency_p99_ms")
    latency = "-" if p50 is None or p99 is None else f"{p50:.1f}/{p99:.1f} ms"
    errors, fallbacks = ops.get("error_rate") or 0.0, ops.get("fallback_rate") or 0.0
    return f"{latency} err {errors:.1%} fb {fallbacks:.1%}"


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
        "p50/p99, errors, fallbacks",  # 10: the prediction log's operational figures
    ]
    logged = any(w.ops for w in report.windows)
    keep = [
        i for i in range(len(names)) if (report.model or not 5 <= i <= 8) and (logged or i != 10)
    ]
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


def _performance(w: MonitorWindow) -> str:
    parts = []
    for label, values in (("", w.performance), ("est. ", w.estimated)):
        metric = values.get("roc_auc") or values.get("accuracy")
        if metric is not None and metric.value is not None:
            parts.append(f"{label}{metric.name} {metric.value:.3f}")
    return ", ".join(parts) or "-"


def _alert_cell(result: MonitorResult) -> str:
    cells = []
    for a in result.alerts:
        color = _COLORS.get(a.severity, "white")
        cells.append(
            f"[dim]{a.rule} (suppressed)[/]" if a.status != "fired" else f"[{color}]{a.rule}[/]"
        )
    return ", ".join(cells) or "-"


def render_results(results: Sequence[MonitorResult]) -> None:
    """Print stored results, one row per window."""
    table = Table()
    for name in (
        "run",
        "when",
        "subject",
        "model",
        "window",
        "rows",
        "drift share",
        "drifted features",
        "performance",
        "alerts",
    ):
        table.add_column(name, overflow="fold")
    for r in results:
        w = r.window
        table.add_row(
            r.run_id[:12],
            when(r.created_at),
            r.subject,
            r.model or "-",
            (w.start or f"#{w.index}").replace("T00:00:00Z", ""),
            f"{w.rows:,}",
            f"{_flag(w.dataset_drift)} {_num(w.drift_share, 2)}",
            ", ".join(w.drifted_features) or "-",
            _performance(w),
            _alert_cell(r),
        )
    console.print(table)
