"""A self-contained HTML report of an :class:`~loopml.core.entities.Evaluation`.

The page works offline and from an e-mail attachment: inline CSS, inline SVG charts drawn by
:mod:`loopml.evaluation.svg`, no script, no font or style fetched. Every piece of text is
escaped, since dataset, slice and group names come from user data. :func:`report_json` gives the
UI the same content as JSON.

Example:
    >>> html = render_html(evaluation, decision=decision)  # doctest: +SKIP
    >>> Path("report.html").write_text(html, encoding="utf-8")  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from loopml.core.entities.evaluation import (
    DatasetEvaluation,
    Evaluation,
    FairnessResult,
    GateDecision,
    MetricDelta,
    MetricValue,
    SliceResult,
)
from loopml.evaluation.gate_rules import higher_is_better
from loopml.evaluation.report_costs import costs_section
from loopml.evaluation.svg import Bar, Series, bar_chart, histogram, line_chart

_GROUP_KEYS = ("support", "selection_rate", "tpr", "fpr")

_CSS = """
:root{--ink:#1f2937;--muted:#6b7280;--line:#e5e7eb;--bg:#f9fafb;--good:#15803d;--bad:#b91c1c}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:var(--ink);
margin:0 auto;max-width:1120px;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:32px 0 8px;padding-bottom:4px;
border-bottom:2px solid var(--ink)}h3{font-size:15px;margin:20px 0 8px}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:8px 0}
dl.meta dt{color:var(--muted)}dl.meta dd{margin:0}
table{border-collapse:collapse;margin:6px 0 12px;font-variant-numeric:tabular-nums}
th,td{border-bottom:1px solid var(--line);padding:4px 10px;text-align:left;vertical-align:top}
th{background:var(--bg);font-weight:600}td.num{text-align:right;white-space:nowrap}
.na{color:var(--muted);font-style:italic}.better{color:var(--good);font-weight:600}
.worse{color:var(--bad);font-weight:600}.muted{color:var(--muted)}
.charts{display:flex;flex-wrap:wrap;gap:16px}
figure{width:fit-content;max-width:100%;margin:0;border:1px solid var(--line);border-radius:6px;
padding:8px;break-inside:avoid}
figcaption{font-weight:600;margin-bottom:4px}svg{max-width:100%;height:auto;display:block}
table.confusion td{text-align:right;min-width:56px}table.confusion small{display:block;opacity:.8}
table.inner th,table.inner td{padding:1px 6px;font-size:12px}
.banner{padding:10px 14px;border-radius:6px;font-weight:700;font-size:16px;margin:12px 0}
.banner.passed{background:#dcfce7;color:var(--good);border:1px solid #86efac}
.banner.failed{background:#fee2e2;color:var(--bad);border:1px solid #fca5a5}
.pass{color:var(--good);font-weight:700}.fail{color:var(--bad);font-weight:700}
@media print{body{padding:0;max-width:none}h2{break-after:avoid}section,table{break-inside:auto}
*{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
"""


def lower_is_better(metric: str) -> bool:
    """Return True when a smaller value of ``metric`` is better (losses and errors).

    Args:
        metric: The metric's name (``log_loss``, ``rmse``, ``error_q90``, ``auc``, ...).
    """
    return not higher_is_better(metric)


def _tone(metric: str, low: float | None, high: float | None) -> str:
    """``better``/``worse`` when the difference's interval excludes 0, else empty."""
    if low is None or high is None or low <= 0 <= high:
        return ""
    up = low > 0
    return "better" if up != lower_is_better(metric) else "worse"


def _num(value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return "—"
    if not math.isfinite(value):
        return str(value)
    if abs(value) >= 1000:
        return f"{value:+,.1f}" if signed else f"{value:,.1f}"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def _interval(low: float | None, high: float | None, *, signed: bool = False) -> str:
    if low is None or high is None:
        return "—"
    return f"[{_num(low, signed=signed)}, {_num(high, signed=signed)}]"


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def _meta(items: Sequence[tuple[str, str]]) -> str:
    rows = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in items)
    return f'<dl class="meta">{rows}</dl>'


def _floats(value: Any) -> list[float] | None:
    """A list of numbers from JSON data, or None when it is not one."""
    if not isinstance(value, Sequence) or isinstance(value, str):
        return None
    try:
        return [float(v) for v in value]
    except (TypeError, ValueError):
        return None


def _points(curve: Any, x_key: str, y_key: str) -> tuple[list[float], list[float]] | None:
    """The finite (x, y) pairs of one curve, or None when it is absent or malformed."""
    if not isinstance(curve, Mapping):
        return None
    xs, ys = _floats(curve.get(x_key)), _floats(curve.get(y_key))
    if xs is None or ys is None or len(xs) != len(ys):
        return None
    pairs = [(x, y) for x, y in zip(xs, ys, strict=True) if math.isfinite(x) and math.isfinite(y)]
    if not pairs:
        return None
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _figure(caption: str, svg: str) -> str:
    return f"<figure><figcaption>{escape(caption)}</figcaption>{svg}</figure>"


def _curve_chart(
    ev: Evaluation,
    curves: Mapping[str, Any],
    key: str,
    spec: tuple[str, str, str, str, bool],
) -> str:
    """One line chart for a curve and its ``baseline_`` twin; empty when neither is usable."""
    caption, x_key, y_key, labels, diagonal = spec
    x_label, y_label = labels.split("|")
    series: list[Series] = []
    for name, is_base in ((key, False), (f"baseline_{key}", True)):
        pts = _points(curves.get(name), x_key, y_key)
        if pts is None:
            continue
        notes: list[str] = []
        counts = _floats(curves[name].get("count")) if key == "calibration" else None
        if counts is not None and len(counts) == len(pts[0]):
            notes = [f"{c:,.0f} rows" for c in counts]
        label = (ev.baseline or "baseline") if is_base else ev.model
        series.append(Series(label, pts[0], pts[1], is_base, key == "calibration", notes))
    if not series:
        return ""
    svg = line_chart(
        series, title=f"{caption}: {ev.model}", x_label=x_label, y_label=y_label,
        diagonal=diagonal,
    )  # fmt: skip
    return _figure(caption, svg)


_CURVES: dict[str, tuple[str, str, str, str, bool]] = {
    "roc": ("ROC curve", "fpr", "tpr", "false positive rate|true positive rate", True),
    "pr": ("Precision-recall curve", "recall", "precision", "recall|precision", False),
    "calibration": (
        "Calibration", "predicted", "observed", "mean predicted probability|observed rate", True,
    ),
}  # fmt: skip


def _residuals_chart(ev: Evaluation, curves: Mapping[str, Any]) -> str:
    def hist(name: str) -> tuple[list[float], list[float]] | None:
        data = curves.get(name)
        if not isinstance(data, Mapping):
            return None
        edges, counts = _floats(data.get("edges")), _floats(data.get("counts"))
        if edges is None or counts is None or not counts or len(edges) != len(counts) + 1:
            return None
        if not all(math.isfinite(v) for v in edges + counts):
            return None
        return edges, counts

    cand, base = hist("residuals"), hist("baseline_residuals")
    if cand is None:
        return ""
    svg = histogram(
        cand[0], cand[1], title=f"Residuals: {ev.model}", x_label="residual (y − prediction)",
        baseline=base, candidate_label=ev.model, baseline_label=ev.baseline or "baseline",
    )  # fmt: skip
    return _figure("Residuals", svg)


def _confusion(curves: Mapping[str, Any]) -> str:
    data = curves.get("confusion")
    if not isinstance(data, Mapping):
        return ""
    labels, matrix = data.get("labels"), data.get("matrix")
    if not isinstance(labels, Sequence) or not isinstance(matrix, Sequence):
        return ""
    parsed = [_floats(r) for r in matrix]
    rows = [r for r in parsed if r is not None and len(r) == len(labels)]
    if not rows or len(rows) != len(parsed) or len(rows) != len(labels):
        return ""
    head = "".join(f"<th>{escape(str(label))}</th>" for label in labels)
    body: list[str] = []
    for label, row in zip(labels, rows, strict=True):
        total = sum(row) or 1.0
        cells = []
        for count in row:
            share = count / total
            color = "#fff" if share > 0.55 else "inherit"
            cells.append(
                f'<td style="background:rgba(37,99,235,{share:.2f});color:{color}">'
                f"{count:,.0f}<small>{share:.0%}</small></td>"
            )
        body.append(f"<tr><th>{escape(str(label))}</th>{''.join(cells)}</tr>")
    return (
        '<h3>Confusion matrix</h3><p class="muted">Rows: true label; columns: predicted. '
        "Shading and percentages are shares of the row.</p>"
        f'<table class="confusion"><tr><th>true \\ predicted</th>{head}</tr>'
        f"{''.join(body)}</table>"
    )


def _metrics_table(ds: DatasetEvaluation, has_baseline: bool) -> str:
    head = "<th>Metric</th><th>Value</th><th>Interval</th>"
    if has_baseline:
        head += "<th>Baseline</th><th>Difference</th><th>Difference interval</th>"
    rows = [f"<tr>{head}</tr>"]
    for m in ds.metrics:
        cells = _value_cells(m)
        if has_baseline:
            cells += _delta_cells(ds.delta(m.name), m.name)
        rows.append(f"<tr><td>{escape(m.name)}</td>{cells}</tr>")
    return f"<table>{''.join(rows)}</table>"


def _value_cells(m: MetricValue) -> str:
    if m.value is None:
        return f'<td colspan="2" class="na">not computable: {escape(m.reason)}</td>'
    return f'<td class="num">{_num(m.value)}</td><td class="num">{_interval(m.low, m.high)}</td>'


def _delta_cells(d: MetricDelta | None, metric: str) -> str:
    if d is None:
        return '<td class="na" colspan="3">no baseline value</td>'
    base = f'<td class="num">{_num(d.baseline)}</td>'
    if d.diff is None:
        return base + f'<td colspan="2" class="na">not computable: {escape(d.reason)}</td>'
    tone = _tone(metric, d.low, d.high)
    word = f" ({tone})" if tone else ""
    return (
        base + f'<td class="num {tone}">{_num(d.diff, signed=True)}{word}</td>'
        f'<td class="num {tone}">{_interval(d.low, d.high, signed=True)}</td>'
    )


def _bar(s: SliceResult, primary: str, group: str) -> Bar:
    m, d = s.metric(primary), s.delta(primary)
    note = (m.reason if m is not None else "") or s.reason or f"no {primary} for this slice"
    return Bar(
        label=s.name, group=group, support=s.support,
        value=None if m is None else m.value,
        low=None if m is None else m.low, high=None if m is None else m.high,
        baseline=None if d is None else d.baseline,
        tone="" if d is None else _tone(primary, d.low, d.high), note=note,
    )  # fmt: skip


def _slices(ds: DatasetEvaluation) -> str:
    if not ds.metrics or not (ds.slices or ds.worst_slices):
        return ""
    primary = ds.metrics[0].name
    bars = [_bar(s, primary, "Declared slices") for s in ds.slices]
    bars += [_bar(s, primary, "Worst slices (found by search)") for s in ds.worst_slices]
    svg = bar_chart(
        bars, title=f"{primary} by slice on {ds.dataset}", metric=primary,
        reference=ds.metrics[0].value,
    )  # fmt: skip
    tone = "lower" if lower_is_better(primary) else "higher"
    return (
        f'<h3>Slices: {escape(primary)}</h3><p class="muted">{tone.capitalize()} is better. '
        "Bars are green or red when the paired difference with the baseline excludes 0.</p>"
        + _figure(f"{primary} per slice", svg)
    )


def _fairness(items: Sequence[FairnessResult]) -> str:
    if not items:
        return ""
    rows = ["<tr><th>Column</th><th>Measure</th><th>Value</th><th>Groups</th></tr>"]
    for f in items:
        value = (
            f'<td class="num">{_num(f.value)}</td>'
            if f.value is not None
            else f'<td class="na">not computable: {escape(f.reason)}</td>'
        )
        found = {k for g in f.groups.values() for k in g}
        keys = [k for k in _GROUP_KEYS if k in found] + sorted(found - set(_GROUP_KEYS))
        inner = "".join(f"<th>{escape(k)}</th>" for k in keys)
        group_rows = "".join(
            f"<tr><td>{escape(name)}</td>"
            + "".join(f'<td class="num">{_cell(g.get(k))}</td>' for k in keys)
            + "</tr>"
            for name, g in f.groups.items()
        )
        groups = (
            f'<table class="inner"><tr><th>group</th>{inner}</tr>{group_rows}</table>'
            if f.groups
            else ""
        )
        rows.append(
            f"<tr><td>{escape(f.column)}</td><td>{escape(f.metric)}</td>{value}"
            f"<td>{groups}</td></tr>"
        )
    return f"<h3>Fairness</h3><table>{''.join(rows)}</table>"


def _cell(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "—" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return _num(value)
    return escape(str(value))


def _dataset_section(ev: Evaluation, ds: DatasetEvaluation, index: int) -> str:
    has_baseline = ev.baseline is not None or bool(ds.deltas)
    header = _meta([
        ("Model", ev.model), ("Baseline", ev.baseline or "none"), ("Task", ev.task),
        ("Dataset", ds.dataset), ("Rows", f"{ds.rows:,}"), ("When", _when(ev.created_at)),
        ("By", ev.created_by),
    ])  # fmt: skip
    curves = ds.curves if isinstance(ds.curves, Mapping) else {}
    charts = [_curve_chart(ev, curves, key, spec) for key, spec in _CURVES.items()]
    charts.append(_residuals_chart(ev, curves))
    chart_html = "".join(c for c in charts if c)
    notes = "".join(f"<li>{escape(n)}</li>" for n in ds.notes)
    return (
        f'<section id="dataset-{index}"><h2>Dataset {escape(ds.dataset)}</h2>{header}'
        f"<h3>Overall metrics</h3>{_metrics_table(ds, has_baseline)}"
        + (f'<div class="charts">{chart_html}</div>' if chart_html else "")
        + _confusion(curves)
        + _slices(ds)
        + _fairness(ds.fairness)
        + (f"<h3>Notes</h3><ul>{notes}</ul>" if notes else "")
        + "</section>"
    )


def _verdict(decision: GateDecision) -> bool:
    """Passed only when the decision says so and no check failed or went unchecked."""
    return decision.passed and not decision.failures


def _banner(decision: GateDecision) -> str:
    passed = _verdict(decision)
    word = "PASSED" if passed else "FAILED"
    failed, total = len(decision.failures), len(decision.checks)
    detail = "" if passed else f" — {failed} of {total} checks did not pass"
    return (
        f'<div class="banner {word.lower()}">Gate {escape(decision.policy)}: {word}'
        f"{escape(detail)}</div>"
    )


def _gate(decision: GateDecision | None) -> str:
    if decision is None:
        return ""
    rows = [
        "<tr><th>Rule</th><th>Dataset</th><th>Result</th><th>Observed</th><th>Threshold</th>"
        "<th>Reason</th></tr>"
    ]
    for c in decision.checks:
        if c.passed is None:
            result = '<span class="fail">not checked</span>'
        else:
            result = '<span class="pass">✓ passed</span>' if c.passed else (
                '<span class="fail">✗ failed</span>')  # fmt: skip
        rows.append(
            f"<tr><td>{escape(c.rule)}</td><td>{escape(c.dataset or '')}</td><td>{result}</td>"
            f'<td class="num">{escape(c.observed)}</td><td class="num">{escape(c.threshold)}'
            f"</td><td>{escape(c.reason)}</td></tr>"
        )
    meta = _meta([("Policy", decision.policy), ("When", _when(decision.at)),
                  ("By", decision.actor)])  # fmt: skip
    return (
        f'<section id="gate"><h2>Release gate</h2>{_banner(decision)}{meta}'
        f"<table>{''.join(rows)}</table></section>"
    )


def render_html(
    evaluation: Evaluation, *, decision: GateDecision | None = None, title: str | None = None
) -> str:
    """Render an evaluation as one self-contained HTML5 page.

    Args:
        evaluation: What to report.
        decision: A gate decision on it; adds the checks table and a PASSED/FAILED banner.
        title: The page title (default: ``Evaluation of <model>``).

    Returns:
        The page: inline CSS and SVG only, nothing loaded from elsewhere, no script.

    Example:
        >>> page = render_html(evaluation, title="Nightly evaluation")  # doctest: +SKIP
    """
    ev = evaluation
    page_title = title or f"Evaluation of {ev.model}"
    config = [
        (str(k), str(v)) for k, v in ev.config.items() if isinstance(v, (str, int, float, bool))
    ]
    header = _meta([
        ("Model", ev.model), ("Baseline", ev.baseline or "none"), ("Task", ev.task),
        ("Target", ev.target), ("Datasets", ", ".join(d.dataset for d in ev.datasets) or "none"),
        ("When", _when(ev.created_at)), ("By", ev.created_by),
        ("Evaluation", ev.evaluation_id), *config,
    ])  # fmt: skip
    sections = "".join(_dataset_section(ev, ds, i) for i, ds in enumerate(ev.datasets))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(page_title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{escape(page_title)}</h1>{header}"
        + (_banner(decision) if decision is not None else "")
        + f"</header><main>{sections}{costs_section(ev.costs)}{_gate(decision)}</main>"
        '<footer class="muted"><p>Generated by loopml. Intervals are bootstrap confidence '
        "intervals; differences are paired (both models scored on the same resamples).</p>"
        "</footer></body></html>\n"
    )


def report_json(evaluation: Evaluation, *, decision: GateDecision | None = None) -> dict[str, Any]:
    """Return the report's data for the UI, JSON-ready.

    Args:
        evaluation: What to report.
        decision: A gate decision on it, if any.

    Returns:
        ``evaluation`` (its ``to_dict()``), ``decision`` (its ``to_dict()`` or None),
        ``passed`` (the banner's verdict, None without a decision) and ``lower_is_better``
        (each metric name in the evaluation mapped to its direction).
    """
    names = {m.name for ds in evaluation.datasets for m in ds.metrics}
    return {
        "evaluation": evaluation.to_dict(),
        "decision": None if decision is None else decision.to_dict(),
        "passed": None if decision is None else _verdict(decision),
        "lower_is_better": {n: lower_is_better(n) for n in sorted(names)},
    }


def write_report(
    evaluation: Evaluation, path: str | Path, *, decision: GateDecision | None = None
) -> Path:
    """Write the self-contained HTML report at ``path`` and its JSON at ``<path>.json``
    (folders made as needed); return ``path``."""
    import orjson

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_html(evaluation, decision=decision), encoding="utf-8")
    target.with_suffix(".json").write_bytes(
        orjson.dumps(report_json(evaluation, decision=decision), option=orjson.OPT_INDENT_2)
    )
    return target
