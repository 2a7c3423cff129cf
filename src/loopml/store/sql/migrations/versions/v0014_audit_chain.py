"""The audit log: chain the events (client, address, prev_hash, hash) and add api_tokens.

The events already stored are chained here, in the order they were written (``seq``), and
renumbered 1, 2, 3... (a PostgreSQL sequence leaves gaps where a transaction rolled back; the
chain has none). Their client and address are unknown (empty). When the store is opened with
``LOOPML_AUDIT_KEY`` set, their hashes are HMACs under that key, like every later entry's.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-10
"""

from __future__ import annotations

import orjson
import sqlalchemy as sa
from alembic import context, op

from loopml.core.audit_chain import GENESIS_HASH, entry_hash, key_bytes
from loopml.core.entities import Event

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

#: Events read (and rewritten) per round trip while chaining.
_PAGE = 2000
_CHAIN_COLUMNS = (("client", 250), ("address", 100), ("prev_hash", 64), ("hash", 64))


def _text(length: int) -> sa.types.TypeEngine[str]:
    # Code-point comparison and order on PostgreSQL too, as SQLite's BINARY collation does.
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    """Add the chain columns to events, chain the stored events, create api_tokens."""
    for name, length in _CHAIN_COLUMNS:
        op.add_column("events", sa.Column(name, _text(length), nullable=False, server_default=""))
    _chain_stored_events(key_bytes(context.config.attributes.get("audit_key")))
    op.create_table(
        "api_tokens",
        sa.Column("token_id", _text(32), nullable=False),
        sa.Column("secret_hash", _text(64), nullable=False),
        sa.Column("user_name", _text(250), nullable=False),
        sa.Column("role", _text(16), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", _text(250), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=True),
        sa.Column("last_used_at", sa.BigInteger(), nullable=True),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("token_id", name="pk_api_tokens"),
    )


def _chain_stored_events(key: bytes | None) -> None:
    """Number the stored events 1..n in their order of writing and chain them.

    Rows are rewritten in ascending order, each to a number no higher than its old one and
    above every number given before, so no two rows ever share a ``seq`` on the way.
    """
    conn = op.get_bind()
    select = sa.text(
        "SELECT seq, event_id, kind, subject, actor, at, reason, links_json, data_json "
        "FROM events WHERE seq > :after ORDER BY seq LIMIT :page"
    )
    update = sa.text(
        "UPDATE events SET seq = :new, prev_hash = :prev_hash, hash = :hash WHERE seq = :old"
    )
    after, number, prev = -(2**62), 0, GENESIS_HASH
    while True:
        rows = conn.execute(select, {"after": after, "page": _PAGE}).all()
        if not rows:
            return
        changes = []
        for old, event_id, kind, subject, actor, at, reason, links, data in rows:
            event = Event(
                event_id=event_id,
                kind=kind,
                subject=subject,
                actor=actor,
                at=int(at),
                reason=reason or "",
                links=orjson.loads(links),
                data=orjson.loads(data),
                client="",
                address="",
            )
            number += 1
            digest = entry_hash(event, prev, key=key)
            changes.append({"new": number, "old": old, "prev_hash": prev, "hash": digest})
            prev = digest
        for change in changes:  # one by one, in order (see the docstring)
            conn.execute(update, change)
        after = int(rows[-1][0])


def downgrade() -> None:
    """Drop api_tokens and the chain columns (the events keep their new numbers)."""
    op.drop_table("api_tokens")
    with op.batch_alter_table("events") as batch:
        for name, _length in reversed(_CHAIN_COLUMNS):
            batch.drop_column(name)
