""":class:`SqlTokenStore`: the :class:`~loopml.store.protocols.TokenStore` on SQLite and
PostgreSQL: API tokens by id, each with the SHA-256 of its text, never the text itself.

Making and revoking a token are changes, written with their events in one transaction;
recording a token's last use is not (it is bookkeeping, like a metric point).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from loopml.core.entities import ApiToken, Event, Role
from loopml.core.errors import AlreadyExistsError, NotFoundError
from loopml.store.sql.engine import StoreEngine
from loopml.store.sql.event_store import insert_event
from loopml.store.sql.tables import api_tokens

_tk = api_tokens.c
_COLUMNS = (
    _tk.token_id,
    _tk.user_name,
    _tk.role,
    _tk.created_at,
    _tk.created_by,
    _tk.expires_at,
    _tk.last_used_at,
    _tk.revoked_at,
    _tk.note,
)


def _token(row: Any) -> ApiToken:
    token_id, user, role, created_at, created_by, expires_at, last_used, revoked_at, note = row
    return ApiToken(
        token_id=token_id,
        user=user,
        role=Role(role),
        created_at=int(created_at),
        created_by=created_by,
        expires_at=None if expires_at is None else int(expires_at),
        last_used_at=None if last_used is None else int(last_used),
        revoked_at=None if revoked_at is None else int(revoked_at),
        note=note or "",
    )


def _not_found(token_id: str) -> NotFoundError:
    return NotFoundError(f"There is no API token {token_id!r}. See `loopml tokens list`.")


class SqlTokenStore:
    """API tokens in a SQL database (the engine shared with the other stores).

    Args:
        db: The open engine, from :func:`~loopml.store.sql.migrate.open_store_engine`.
    """

    def __init__(self, db: StoreEngine) -> None:
        self._db = db

    def __repr__(self) -> str:
        return f"SqlTokenStore({self._db.location!r})"

    def add(self, token: ApiToken, secret_hash: str, *, event: Event) -> None:
        """Store a new token and its event in one transaction.

        Raises:
            AlreadyExistsError: A token with this id is stored.
        """
        row = {
            "token_id": token.token_id,
            "secret_hash": secret_hash,
            "user_name": token.user,
            "role": token.role.value,
            "created_at": token.created_at,
            "created_by": token.created_by,
            "expires_at": token.expires_at,
            "last_used_at": token.last_used_at,
            "revoked_at": token.revoked_at,
            "note": token.note,
        }

        def work(conn: sa.Connection) -> None:
            taken = conn.execute(sa.select(_tk.token_id).where(_tk.token_id == token.token_id))
            if taken.first() is not None:
                raise AlreadyExistsError(
                    f"An API token with id {token.token_id!r} is already stored; make the "
                    "token again (ids are random)."
                )
            conn.execute(api_tokens.insert(), row)
            insert_event(self._db, conn, event)

        self._db.write(work)

    def get(self, token_id: str) -> tuple[ApiToken, str] | None:
        """Return a token and the hash stored for it, or None."""
        statement = sa.select(*_COLUMNS, _tk.secret_hash).where(_tk.token_id == token_id)
        with self._db.read() as conn:
            row = conn.execute(statement).first()
        return None if row is None else (_token(row[:-1]), str(row[-1]))

    def list_tokens(self) -> list[ApiToken]:
        """Return every token, oldest first (then by id)."""
        statement = sa.select(*_COLUMNS).order_by(_tk.created_at, _tk.token_id)
        with self._db.read() as conn:
            return [_token(row) for row in conn.execute(statement)]

    def revoke(self, token_id: str, *, at: int, event: Event) -> ApiToken:
        """Mark a token revoked with its event and return it; a token revoked already is
        returned as it is.

        Raises:
            NotFoundError: There is no such token.
        """

        def work(conn: sa.Connection) -> ApiToken:
            revoked = conn.execute(
                api_tokens.update()
                .where(_tk.token_id == token_id, _tk.revoked_at.is_(None))
                .values(revoked_at=at)
            ).rowcount
            row = conn.execute(sa.select(*_COLUMNS).where(_tk.token_id == token_id)).first()
            if row is None:
                raise _not_found(token_id)
            if revoked:
                insert_event(self._db, conn, event)
            return _token(row)

        return self._db.write(work)

    def touch(self, token_id: str, at: int) -> None:
        """Record the token's last use at ``at`` (never moved back)."""
        statement = (
            api_tokens.update()
            .where(
                _tk.token_id == token_id,
                sa.or_(_tk.last_used_at.is_(None), _tk.last_used_at < at),
            )
            .values(last_used_at=at)
        )
        self._db.write(lambda conn: conn.execute(statement))

    def ids_with_prefix(self, prefix: str, *, limit: int) -> list[str]:
        """Return up to ``limit`` token ids starting with ``prefix`` (lowercase hex)."""
        statement = (
            sa.select(_tk.token_id)
            .where(_tk.token_id.startswith(prefix, autoescape=True))
            .order_by(_tk.token_id)
            .limit(limit)
        )
        with self._db.read() as conn:
            return [str(value) for value in conn.execute(statement).scalars()]
