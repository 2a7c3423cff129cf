"""One real ``loopml server --auth token`` for the UI's browser tests, over a store filled by
:mod:`tests.ui.fill_store` (real runs, a real dataset, real scikit-learn models, an evaluation
and a gate), and Playwright driving Debian's headless chromium (``make chromium``)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from loopml.core.entities import Role
from tests.rest.live_server import LiveServer

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="package")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The filled store's server (token auth) on 127.0.0.1, once for tests/ui."""
    root = tmp_path_factory.mktemp("ui")
    server = LiveServer(backend="sqlite", home=root / ".loopml", db_url=None)
    facts = root / "facts.json"
    # the runs capture their code and environment (the run page shows them)
    env = server.env() | {"PYTHONPATH": str(ROOT), "LOOPML_CAPTURE_ENV": "true"}
    subprocess.run(
        [sys.executable, "-m", "tests.ui.fill_store", str(facts)],
        env=env,
        cwd=root,
        check=True,
        timeout=240,
    )
    try:
        server.make_tokens()
        server.start()
        yield server
    finally:
        server.kill()


@pytest.fixture(scope="package")
def facts(ui_server: LiveServer) -> dict[str, Any]:
    """What the store holds, as the fill script read it back through the SDK."""
    loaded: dict[str, Any] = orjson.loads((ui_server.home.parent / "facts.json").read_bytes())
    return loaded


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """Headless chromium (Debian's package), once for tests/ui.

    Package-scoped, not session-scoped: Playwright's sync API leaves its event loop set as the
    running one of the thread while it is open, and every ``asyncio.run()`` of a later test in
    the same process then fails. One process ran tests/ui last; an xdist worker runs other
    tests after them, so Playwright stops when tests/ui is done.
    """
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()


@pytest.fixture(scope="package")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the tests save their screenshots (test artifacts under pytest's tmp dir)."""
    return tmp_path_factory.mktemp("screenshots")


def sign_in(browser: Browser, server: LiveServer, role: Role) -> tuple[BrowserContext, Page]:
    """A fresh browser context signed in through the sign-in page with ``role``'s token."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(f"{server.url}/experiments")
    assert "/signin" in page.url  # pages need a sign-in with auth on
    page.fill("input[name=token]", server.tokens[role])
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/experiments")
    return context, page


@pytest.fixture
def viewer(browser: Browser, ui_server: LiveServer) -> Iterator[Page]:
    """A page signed in as the viewer."""
    context, page = sign_in(browser, ui_server, Role.VIEWER)
    yield page
    context.close()


@pytest.fixture
def approver(browser: Browser, ui_server: LiveServer) -> Iterator[Page]:
    """A page signed in as the approver."""
    context, page = sign_in(browser, ui_server, Role.APPROVER)
    yield page
    context.close()
