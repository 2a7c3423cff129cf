"""Add events, the append-only audit log of the loop's transitions.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _text(length: int) -> sa.types.TypeEngine[str]:
    # Code-point comparison and order on PostgreSQL too, as SQLite's BINARY collation does.
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


#: 64-bit integer primary key that is still SQLite's auto-incrementing rowid.
_AUTO_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create events and its (subject, at) and (kind, at) indexes."""
    op.create_table(
        "events",
        sa.Column("seq", _AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("event_id", _text(32), nullable=False),
        sa.Column("kind", _text(64), nullable=False),
        sa.Column("subject", _text(600), nullable=False),
        sa.Column("actor", _text(250), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("links_json", sa.Text(), nullable=False),
        sa.Column("data_json", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_events"),
        sa.UniqueConstraint("event_id", name="uq_events_event_id"),
    )
    op.create_index("ix_events_subject_at", "events", ["subject", "at"])
    op.create_index("ix_events_kind_at", "events", ["kind", "at"])


def downgrade() -> None:
    """Drop events."""
    op.drop_table("events")
