"""API tokens: made once, stored hashed, checked per request (real stores, both backends)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from loopml.core.entities import Role
from loopml.core.errors import InvalidArgumentError, NotFoundError, UnauthenticatedError
from loopml.core.settings import Settings
from loopml.governance import TokenService, hash_token, parse_expiry
from loopml.store.backend import Backend, open_backend
from loopml.store.sql.engine import StoreEngine

DAY = 86_400_000


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 1_700_000_000_000

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def backend(settings: Settings) -> Iterator[Backend]:
    yield open_backend(settings)


def dump_database(db_url: str) -> str:
    """Every value of every table, as text: what someone reading the database sees."""
    db = StoreEngine(db_url)
    try:
        with db.read() as conn:
            found = []
            for table in sa.inspect(conn).get_table_names():
                for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')):
                    found.append(" ".join(str(value) for value in row))
        return "\n".join(found)
    finally:
        db.dispose()


def test_create_stores_only_the_hash(backend: Backend, settings: Settings) -> None:
    tokens = TokenService(backend)
    issued = tokens.create(user="ada", role="editor", expires="90d", note="laptop")
    assert re.fullmatch(r"lml_[0-9a-f]{32}_[A-Za-z0-9_-]{43}", issued.text)
    assert issued.text.startswith(f"lml_{issued.token.token_id}_")
    assert "***" in repr(issued) and issued.text not in repr(issued)
    stored = backend.tokens.get(issued.token.token_id)
    assert stored == (issued.token, hash_token(issued.text))
    secret = issued.text[37:]
    everything = dump_database(settings.db_url)
    assert issued.token.token_id in everything and hash_token(issued.text) in everything
    assert secret not in everything and issued.text not in everything
    (created,) = backend.events.list_events(kind="token.created")
    assert created.subject == f"token:{issued.token.token_id}"
    assert created.data["user"] == "ada" and created.data["role"] == "editor"
    assert issued.token.expires_at == issued.token.created_at + 90 * DAY


def test_list_and_revoke(backend: Backend) -> None:
    tokens = TokenService(backend)
    first = tokens.create(user="ada", role=Role.VIEWER)
    second = tokens.create(user="grace", role="admin")
    listed = tokens.list_tokens()
    assert {t.token_id for t in listed} == {first.token.token_id, second.token.token_id}
    revoked = tokens.revoke(first.token.token_id[:8], reason="left the team")
    assert revoked.token_id == first.token.token_id and revoked.revoked_at is not None
    (event,) = backend.events.list_events(kind="token.revoked")
    assert event.reason == "left the team" and event.data == {"user": "ada", "role": "viewer"}
    with pytest.raises(NotFoundError, match="No token id starts with 'ffffffff'"):
        tokens.revoke("ffffffff")
    with pytest.raises(InvalidArgumentError, match="is not a token id"):
        tokens.revoke("xyz")


def test_authorize_for_each_role(backend: Backend) -> None:
    tokens = TokenService(backend)
    for role in Role:
        issued = tokens.create(user=f"user-{role.value}", role=role)
        principal = tokens.authorize(issued.text)
        assert (principal.user, principal.role, principal.token_id) == (
            f"user-{role.value}",
            role,
            issued.token.token_id,
        )


def test_authorize_refuses_what_is_not_a_live_token(backend: Backend) -> None:
    clock = Clock()
    tokens = TokenService(backend, clock=clock)
    issued = tokens.create(user="ada", role="editor", expires="1d")
    with pytest.raises(UnauthenticatedError, match="needs an API token: send the header"):
        tokens.authorize(None)
    with pytest.raises(UnauthenticatedError, match="malformed"):
        tokens.authorize("Bearer " + issued.text)
    wrong_secret = issued.text[:-4] + ("AAAA" if not issued.text.endswith("AAAA") else "BBBB")
    with pytest.raises(UnauthenticatedError, match="not known to this server") as caught:
        tokens.authorize(wrong_secret)
    assert wrong_secret[37:] not in str(caught.value)  # never echoes a secret
    unknown = f"lml_{'e' * 32}_{issued.text[37:]}"
    with pytest.raises(UnauthenticatedError, match="not known to this server"):
        tokens.authorize(unknown)
    assert tokens.authorize(issued.text).user == "ada"
    clock.now += DAY  # expiry is exclusive of its own millisecond
    with pytest.raises(UnauthenticatedError, match=r"user 'ada' is expired \(since"):
        tokens.authorize(issued.text)


def test_revoked_tokens_are_refused_after_the_cache_time(backend: Backend) -> None:
    clock = Clock()
    server = TokenService(backend, clock=clock, cache_ms=5_000)  # a server's own copy
    admin = TokenService(backend, clock=clock)  # `loopml tokens revoke` in another process
    issued = admin.create(user="ada", role="viewer")
    assert server.authorize(issued.text).user == "ada"
    admin.revoke(issued.token.token_id)
    assert server.authorize(issued.text).user == "ada"  # still cached: at most 5 s
    clock.now += 5_000
    with pytest.raises(UnauthenticatedError, match="is revoked"):
        server.authorize(issued.text)
    uncached = TokenService(backend, clock=clock)
    with pytest.raises(UnauthenticatedError, match="is revoked"):
        uncached.authorize(issued.text)


def test_last_use_is_recorded_at_most_once_a_minute(backend: Backend) -> None:
    clock = Clock()
    tokens = TokenService(backend, clock=clock)
    issued = tokens.create(user="ada", role="viewer")
    tokens.authorize(issued.text)
    first = clock.now
    clock.now += 30_000
    tokens.authorize(issued.text)
    assert tokens.list_tokens()[0].last_used_at == first
    clock.now += 30_000
    tokens.authorize(issued.text)
    assert tokens.list_tokens()[0].last_used_at == clock.now
    assert [e.kind for e in backend.events.list_events()] == ["token.created"]


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ({"user": "", "role": "viewer"}, "user of a token must be a name"),
        ({"user": "a\nb", "role": "viewer"}, "user of a token must be a name"),
        ({"user": "ada", "role": "owner"}, "'owner' is not a role"),
        ({"user": "ada", "role": "viewer", "expires": "0d"}, "is not a duration"),
        ({"user": "ada", "role": "viewer", "expires": "soon"}, "is not a duration"),
        ({"user": "ada", "role": "viewer", "note": "x" * 1001}, "at most 1000 characters"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(
    backend: Backend, bad: dict[str, str], match: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        TokenService(backend).create(**bad)  # type: ignore[arg-type]
    assert backend.tokens.list_tokens() == [] and backend.events.list_events() == []


def test_expiry_units() -> None:
    assert parse_expiry("12h") == 12 * 3_600_000
    assert parse_expiry("2w") == 14 * DAY
    assert parse_expiry("1y") == 365 * DAY
    assert parse_expiry("never") is None and parse_expiry(None) is None
