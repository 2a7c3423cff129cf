"""Chart data for the pages: metric curves per step, as the JSON ``loopml.js`` draws.

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

from loopml.core.entities import MetricPoint

__all__ = ["curve_chart", "to_json"]


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
