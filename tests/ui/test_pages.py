"""The pages in a real browser against a real server: what each shows matches the store.

Every test saves a screenshot of the page it checked under pytest's tmp dir (``shots``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import Page, Request

from tests.rest.live_server import LiveServer


def _cells(page: Page, selector: str) -> list[str]:
    return [text.strip() for text in page.locator(selector).all_inner_texts()]


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def test_experiments_page_counts_the_runs(
    viewer: Page, ui_server: LiveServer, facts: dict[str, Any], shots: Path
) -> None:
    viewer.goto(f"{ui_server.url}/experiments")
    row = viewer.locator(f"tr[data-experiment='{facts['experiment']}']")
    assert row.locator(".runs-count").inner_text() == str(len(facts["runs"]))
    viewer.screenshot(path=shots / "experiments.png", full_page=True)
    experiment_id = row.locator("td.mono").inner_text()
    viewer.goto(f"{ui_server.url}/experiments/{experiment_id}/runs")  # by id too
    assert viewer.locator("#run-count").inner_text() == f"{len(facts['runs'])} runs"
    viewer.goto(f"{ui_server.url}/experiments")
    row.locator("a").first.click()
    viewer.wait_for_url(f"**/experiments/{facts['experiment']}/runs")
    assert viewer.locator("#run-count").inner_text() == f"{len(facts['runs'])} runs"


def test_runs_page_pages_sorts_filters_and_chooses_columns(
    viewer: Page, ui_server: LiveServer, facts: dict[str, Any], shots: Path
) -> None:
    runs = facts["runs"]
    base = f"{ui_server.url}/experiments/{facts['experiment']}/runs"
    viewer.goto(f"{base}?per_page=5")
    assert viewer.locator("#runs tbody tr").count() == 5
    assert f"page 1 of {-(-len(runs) // 5)}" in viewer.locator(".pager").inner_text()
    viewer.click("#next")
    assert viewer.locator("#runs tbody tr").count() == 5
    assert "page 2 of" in viewer.locator(".pager").inner_text()

    # sort by a metric: a click on its heading (descending), again (ascending)
    viewer.goto(f"{base}?per_page=50")
    viewer.click("th a:has-text('metrics.auc')")
    shown = _cells(viewer, "td[data-col='metrics.auc']")
    with_auc = sorted((r["metrics"]["auc"] for r in runs if "auc" in r["metrics"]), reverse=True)
    assert shown[: len(with_auc)] == [_fmt(v) for v in with_auc]
    viewer.click("th a:has-text('metrics.auc')")
    assert _cells(viewer, "td[data-col='metrics.auc']")[: len(with_auc)] == [
        _fmt(v) for v in sorted(with_auc)
    ]
    viewer.screenshot(path=shots / "runs-sorted.png", full_page=True)

    # the SDK's filter grammar in the search box
    viewer.fill("input[name=filter]", "metrics.auc >= 0.85 and params.depth != '2'")
    viewer.click("button:has-text('Search')")
    expected = [
        r for r in runs if r["metrics"].get("auc", 0) >= 0.85 and r["params"].get("depth") != "2"
    ]
    assert viewer.locator("#run-count").inner_text() == f"{len(expected)} runs"
    assert {
        viewer.locator("#runs tbody tr").nth(i).get_attribute("data-run")
        for i in range(len(expected))
    } == {r["run_id"] for r in expected}

    # a filter that does not parse: the error with its caret under the token
    viewer.fill("input[name=filter]", "metrics.auc >> 1")
    viewer.click("button:has-text('Search')")
    error = viewer.locator("#filter-error").inner_text()
    lines = error.splitlines()
    assert lines[1].strip() == "metrics.auc >> 1"
    assert lines[2].index("^") == lines[1].index(">>") + 1  # under the second '>'
    viewer.screenshot(path=shots / "runs-filter-error.png", full_page=True)

    # the column chooser: params.lr only besides the run
    viewer.goto(base)
    viewer.click("details.columns summary")
    for box in viewer.locator("details.columns input[type=checkbox]").all():
        box.set_checked(box.get_attribute("value") == "params.lr")
    viewer.click("button:has-text('Search')")
    headings = _cells(viewer, "#runs thead th")
    assert headings[2:] == ["params.lr"]
    assert "col=params.lr" in viewer.url  # the choice is in the URL: a shareable page


def test_run_page_by_prefix_shows_params_metrics_curves_artifacts_lineage(
    viewer: Page, ui_server: LiveServer, facts: dict[str, Any], shots: Path
) -> None:
    run = next(r for r in facts["runs"] if r["name"] == "sweep-03")
    viewer.goto(f"{ui_server.url}/runs/{run['run_id'][:8]}")
    assert run["run_id"] in viewer.locator("#run-summary").inner_text()
    for key, value in run["params"].items():
        assert viewer.locator(f"tr[data-param='{key}'] td").inner_text() == value
    for key, value in run["metrics"].items():
        assert viewer.locator(f"#metrics tr[data-metric='{key}'] td").inner_text() == _fmt(value)

    # the loss curve is drawn with every step, and dragging across it zooms in
    chart = viewer.locator(".chart[data-metric='loss']")
    chart.locator("canvas").wait_for()
    assert chart.get_attribute("data-drawn") == "20"
    box = chart.locator(".u-over").bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    viewer.mouse.move(box["x"] + box["width"] * 0.2, y)
    viewer.mouse.down()
    viewer.mouse.move(box["x"] + box["width"] * 0.5, y, steps=5)
    viewer.mouse.up()
    low, high = (
        float(chart.get_attribute("data-x-min") or 0),
        float(chart.get_attribute("data-x-max") or 0),
    )
    assert 2 <= low < high <= 12  # about steps 4 to 10 of 0..19
    viewer.screenshot(path=shots / "run.png", full_page=True)

    # the training run: artifacts (the figure previewed), datasets in, models out
    viewer.goto(f"{ui_server.url}/runs/{facts['train_run']}")
    paths = [
        row.get_attribute("data-artifact")
        for row in viewer.locator("#artifacts tr[data-artifact]").all()
    ]
    assert "loss.png" in paths and "features.json" in paths
    image = viewer.locator("img[alt='loss.png']")
    assert image.evaluate("img => img.complete && img.naturalWidth > 0")
    environment = viewer.locator("#environment").inner_text()
    assert "loopml.env.python" in environment and "loopml.source.entry_point" in environment
    viewer.locator("summary:has-text('loopml/requirements.txt')").click()
    assert "scikit-learn==" in viewer.locator("details pre").first.inner_text()
    lineage = viewer.locator("#lineage").inner_text()
    assert facts["dataset"] in lineage
    for version in facts["versions"]:
        assert f"{facts['model']}@{version}" in lineage
    viewer.screenshot(path=shots / "run-artifacts.png", full_page=True)


def test_compare_shows_differences_and_overlaid_curves(
    viewer: Page, ui_server: LiveServer, facts: dict[str, Any], shots: Path
) -> None:
    first, second = (r for r in facts["runs"] if r["name"] in ("sweep-01", "sweep-02"))
    viewer.goto(f"{ui_server.url}/compare?runs={first['run_id']},{second['run_id'][:10]}")
    row = viewer.locator("tr[data-row='params.lr']")
    assert "diff" in (row.get_attribute("class") or "")
    assert _cells(viewer, "tr[data-row='params.lr'] td") == [
        first["params"]["lr"],
        second["params"]["lr"],
    ]
    assert _cells(viewer, "tr[data-row='metrics.auc'] td") == [
        _fmt(first["metrics"]["auc"]),
        _fmt(second["metrics"]["auc"]),
    ]
    chart = viewer.locator(".chart[data-metric='loss']")
    chart.locator("canvas").wait_for()
    assert chart.locator(".u-legend .u-series").count() == 3  # the step, then one per run
    viewer.screenshot(path=shots / "compare.png", full_page=True)


def test_model_pages_show_versions_aliases_history_and_gate(
    viewer: Page, ui_server: LiveServer, facts: dict[str, Any], shots: Path
) -> None:
    name = facts["model"]
    viewer.goto(f"{ui_server.url}/models")
    assert viewer.locator(f"tr[data-model='{name}'] td").nth(1).inner_text() == str(
        len(facts["versions"])
    )
    viewer.goto(f"{ui_server.url}/models/{name}")
    assert viewer.locator("tr[data-alias='champion'] td").inner_text() == "version 1"
    assert viewer.locator("#versions tbody tr").count() == len(facts["versions"])
    assert "alias.moved" in viewer.locator("#history").inner_text()
    assert facts["evaluation"] in (
        viewer.locator("#evaluations tr[data-evaluation]").first.get_attribute("data-evaluation")
        or ""
    )
    viewer.screenshot(path=shots / "model.png", full_page=True)

    viewer.goto(f"{ui_server.url}/models/{name}/champion")  # an alias works
    assert viewer.locator("#approval").inner_text() == "approved"
    assert "champion" in viewer.locator("#version-summary").inner_text()
    assert viewer.locator("#review").count() == 0  # a viewer gets no review form

    viewer.goto(f"{ui_server.url}/models/{name}/2")
    gate = viewer.locator(".gate").first
    expected = "gate.passed" if facts["gate"]["passed"] else "gate.failed"
    assert gate.get_attribute("data-kind") == expected
    rules = _cells(viewer, ".gate table.checks tbody tr td:first-child")
    assert rules == [c["rule"] for c in facts["gate"]["checks"]]
    viewer.screenshot(path=shots / "version.png", full_page=True)


def test_events_page_shows_the_timeline_with_evidence(
    viewer: Page, ui_server: LiveServer, facts: dict[str, Any], shots: Path
) -> None:
    viewer.goto(f"{ui_server.url}/events?kind=gate.passed")
    rows = viewer.locator("#events tbody tr")
    assert rows.count() == (1 if facts["gate"]["passed"] else 0)
    if rows.count():
        rows.first.locator("details summary").click()
        evidence = rows.first.locator("pre").inner_text()
        assert facts["gate"]["checks"][0]["rule"] in evidence
    viewer.goto(f"{ui_server.url}/events?subject=model:{facts['model']}")
    kinds = [row.get_attribute("data-kind") for row in viewer.locator("#events tbody tr").all()]
    assert "alias.moved" in kinds
    viewer.screenshot(path=shots / "events.png", full_page=True)


def test_pages_load_nothing_from_a_network(
    viewer: Page, ui_server: LiveServer, facts: dict[str, Any]
) -> None:
    asked: list[str] = []

    def record(request: Request) -> None:
        asked.append(request.url)

    viewer.on("request", record)
    run = facts["runs"][0]["run_id"]
    for path in ("/experiments", f"/runs/{run}", f"/models/{facts['model']}/2", "/docs"):
        viewer.goto(f"{ui_server.url}{path}")
        viewer.wait_for_load_state("networkidle")
    viewer.locator(".swagger-ui").wait_for()  # Swagger UI ran from the local files
    assert '"validatorUrl": null' in viewer.content()  # no badge from validator.swagger.io
    hosts = {urlsplit(url).netloc for url in asked if not url.startswith("data:")}
    assert hosts == {urlsplit(ui_server.url).netloc}


def test_dataset_pages_show_versions_profile_and_lineage(
    viewer: Page, ui_server: LiveServer, facts: dict[str, Any], shots: Path
) -> None:
    name, _, version = facts["dataset"].partition("@")
    viewer.goto(f"{ui_server.url}/datasets")
    assert viewer.locator(f"tr[data-dataset='{name}'] .rows").inner_text() == str(
        facts["dataset_rows"]
    )
    viewer.goto(f"{ui_server.url}/datasets/{name}/{version}")
    assert viewer.locator("#rows").inner_text() == str(facts["dataset_rows"])
    for column, mean in facts["dataset_means"].items():
        row = viewer.locator(f"#profile tr[data-column='{column}']")
        assert row.locator(".mean").inner_text() == _fmt(mean)
        assert row.locator("svg.bars rect").count() > 1  # the column's histogram
    lineage = viewer.locator("#lineage").inner_text()
    assert facts["train_run"][:8] in lineage and f"{facts['model']}@1" in lineage
    viewer.screenshot(path=shots / "dataset.png", full_page=True)


def test_evaluation_page_shows_metrics_slices_and_gate(
    viewer: Page, ui_server: LiveServer, facts: dict[str, Any], shots: Path
) -> None:
    viewer.goto(f"{ui_server.url}/evaluations/{facts['evaluation'][:8]}")  # a prefix works
    for metric, value in facts["evaluation_metrics"].items():
        cell = viewer.locator(f"table.metrics tr[data-metric='{metric}'] .value").first
        assert cell.inner_text() == _fmt(value)
    slices = _cells(viewer, "table.slices tbody tr td:first-child")
    assert slices == facts["slices"] and slices
    expected = "gate.passed" if facts["gate"]["passed"] else "gate.failed"
    assert expected in viewer.locator("#gates").inner_text()
    viewer.screenshot(path=shots / "evaluation.png", full_page=True)


def test_deployments_and_monitoring_pages(
    viewer: Page, ui_server: LiveServer, facts: dict[str, Any], shots: Path
) -> None:
    deployment = facts["deployment"]
    viewer.goto(f"{ui_server.url}/deployments")
    row = viewer.locator(f"tr[data-deployment='{deployment['name']}']")
    assert deployment["champion"] in row.inner_text()
    viewer.screenshot(path=shots / "deployments.png", full_page=True)

    viewer.goto(f"{ui_server.url}/models/{facts['model']}")
    viewer.click("a:has-text('Monitoring')")
    viewer.wait_for_url(f"**/monitoring/{facts['model']}")
    windows = facts["monitoring"]
    assert viewer.locator("#windows tbody tr").count() == len(windows)
    assert _cells(viewer, "#windows .drift-share") == [_fmt(w["drift_share"]) for w in windows]
    chart = viewer.locator(".chart[data-metric='drift share']")
    chart.locator("canvas").wait_for()
    assert chart.get_attribute("data-drawn") == str(len(windows))
    viewer.screenshot(path=shots / "monitoring.png", full_page=True)
