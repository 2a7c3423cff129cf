"""Contract suite of :class:`~loopml.store.protocols.TokenStore`, run on every backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loopml.core.entities import ApiToken, Event, Role
from loopml.core.errors import AlreadyExistsError, NotFoundError
from loopml.core.ids import new_event_id
from loopml.store.protocols import EventStore, TokenStore
from loopml.store.sql import SqlEventStore, SqlTokenStore
from loopml.store.sql.migrate import open_store_engine


@pytest.fixture
def stores(db_url: str) -> Iterator[tuple[TokenStore, EventStore]]:
    db = open_store_engine(db_url)
    yield SqlTokenStore(db), SqlEventStore(db)
    db.dispose()


def token(token_id: str = "a" * 32, **kw: object) -> ApiToken:
    fields: dict[str, object] = {
        "token_id": token_id,
        "user": "ada",
        "role": Role.EDITOR,
        "created_at": 1_000,
        "created_by": "root",
    }
    fields.update(kw)
    return ApiToken(**fields)  # type: ignore[arg-type]


def event(kind: str, token_id: str) -> Event:
    return Event(new_event_id(), kind, f"token:{token_id}", "root", 1_000)


def test_add_get_list(stores: tuple[TokenStore, EventStore]) -> None:
    tokens, events = stores
    assert tokens.list_tokens() == [] and tokens.get("a" * 32) is None
    first = token(expires_at=9_000, note="ci")
    second = token("b" * 32, user="grace", role=Role.ADMIN, created_at=500)
    tokens.add(first, "1" * 64, event=event("token.created", first.token_id))
    tokens.add(second, "2" * 64, event=event("token.created", second.token_id))
    assert tokens.get(first.token_id) == (first, "1" * 64)
    assert tokens.list_tokens() == [second, first]  # oldest first
    assert [e.subject for e in events.list_events()] == ["token:" + "a" * 32, "token:" + "b" * 32]
    with pytest.raises(AlreadyExistsError, match="already stored"):
        tokens.add(first, "3" * 64, event=event("token.created", first.token_id))
    assert len(events.list_events()) == 2  # the refused add wrote no event


def test_revoke_once_with_its_event(stores: tuple[TokenStore, EventStore]) -> None:
    tokens, events = stores
    tokens.add(token(), "1" * 64, event=event("token.created", "a" * 32))
    revoked = tokens.revoke("a" * 32, at=5_000, event=event("token.revoked", "a" * 32))
    assert revoked.revoked_at == 5_000
    again = tokens.revoke("a" * 32, at=6_000, event=event("token.revoked", "a" * 32))
    assert again.revoked_at == 5_000  # unchanged, and no second event
    assert [e.kind for e in events.list_events()] == ["token.created", "token.revoked"]
    with pytest.raises(NotFoundError, match="no API token 'ffff"):
        tokens.revoke("f" * 32, at=1, event=event("token.revoked", "f" * 32))
    assert len(events.list_events()) == 2


def test_touch_moves_last_use_forward_only(stores: tuple[TokenStore, EventStore]) -> None:
    tokens, events = stores
    tokens.add(token(), "1" * 64, event=event("token.created", "a" * 32))
    tokens.touch("a" * 32, 2_000)
    tokens.touch("a" * 32, 1_500)
    found = tokens.get("a" * 32)
    assert found is not None and found[0].last_used_at == 2_000
    assert len(events.list_events()) == 1  # a use is not a change


def test_ids_with_prefix(stores: tuple[TokenStore, EventStore]) -> None:
    tokens, _ = stores
    for token_id in ("abc1" + "0" * 28, "abc2" + "0" * 28, "b" * 32):
        tokens.add(token(token_id), "1" * 64, event=event("token.created", token_id))
    assert tokens.ids_with_prefix("abc", limit=5) == ["abc1" + "0" * 28, "abc2" + "0" * 28]
    assert tokens.ids_with_prefix("abc", limit=1) == ["abc1" + "0" * 28]
    assert tokens.ids_with_prefix("c", limit=5) == []
