"""The deployments page's charts from bucketed log rows and a deployment's changes, and the
lineage graph's SVG: pure functions, checked without a browser."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from loopml.core.entities import Event
from loopml.store.logs.buckets import BUCKET_COLUMNS
from loopml.ui.deployment_charts import traffic_view
from loopml.ui.lineage_graph import LineageGraph, Node, graph_svg

W = 60_000


def _buckets(rows: list[tuple[int, str, int, int, int, int, float | None]]) -> pa.Table:
    names = [c for c in BUCKET_COLUMNS if c != "latency_p95_ms"]
    records = [dict(zip(names, (s, W, *rest), strict=True)) for s, *rest in rows]
    for r in records:
        r["latency_p95_ms"] = None if r["latency_p50_ms"] is None else 2 * r["latency_p50_ms"]
    return pa.Table.from_pylist(records)


def _change(at: int, version: int, share: float | None) -> Event:
    canary = None if share is None else {"ref": "m@2", "share": share}
    after: dict[str, Any] = {"champion": "m@champion", "canary": canary}
    return Event(
        event_id=f"{version:032x}",
        kind="deployment.created" if version == 1 else "deployment.changed",
        subject="deployment:d",
        actor="root",
        at=at,
        data={"version": version, "after": after},
    )


def _series(view: Any, title: str) -> dict[str, list[float | None]]:
    (chart,) = [c for c, _ in view.charts if c["title"] == title]
    return {s["label"]: s["y"] for s in chart["series"]}


def test_rates_split_and_totals_from_the_buckets() -> None:
    # start, route, version, rows, requests, errors, p50
    table = _buckets(
        [
            (0, "champion", 1, 90, 18, 9, 10.0),
            (0, "fallback", 0, 10, 2, 0, 1.0),
            (W, "champion", 1, 50, 10, 0, 12.0),
            (W, "canary", 2, 50, 10, 5, 20.0),
            (W, "shadow", 3, 50, 10, 0, 30.0),
            (3 * W, "champion", 1, 40, 8, 0, None),
        ]
    )
    history = [_change(-5, 1, None), _change(W + 10, 2, 50.0)]
    view = traffic_view(table, history, received=True, until_ms=10 * W)
    assert view.width_ms == W
    (chart, text) = view.charts[0]
    assert chart["time"] is True and chart["x"] == [0, 60, 180]  # seconds since the epoch
    assert "<" not in text
    assert view.totals["champion"] == {"rows": 180, "requests": 36, "errors": 9}
    errors = _series(view, "error rate")
    assert errors["champion"] == [0.1, 0.0, 0.0] and errors["canary"] == [None, 0.1, None]
    assert _series(view, "fallback rate") == {"fallback": [0.1, 0.0, 0.0]}  # shadow not counted
    latency = _series(view, "latency (ms)")
    assert latency["canary p95"] == [None, 40.0, None] and latency["champion p50"][2] is None
    split = _series(view, "traffic split")
    assert split["canary share of answered rows (%)"] == [0.0, 50.0, 0.0]
    # asked: at each bucket's middle, the last change before it
    assert split["canary share asked (%)"] == [0.0, 50.0, 50.0]


def test_by_event_time_the_split_asked_is_left_out_and_no_rows_show_the_record() -> None:
    table = _buckets([(0, "champion", 1, 5, 1, 0, 3.0)])
    view = traffic_view(table, [_change(0, 1, None)], received=False, until_ms=W)
    assert list(_series(view, "traffic split")) == ["canary share of answered rows (%)"]
    empty = traffic_view(
        pa.table({c: [] for c in BUCKET_COLUMNS}),
        [_change(0, 1, None), _change(W, 2, 25.0)],
        received=True,
        until_ms=2 * W,
    )
    assert empty.totals == {} and empty.width_ms is None
    ((chart, _),) = empty.charts
    assert chart["x"] == [0, 60, 120]
    assert chart["series"][0]["y"] == [0.0, 25.0, 25.0]


def test_the_graph_links_every_node_and_draws_every_edge() -> None:
    graph = LineageGraph()
    data = graph.add(Node("dataset:d@1", "dataset", "d@1", "10 rows", "/datasets/d/1"))
    run = graph.add(Node("run:abc", "run", "r", "run abc", "/runs/abc", current=True))
    model = graph.add(Node("model:m@1", "model", "m@1<b>", "approved", "/models/m/1"))
    graph.link(data, run)
    graph.link(run, model)
    svg = str(graph_svg(graph))
    assert svg.count("<a href=") == 3 and svg.count('class="edge"') == 2
    assert 'href="/runs/abc" class="node run current"' in svg
    assert "m@1&lt;b&gt;" in svg and "<b>" not in svg  # labels escaped
    assert str(graph_svg(LineageGraph())).startswith('<svg class="lineage-graph" width="8"')
