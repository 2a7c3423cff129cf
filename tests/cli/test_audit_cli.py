"""``loopml tokens`` and ``loopml audit``: a token shown once and stored hashed; the chain
verified, a row edited in the database named with exit 1."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from loopml.core.settings import Settings
from loopml.store.sql.engine import StoreEngine
from tests.cli.conftest import Invoke
from tests.governance.test_tokens import dump_database

TOKEN = re.compile(r"lml_[0-9a-f]{32}_[A-Za-z0-9_-]{43}")


def make_token(invoke: Invoke, *args: str) -> str:
    code, out, err = invoke("tokens", "create", *args)
    assert code == 0, err
    assert TOKEN.fullmatch(out.strip()), out  # stdout holds the token alone
    return out.strip()


def test_tokens_create_list_revoke(invoke: Invoke, settings: Settings) -> None:
    text = make_token(invoke, "--user", "admin", "--role", "admin", "--note", "first admin")
    token_id = text[4:36]
    code, out, err = invoke("tokens", "list")
    assert code == 0
    assert token_id[:12] in out and "admin" in out and "first admin" in out and "active" in out
    assert text[37:] not in out + err
    everything = dump_database(settings.db_url)
    assert token_id in everything and text[37:] not in everything
    code, out, _ = invoke("tokens", "list", "--json")
    (listed,) = json.loads(out)
    assert listed["token_id"] == token_id and listed["state"] == "active"
    assert set(listed) >= {"user", "role", "created_at", "last_used_at", "expires_at"}

    code, out, _ = invoke("tokens", "revoke", token_id[:6], "--reason", "rotated")
    assert code == 0 and f"Revoked token {token_id}" in out
    code, out, _ = invoke("tokens", "revoke", token_id)
    assert code == 0 and "already revoked" in out
    code, out, _ = invoke("tokens", "list", "--json")
    assert json.loads(out)[0]["state"] == "revoked"


def test_tokens_create_refuses_bad_input(invoke: Invoke) -> None:
    code, out, err = invoke("tokens", "create", "--user", "ada", "--role", "edtor")
    assert code == 2 and out == ""
    assert "'edtor' is not a role" in err and "Did you mean 'editor'?" in err
    code, _, err = invoke(
        "tokens", "create", "--user", "ada", "--role", "viewer", "--expires", "3x"
    )
    assert code == 2 and "'3x' is not a duration" in err


def test_audit_verify_names_an_edited_row(invoke: Invoke, settings: Settings) -> None:
    for user in ("ada", "grace", "alan"):
        make_token(invoke, "--user", user, "--role", "viewer")
    code, out, _ = invoke("audit", "verify")
    assert code == 0 and "intact: 3 entries checked (SHA-256, no key)" in out
    code, anchor, _ = invoke("audit", "head")
    assert code == 0 and re.fullmatch(r"3:[0-9a-f]{64}", anchor.strip())
    code, out, _ = invoke("audit", "show", "--json")
    shown = json.loads(out)
    assert [e["seq"] for e in shown] == [1, 2, 3]
    assert shown[0]["event"]["client"].startswith("loopml-cli/")

    db = StoreEngine(settings.db_url)
    try:
        db.write(lambda conn: conn.exec_driver_sql("UPDATE events SET actor = 'x' WHERE seq = 2"))
    finally:
        db.dispose()
    code, out, _ = invoke("audit", "verify")
    second = shown[1]["event"]
    assert code == 1
    assert f"edited: entry seq 2, event {second['event_id']} (token.created)" in out
    code, out, _ = invoke("audit", "verify", "--json")
    report = json.loads(out)
    assert code == 1 and report["intact"] is False and report["entries"] == 1
    assert report["problem"]["seq"] == 2 and report["problem"]["problem"] == "edited"


def test_audit_verify_with_an_anchor(invoke: Invoke, settings: Settings) -> None:
    make_token(invoke, "--user", "ada", "--role", "viewer")
    make_token(invoke, "--user", "grace", "--role", "viewer")
    _, anchor, _ = invoke("audit", "head")
    code, out, _ = invoke("audit", "verify", "--anchor", anchor.strip())
    assert code == 0 and "anchor 2 matched" in out
    db = StoreEngine(settings.db_url)
    try:
        db.write(lambda conn: conn.exec_driver_sql("DELETE FROM events WHERE seq = 2"))
    finally:
        db.dispose()
    code, out, _ = invoke("audit", "verify")
    assert code == 0  # a cut tail leaves a valid chain...
    code, out, _ = invoke("audit", "verify", "--anchor", anchor.strip())
    assert code == 1 and "truncated: entry seq 2: the log ends at seq 1" in out  # ...but not this
    code, _, err = invoke("audit", "verify", "--anchor", "2:abc")
    assert code == 2 and "is not SEQ:HASH" in err


def test_the_audit_key_is_not_read_from_the_project_file_nor_shown(
    invoke: Invoke, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPML_AUDIT_KEY", "do-not-print-me")
    make_token(invoke, "--user", "ada", "--role", "viewer")
    code, out, _ = invoke("audit", "verify")
    assert code == 0 and "HMAC-SHA-256 with LOOPML_AUDIT_KEY" in out
    code, out, _ = invoke("doctor")
    assert "(set, not shown)" in out and "do-not-print-me" not in out
    monkeypatch.delenv("LOOPML_AUDIT_KEY")
    code, out, _ = invoke("audit", "verify")
    assert code == 1 and "set it to verify" in out
    (settings.project_root / "loopml.toml").write_text('audit_key = "in-a-file"\n')
    code, _, err = invoke("audit", "verify")
    assert code == 2 and "is a secret and is not read from the project file" in err


def test_audit_rekey(invoke: Invoke, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    make_token(invoke, "--user", "ada", "--role", "viewer")
    code, _, err = invoke("audit", "rekey")
    assert code == 2 and "set it to the new key" in err
    monkeypatch.setenv("LOOPML_AUDIT_KEY", "first key")
    code, out, _ = invoke("audit", "rekey")
    assert code == 0 and "Re-chained 1 entry under LOOPML_AUDIT_KEY (from plain SHA-256)" in out
    code, out, _ = invoke("audit", "verify")
    assert code == 0 and "intact: 2 entries checked (HMAC-SHA-256" in out
    (tmp_path / "old.key").write_text("first key\n")
    monkeypatch.setenv("LOOPML_AUDIT_KEY", "second key")
    code, out, _ = invoke("audit", "rekey", "--old-key-file", str(tmp_path / "old.key"))
    assert code == 0 and "Re-chained 2 entries" in out and "(from the old key)" in out
    code, out, _ = invoke("audit", "verify")
    assert code == 0 and "intact: 3 entries" in out
