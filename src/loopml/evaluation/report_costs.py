"""The costs section of the HTML report: latency per batch size (the median over timing
rounds, with the range over the rounds), peak memory and the package's size."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from loopml.core.entities.evaluation import CostResult

__all__ = ["costs_section"]


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} GB"  # pragma: no cover - the loop always returns


def _meta(items: Sequence[tuple[str, str]]) -> str:
    rows = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in items)
    return f'<dl class="meta">{rows}</dl>'


def costs_section(costs: CostResult | None) -> str:
    """The ``<section id="costs">`` of the report."""
    if costs is None:
        return '<section id="costs"><h2>Costs</h2><p class="na">Not measured.</p></section>'
    lat, low, high = costs.latency_ms, costs.latency_low_ms, costs.latency_high_ms

    def ms(key: str) -> str:
        if key not in lat:
            return "—"
        text = f"{lat[key]:,.2f} ms"
        if key in low and key in high and costs.rounds > 1:
            text += f' <span class="muted">[{low[key]:,.2f}, {high[key]:,.2f}]</span>'
        return text

    rows = [
        "<tr><th>Measure</th><th>1 row</th><th>1,000 rows</th></tr>",
        f'<tr><td>latency p50</td><td class="num">{ms("p50_1")}</td>'
        f'<td class="num">{ms("p50_1000")}</td></tr>',
        f'<tr><td>latency p99</td><td class="num">{ms("p99_1")}</td>'
        f'<td class="num">{ms("p99_1000")}</td></tr>',
    ]
    note = (
        f'<p class="muted">Latency: the median over {costs.rounds} timing rounds of each '
        "round's percentile; in brackets the range over the rounds.</p>"
        if costs.rounds > 1
        else ""
    )
    other = _meta([
        ("Peak memory (1,000 rows)", f"{costs.peak_memory_mb:,.1f} MB"),
        ("Artifact size", _size(costs.artifact_bytes)),
    ])  # fmt: skip
    return (
        f'<section id="costs"><h2>Costs</h2><table>{"".join(rows)}</table>{note}{other}</section>'
    )
