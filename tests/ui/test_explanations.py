"""The version page shows the feature importance recorded on the version (the fill script's
evaluation recorded it), bar by bar as the store holds it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser

from loopml.core.entities import Role
from tests.rest.live_server import LiveServer
from tests.ui.conftest import sign_in


def test_version_page_draws_the_stored_importance(
    browser: Browser, ui_server: LiveServer, facts: dict[str, Any], shots: Path
) -> None:
    stored = facts["explanations"]
    assert set(stored) == {"permutation", "shap"}  # the evaluation of v2 recorded both
    context, page = sign_in(browser, ui_server, Role.VIEWER)
    try:
        model, version = facts["model"], facts["versions"][1]
        page.goto(f"{ui_server.url}/models/{model}/{version}")
        for method, features in stored.items():
            chart = page.locator(f'#explanations svg.importance[data-method="{method}"]')
            bars = chart.locator("rect.bar")
            drawn = [
                (bars.nth(i).get_attribute("data-feature"), bars.nth(i).get_attribute("data-value"))
                for i in range(bars.count())
            ]
            assert [name for name, _ in drawn] == [name for name, _ in features[: len(drawn)]]
            assert [float(v or "nan") for _, v in drawn] == pytest.approx(
                [value for _, value in features[: len(drawn)]], rel=1e-12
            )
            assert len(drawn) == min(15, len(features))
            # the longest bar is the most important feature's
            widths = [float(bars.nth(i).get_attribute("width") or 0) for i in range(len(drawn))]
            assert widths[0] == max(widths) > 0
        text = page.locator("#explanations").inner_text()
        assert "permutation" in text and "roc_auc" in text
        page.screenshot(path=str(shots / "version-explanations.png"), full_page=True)
        # a version without one says how to make one
        page.goto(f"{ui_server.url}/models/{model}/{facts['versions'][2]}")
        assert "loopml models explain" in page.locator("#explanations").inner_text()
    finally:
        context.close()
