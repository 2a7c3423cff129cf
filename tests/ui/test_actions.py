"""Changes through the pages: an approver approves a version (the audit log records the
approver, from the UI), and a form without its CSRF token, from another site or with a
foreign Host header is refused and changes nothing; sign-in is needed with auth on."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page

from loopml.core.entities import ApprovalStatus, Role
from loopml.core.settings import resolve_settings
from loopml.governance import verify_chain
from loopml.store.backend import Backend, open_backend
from tests.rest.live_server import LiveServer
from tests.ui.conftest import sign_in


@pytest.fixture
def store(ui_server: LiveServer) -> Backend:
    """The server's store, read directly (as ``loopml events list`` on its host would)."""
    return open_backend(resolve_settings({"home": ui_server.home}))


def _approval(store: Backend, name: str, version: int) -> ApprovalStatus:
    return store.models.get_version(name, version).approval


def test_approver_approves_from_the_page_and_the_audit_log_shows_it(
    approver: Page, ui_server: LiveServer, facts: dict[str, Any], store: Backend, shots: Path
) -> None:
    name, version = facts["model"], facts["versions"][1]
    approver.goto(f"{ui_server.url}/models/{name}/{version}")
    assert approver.locator("#approval").inner_text() == "pending"
    approver.fill("input[aria-label='approve comment']", "gate passed; reviewed in the UI")
    approver.click("#approve")
    approver.wait_for_load_state()
    assert approver.locator("#approval").inner_text() == "approved"
    assert approver.locator("#reviewer").inner_text().startswith("approver-user")
    approver.screenshot(path=shots / "approved.png", full_page=True)

    found = store.models.get_version(name, version)
    assert (found.approval, found.reviewer) == (ApprovalStatus.APPROVED, "approver-user")
    events = store.events.list_events(subject=f"model:{name}@{version}", kind="model.approved")
    assert len(events) == 1
    event = events[0]
    assert event.actor == "approver-user"
    assert event.client.startswith("loopml-ui/") and event.address == "127.0.0.1"
    assert event.reason == "gate passed; reviewed in the UI"
    assert verify_chain(store.events).intact

    approver.goto(f"{ui_server.url}/events?subject=model:{name}@{version}")
    row = approver.locator("#events tr[data-kind='model.approved']")
    assert row.locator(".actor").inner_text() == "approver-user"


def test_an_editor_may_not_approve(
    browser: Browser, ui_server: LiveServer, facts: dict[str, Any], store: Backend
) -> None:
    name, version = facts["model"], facts["versions"][2]
    context, page = sign_in(browser, ui_server, Role.EDITOR)
    with context:
        page.goto(f"{ui_server.url}/models/{name}/{version}")
        assert page.locator("#review").count() == 0  # no form for an editor
        csrf = next(c["value"] for c in context.cookies() if c["name"] == "loopml_csrf")
        answer = page.request.post(
            f"{ui_server.url}/models/{name}/{version}/approve",
            form={"csrf": csrf, "comment": "not mine to approve"},
        )
        assert answer.status == 403
        assert "approver" in answer.text()
    assert _approval(store, name, version) is ApprovalStatus.PENDING


def _session(server: LiveServer, role: Role) -> tuple[httpx.Client, str]:
    """An HTTP client signed in through the sign-in form, and its CSRF token."""
    client = httpx.Client(base_url=server.url)
    page = client.get("/signin")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    signed = client.post(
        "/signin", data={"csrf": csrf.group(1), "token": server.tokens[role], "next": "/models"}
    )
    assert signed.status_code == 303 and "loopml_token" in client.cookies
    return client, csrf.group(1)


def test_a_form_without_csrf_from_elsewhere_or_for_another_host_changes_nothing(
    ui_server: LiveServer, facts: dict[str, Any], store: Backend
) -> None:
    name, version = facts["model"], facts["versions"][2]
    target = f"/models/{name}/{version}/approve"
    client, csrf = _session(ui_server, Role.APPROVER)
    events_before = len(store.events.list_events())
    try:
        no_token = client.post(target, data={"comment": "forged"})
        assert no_token.status_code == 403 and "CSRF" in no_token.text
        wrong = client.post(target, data={"csrf": "x" * 43, "comment": "forged"})
        assert wrong.status_code == 403
        other_site = client.post(
            target,
            data={"csrf": csrf, "comment": "forged"},
            headers={"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
        )
        assert other_site.status_code == 403 and "another site" in other_site.text
        rebound = client.post(
            target,
            data={"csrf": csrf, "comment": "forged"},
            headers={"Host": f"evil.example:{ui_server.port}"},
        )
        assert rebound.status_code == 400  # DNS rebinding: a name the server does not have
        assert client.get("/models", headers={"Host": "evil.example"}).status_code == 400
    finally:
        client.close()
    assert _approval(store, name, version) is ApprovalStatus.PENDING
    assert len(store.events.list_events()) == events_before


def test_pages_need_a_sign_in_and_a_bad_token_is_refused(ui_server: LiveServer) -> None:
    with httpx.Client(base_url=ui_server.url) as client:
        answer = client.get("/runs/abcd?x=1")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/signin?next=%2Fruns%2Fabcd%3Fx%3D1"
        page = client.get("/signin")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None
        refused = client.post("/signin", data={"csrf": csrf.group(1), "token": "lml_no_no"})
        assert refused.status_code == 401 and "loopml_token" not in client.cookies
        assert client.get("/api/v1/experiments").status_code == 401  # the API still wants one


def test_an_editor_moves_an_alias_from_the_page_but_not_champion(
    browser: Browser, ui_server: LiveServer, facts: dict[str, Any], store: Backend
) -> None:
    name, version = facts["model"], facts["versions"][2]
    context, page = sign_in(browser, ui_server, Role.EDITOR)
    with context:
        page.goto(f"{ui_server.url}/models/{name}/{version}")
        page.fill("input[aria-label='alias']", "staging")
        page.fill("input[aria-label='alias reason']", "try it on staging")
        page.click("#set-alias")
        page.wait_for_load_state()
        assert "staging" in page.locator("#version-summary").inner_text()
        page.fill("input[aria-label='alias']", "champion")
        page.click("#set-alias")
        assert "may not move champion" in page.locator("#error").inner_text()
    assert store.models.get_aliases(name)["staging"] == version
    assert store.models.get_aliases(name)["champion"] == 1
    moves = [
        e
        for e in store.events.list_events(subject=f"model:{name}", kind="alias.moved")
        if e.data.get("alias") == "staging"
    ]
    assert [(m.actor, m.reason) for m in moves] == [("editor-user", "try it on staging")]


def test_the_token_cookie_is_httponly_and_strict_and_sign_out_forgets_it(
    browser: Browser, ui_server: LiveServer
) -> None:
    context, page = sign_in(browser, ui_server, Role.VIEWER)
    with context:
        cookies = {c["name"]: c for c in context.cookies()}
        for name in ("loopml_token", "loopml_csrf"):
            assert cookies[name]["httpOnly"] is True
            assert cookies[name]["sameSite"] == "Strict"
        assert page.evaluate("document.cookie") == ""  # no script can read either
        page.click("button:has-text('Sign out')")
        page.wait_for_url("**/signin")
        assert "loopml_token" not in {c["name"] for c in context.cookies()}
        page.goto(f"{ui_server.url}/models")
        assert "/signin?next=%2Fmodels" in page.url
