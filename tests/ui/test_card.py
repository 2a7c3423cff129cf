"""The model card page in a real browser against the filled store's server: reached from the
version page, by number and by alias; its figures are the store's (read here from the
server's own store), its downloads are the same card, and it loads nothing from a network."""

from __future__ import annotations

from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import Page, Request

from loopml.evaluation import EvaluationService
from loopml.evaluation.gate_lookup import format_interval, format_value
from loopml.registry import ModelRegistry
from tests.rest.live_server import LiveServer
from tests.rest.registry_seed import server_store


def _cells(page: Page, selector: str) -> list[str]:
    return [text.strip() for text in page.locator(selector).all_inner_texts()]


def test_card_page_shows_the_stores_figures(
    viewer: Page, ui_server: LiveServer, facts: dict[str, Any], shots: Path
) -> None:
    asked: list[str] = []

    def record(request: Request) -> None:
        asked.append(request.url)

    viewer.on("request", record)
    name = facts["model"]
    backend = server_store(ui_server)
    version = ModelRegistry(backend).get(f"{name}@2")
    evaluation = EvaluationService(backend).get(facts["evaluation"])

    viewer.goto(f"{ui_server.url}/models/{name}/2")
    viewer.click("#card-link")
    viewer.wait_for_url(f"**/models/{name}/2/card")
    assert viewer.locator("#card-intended-use p").inner_text() == version.description
    ds = evaluation.datasets[0]
    table = f"table[id='metrics-{evaluation.evaluation_id[:8]}-{ds.dataset}']"
    shown = {
        row.locator("td").nth(0).inner_text(): row.locator("td").nth(1).inner_text()
        for row in viewer.locator(f"{table} tbody tr").all()
    }
    expected = {
        m.name: format_interval(m.value, m.low, m.high) for m in ds.metrics if m.value is not None
    }
    assert expected and shown == expected
    slices = _cells(viewer, f"table[id='slices-{evaluation.evaluation_id[:8]}-{ds.dataset}'] "
                    "tbody tr td:first-child")  # fmt: skip
    assert set(facts["slices"]) <= set(slices)
    rules = _cells(viewer, "#card-gates table#gate-checks tbody tr td:first-child")
    assert rules == [c["rule"] for c in facts["gate"]["checks"]]
    results = _cells(viewer, "#card-gates table#gate-checks tbody tr td:nth-child(2)")
    assert results == ["pass" if c["passed"] else "fail" for c in facts["gate"]["checks"]]
    data = viewer.locator(f"table[id='data-{facts['dataset']}']")
    assert data.count() == 1
    assert (
        f"{facts['dataset']} (train): {facts['dataset_rows']} rows"
        in viewer.locator("#card-data").inner_text()
    )
    for method, ranked in facts["explanations"].items():  # recorded by fill_store on v2
        features = _cells(viewer, f"table#card-importance-{method} tbody tr td:first-child")
        assert sorted(features) == sorted(feature for feature, _ in ranked)
        values = _cells(viewer, f"table#card-importance-{method} tbody tr td:nth-child(2)")
        assert values == [format_value(v) for v in sorted((v for _, v in ranked), reverse=True)]
    viewer.screenshot(path=shots / "card.png", full_page=True)

    viewer.goto(f"{ui_server.url}/models/{name}/champion/card")  # an alias works
    assert "(champion)" in viewer.locator(".crumbs").inner_text()
    reviews = viewer.locator("#card-reviews tbody tr").first.inner_text()
    assert "approved" in reviews and "first model" in reviews
    assert "first release" in viewer.locator("#card-aliases").inner_text()

    markdown = viewer.request.get(f"{ui_server.url}/models/{name}/2/card?format=md")
    assert markdown.ok and markdown.headers["content-type"].startswith("text/markdown")
    assert markdown.text().startswith(f"# Model card: {name}@2\n")
    assert f"| {ds.metrics[0].name} | {expected[ds.metrics[0].name]} |" in markdown.text()
    page = viewer.request.get(f"{ui_server.url}/models/{name}/2/card?format=html")
    assert page.ok and page.text().startswith("<!doctype html>")
    bad = viewer.request.get(f"{ui_server.url}/models/{name}/2/card?format=pdf")
    assert bad.status == 422 and "'md' or 'html'. Got 'pdf'" in unescape(bad.text())
    hosts = {urlsplit(url).netloc for url in asked if not url.startswith("data:")}
    assert hosts == {urlsplit(ui_server.url).netloc}
