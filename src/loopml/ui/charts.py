"""Charts of the pages: metric curves per step (JSON that ``loopml.js`` draws) and small bar
charts rendered on the server as SVG (a column's histogram, a slice's metric).

The pages draw curves with uPlot (MIT, vendored in ``static/vendor/uplot``: about 50 KB, fast
on long series, drag to zoom and double-click to reset built in). A chart is a JSON object in
the page (``<script type="application/json" class="chart-data">``, never executed): a title,
the x values (steps, ascending) and one series per run, aligned on the x values (``null``
where a run has no point at that step, drawn as a gap).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from markupsafe import Markup, escape

from loopml.core.entities import MetricPoint

__all__ = ["bars_svg", "curve_chart", "to_json"]


def _value(value: float) -> float | None:
    return value if math.isfinite(value) else None


def curve_chart(
    title: str, histories: Mapping[str, Sequence[MetricPoint]]
) -> dict[str, Any] | None:
    """One metric's curves, one series per label (a run), aligned by step.

    A step logged several times keeps its last point (the order the store returns: by step,
    then time). Returns None when no series has two points or more (a single value needs no
    chart: the page shows the number).
    """
    if not any(len(points) > 1 for points in histories.values()):
        return None
    by_label: dict[str, dict[int, float | None]] = {}
    for label, points in histories.items():
        by_label[label] = {point.step: _value(point.value) for point in points}
    steps = sorted({step for values in by_label.values() for step in values})
    return {
        "title": title,
        "x": steps,
        "series": [
            {"label": label, "y": [values.get(step) for step in steps]}
            for label, values in by_label.items()
        ],
    }


def to_json(chart: Mapping[str, Any]) -> str:
    """The chart as JSON safe inside a ``<script type="application/json">`` element."""
    text = orjson.dumps(chart).decode()
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def bars_svg(
    values: Sequence[float | None],
    *,
    labels: Sequence[str] | None = None,
    width: int = 180,
    height: int = 40,
    horizontal: bool = False,
) -> Markup:
    """A small bar chart as inline SVG (no script): each bar's ``<title>`` names its label and
    value, so hovering shows them. ``horizontal`` draws one row per value, scaled to the
    largest (for slices and categories); else columns side by side (a histogram)."""
    shown = [v if v is not None and math.isfinite(v) else 0.0 for v in values]
    names = list(labels) if labels is not None else [str(i) for i in range(len(shown))]
    top = max((abs(v) for v in shown), default=0.0) or 1.0
    parts = []
    if horizontal:
        row = 14
        height = row * len(shown)
        for i, (value, name) in enumerate(zip(shown, names, strict=True)):
            length = max(1.0, width * abs(value) / top)
            parts.append(
                f'<rect x="0" y="{i * row + 2}" width="{length:.1f}" height="{row - 4}">'
                f"<title>{escape(name)}: {value:.6g}</title></rect>"
            )
    else:
        step = width / max(1, len(shown))
        for i, (value, name) in enumerate(zip(shown, names, strict=True)):
            tall = max(1.0, height * abs(value) / top) if value else 0.0
            parts.append(
                f'<rect x="{i * step:.1f}" y="{height - tall:.1f}" width="{max(1.0, step - 1):.1f}"'
                f' height="{tall:.1f}"><title>{escape(name)}: {value:.6g}</title></rect>'
            )
    return Markup(
        f'<svg class="bars" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" xmlns="http://www.w3.org/2000/svg">{"".join(parts)}</svg>'
    )
