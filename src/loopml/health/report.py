"""The self-contained offline HTML report of a monitor run (``MonitorReport.to_html``).

One file, no script and nothing fetched: the alerts the run fired first (rule, severity, window,
the value against the condition), then a summary table of the windows (rows, drift share,
domain classifier, realized and estimated performance, concept drift), inline SVG charts of the
drift share and of performance (realized and estimated) over the windows, then per window its
features sorted by severity (a small chart of the reference's and the window's distribution:
quantile curves for numbers, share bars for categories; test, statistic, threshold, verdict,
note) and its data-quality anomalies. Text from user data is escaped.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path

from loopml.core.entities import Alert, FeatureDrift, MetricValue, MonitorReport, MonitorWindow
from loopml.core.entities.monitoring import severity

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem;
color:#1f2937;max-width:1200px}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{padding:.25rem .6rem;
border-bottom:1px solid #e5e7eb;text-align:left;font-size:.9rem}th{background:#f9fafb}
.bad{color:#dc2626;font-weight:600}.ok{color:#16a34a}.na{color:#6b7280}
.meta{color:#6b7280;font-size:.9rem}figure{margin:0 0 1.5rem}
.critical{color:#dc2626;font-weight:600}.warning{color:#d97706;font-weight:600}.info{color:#2563eb}
"""
_COLORS = ("#2563eb", "#d97706", "#16a34a", "#dc2626")


def _num(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return '<span class="na">n/a</span>'
    return f"{value:.{digits}g}" if abs(value) < 1e-3 and value != 0 else f"{value:.{digits}f}"


def _verdict(flag: bool | None) -> str:
    if flag is None:
        return '<span class="na">not computable</span>'
    return '<span class="bad">drift</span>' if flag else '<span class="ok">ok</span>'


def _label(w: MonitorWindow) -> str:
    if w.start is not None:
        return w.start.replace("T00:00:00Z", "").replace(":00Z", "Z")
    return f"#{w.index}"


def _metric(values: dict[str, MetricValue] | object, name: str) -> MetricValue | None:
    return values.get(name) if isinstance(values, dict) else None


def _chart(title: str, labels: Sequence[str], series: dict[str, list[float | None]]) -> str:
    """A small line chart (values in [0, 1]) as inline SVG."""
    width, height, left, bottom = 720.0, 220.0, 40.0, 30.0
    n = max(1, len(labels) - 1)
    plot_w, plot_h = width - left - 10, height - bottom - 20

    def xy(i: int, v: float) -> str:
        return f"{left + plot_w * i / n:.1f},{10 + plot_h * (1 - v):.1f}"

    parts = [
        f'<svg viewBox="0 0 {width:.0f} {height:.0f}" width="100%" role="img" '
        f'aria-label="{escape(title)}">'
    ]
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = 10 + plot_h * (1 - tick)
        parts.append(
            f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e7eb"/>'
            f'<text x="4" y="{y + 4:.1f}" font-size="10" fill="#6b7280">{tick:g}</text>'
        )
    for k, (name, values) in enumerate(series.items()):
        color = _COLORS[k % len(_COLORS)]
        points = [xy(i, v) for i, v in enumerate(values) if v is not None]
        if points:
            parts.append(
                f'<polyline fill="none" stroke="{color}" stroke-width="2" '
                f'points="{" ".join(points)}"/>'
            )
            parts.extend(
                f'<circle cx="{p.split(",")[0]}" cy="{p.split(",")[1]}" r="2.5" fill="{color}"/>'
                for p in points
            )
        parts.append(
            f'<text x="{left + 10 + 150 * k}" y="{height - 6}" font-size="11" '
            f'fill="{color}">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return f"<figure><figcaption>{escape(title)}</figcaption>{''.join(parts)}</figure>"


def _summary(report: MonitorReport) -> str:
    head = (
        "<tr><th>window</th><th>rows</th><th>dataset drift</th><th>drift share</th>"
        "<th>drifted features</th><th>domain AUC</th><th>score drift</th>"
        "<th>realized roc_auc</th><th>estimated roc_auc</th><th>labels</th>"
        "<th>concept drift</th></tr>"
    )
    rows = []
    for w in report.windows:
        multi = w.multivariate
        real = _metric(dict(w.performance), "roc_auc")
        est = _metric(dict(w.estimated), "roc_auc")
        rows.append(
            "<tr>"
            f"<td>{escape(_label(w))}</td><td>{w.rows:,}</td><td>{_verdict(w.dataset_drift)}</td>"
            f"<td>{_num(w.drift_share, 2)}</td>"
            f"<td>{escape(', '.join(w.drifted_features)) or '-'}</td>"
            f"<td>{_num(multi.auc if multi else None)} "
            f"{_verdict(multi.drifted) if multi else ''}</td>"
            f"<td>{_verdict(w.prediction_drift.drifted) if w.prediction_drift else '-'}</td>"
            f"<td>{_num(real.value if real else None)}</td>"
            f"<td>{_num(est.value if est else None)}</td>"
            f"<td>{_num(w.label_coverage, 2)}</td>"
            f"<td>{_verdict(w.concept_drift.detected) if w.concept_drift else '-'}</td>"
            "</tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def _observed(alert: Alert) -> str:
    """What made an alert fire, in words: the value its condition compared."""
    e = alert.evidence
    if "drift_share" in e and e["drift_share"] is not None:
        features = ", ".join(e.get("drifted_features") or []) or "-"
        return f"drift_share {float(e['drift_share']):.2f} (drifted: {features})"
    for side in ("performance", "estimated"):
        if isinstance(e.get(side), Mapping):
            m = e[side]
            used = e.get("compared", "value")
            shown = m.get(used) if used in ("low", "high") else m.get("value")
            return (
                f"{side}.{m.get('name')} {used} {_plain(shown)} "
                f"(value {_plain(m.get('value'))}, interval {_plain(m.get('low'))}-"
                f"{_plain(m.get('high'))})"
            )
    if "feature" in e:
        p = f", p {_plain(e.get('p_value'))}" if e.get("p_value") is not None else ""
        return (
            f"{e['feature']}: {e.get('test')} {_plain(e.get('statistic'))}{p} "
            f"vs threshold {_plain(e.get('threshold'))}"
        )
    for key, value in e.items():
        if isinstance(value, Mapping):  # multivariate, prediction or concept drift verdicts
            detail = value.get("auc", value.get("statistic", value.get("reason")))
            return f"{key}: {_plain(detail)}"
    return "-"


def _plain(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if math.isfinite(value) else str(value)
    return "-" if value is None else str(value)


def _alerts(report: MonitorReport) -> str:
    """The alerts of the run, for the top of the page (nothing when no rule held)."""
    if not report.alerts:
        return ""
    windows = {w.index: w for w in report.windows}
    rows = []
    for a in report.alerts:
        w = windows.get(a.window)
        status = "fired" if a.status == "fired" else "suppressed (within its cooldown)"
        failed = [sink for sink, outcome in a.deliveries.items() if outcome != "ok"]
        rows.append(
            f"<tr><td class='{escape(a.severity)}'>{escape(a.severity)}</td>"
            f"<td>{escape(a.rule)}</td>"
            f"<td>{escape(_label(w) if w is not None else '#' + str(a.window))}</td>"
            f"<td>{escape(_observed(a))}</td><td><code>{escape(a.condition)}</code></td>"
            f"<td>{escape(status)}"
            + (
                f" <span class='bad'>delivery failed: {escape(', '.join(failed))}</span>"
                if failed
                else ""
            )
            + "</td></tr>"
        )
    return (
        f"<h2>Alerts ({len(report.alerts)})</h2><table><tr><th>severity</th><th>rule</th>"
        "<th>window</th><th>value</th><th>condition</th><th>status</th></tr>"
        f"{''.join(rows)}</table>"
    )


def _shape(reference: Mapping[str, float], current: Mapping[str, float]) -> str:
    """A small chart of one feature: reference vs window quantile curves (numbers: value on x,
    probability on y) or paired share bars (categories)."""
    if not reference or not current:
        return ""
    width, height = 180.0, 46.0
    ref_color, cur_color = _COLORS[1], _COLORS[0]
    parts = [f'<svg viewBox="0 0 {width:.0f} {height:.0f}" width="180" height="46">']
    if all(k.startswith("q") and k[1:].isdigit() for k in reference):
        values = [*reference.values(), *current.values()]
        lo, hi = min(values), max(values)
        span = (hi - lo) or 1.0
        for data, color in ((reference, ref_color), (current, cur_color)):
            points = " ".join(
                f"{4 + (width - 8) * (v - lo) / span:.1f},{height - 4 - (height - 8) * i / 10:.1f}"
                for i, v in enumerate(data.values())
            )
            parts.append(
                f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{points}"/>'
            )
    else:
        keys = list(reference)
        step = (width - 8) / max(1, len(keys))
        for i, key in enumerate(keys):
            for j, (data, color) in enumerate(((reference, ref_color), (current, cur_color))):
                share = float(data.get(key, 0.0))
                bar = (height - 8) * min(max(share, 0.0), 1.0)
                parts.append(
                    f'<rect x="{4 + i * step + j * step / 2:.1f}" y="{height - 4 - bar:.1f}" '
                    f'width="{max(step / 2 - 1, 1):.1f}" height="{bar:.1f}" fill="{color}">'
                    f"<title>{escape(key)}: {share:.1%}</title></rect>"
                )
    parts.append("</svg>")
    return "".join(parts)


def _features(w: MonitorWindow, reference: Mapping[str, Mapping[str, float]]) -> str:
    items: list[tuple[str, FeatureDrift]] = sorted(
        w.features.items(), key=lambda item: severity(item[1]), reverse=True
    )
    if w.prediction_drift is not None:
        items.append(("(model score)", w.prediction_drift))
    rows = "".join(
        f"<tr><td>{escape(name)}</td>"
        f"<td>{_shape(reference.get(name, {}), w.distributions.get(name, {}))}</td>"
        f"<td>{escape(f.test)}</td><td>{_num(f.statistic)}</td>"
        f"<td>{_num(f.p_value)}</td><td>{_num(f.threshold)}</td><td>{_verdict(f.drifted)}</td>"
        f"<td>{escape(f.note)}</td></tr>"
        for name, f in items
    )
    quality = "".join(f"<li>{escape(a.severity)}: {escape(a.message)}</li>" for a in w.quality)
    multi = w.multivariate
    domain = (
        f"<p>Domain classifier: AUC {_num(multi.auc)} (threshold {_num(multi.threshold)}) "
        f"{_verdict(multi.drifted)}; separating features: "
        f"{escape(', '.join(multi.top_features)) or '-'}. {escape(multi.note)}</p>"
        if multi
        else ""
    )
    concept = (
        f"<p>Concept drift: {_verdict(w.concept_drift.detected)} "
        f"{escape(w.concept_drift.reason)}</p>"
        if w.concept_drift
        else ""
    )
    return (
        f"<h3>Window {escape(_label(w))} ({w.rows:,} rows)</h3>"
        "<table><tr><th>feature</th><th>reference (amber) vs window (blue)</th><th>test</th>"
        "<th>statistic</th><th>p-value (Holm)</th>"
        f"<th>threshold</th><th>verdict</th><th>note</th></tr>{rows}</table>{domain}{concept}"
        + (f"<p>Data quality:</p><ul>{quality}</ul>" if quality else "")
        + "".join(f"<p class='meta'>{escape(n)}</p>" for n in w.notes)
    )


def render_html(report: MonitorReport) -> str:
    """The report as one HTML page."""
    labels = [_label(w) for w in report.windows]
    charts = _chart(
        "Share of drifted features per window",
        labels,
        {"drift share": [w.drift_share for w in report.windows]},
    )
    if report.model is not None:
        series: dict[str, list[float | None]] = {}
        for kind, attr in (("realized", "performance"), ("estimated", "estimated")):
            for name in ("roc_auc", "accuracy"):
                values = [_metric(dict(getattr(w, attr)), name) for w in report.windows]
                series[f"{kind} {name}"] = [v.value if v else None for v in values]
        charts += _chart("Performance per window (realized and estimated)", labels, series)
    meta = (
        f"<p class='meta'>current {escape(report.current)} vs reference "
        f"{escape(report.reference)}; model {escape(report.model or '-')}; window "
        f"{escape(report.window or 'one')}; thresholds "
        f"{escape(json.dumps(dict(report.thresholds)))}"
        + (f"; estimate calibration: {escape(report.calibration)}" if report.calibration else "")
        + (f"; stored as monitor run {escape(report.run_id)}" if report.run_id else "")
        + "</p>"
        + "".join(f"<p class='meta'>{escape(n)}</p>" for n in report.notes)
    )
    body = "".join(_features(w, report.reference_distributions) for w in report.windows)
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>loopml monitor report</title>"
        f"<style>{_CSS}</style></head><body><h1>Monitoring report</h1>{meta}"
        f"{_alerts(report)}{_summary(report)}{charts}<h2>Windows</h2>{body}</body></html>"
    )


def write_html(report: MonitorReport, path: Path) -> Path:
    """Write :func:`render_html` to ``path`` (parents created) and return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(report), encoding="utf-8")
    return path
