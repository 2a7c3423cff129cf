"""Add labels, the ground truth that arrives after a prediction (delayed labels).

Keyed by the model name and the row id the label is for (the prediction id the server
returned, or the caller's own id); a label logged again replaces the row. The label is JSON
text, so a class of any JSON type comes back as it was given.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _text(length: int) -> sa.types.TypeEngine[str]:
    # Code-point comparison and order on PostgreSQL too, as SQLite's BINARY collation does.
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    """Create the labels table."""
    op.create_table(
        "labels",
        sa.Column("model", _text(250), nullable=False),
        sa.Column("row_id", _text(250), nullable=False),
        sa.Column("label_json", sa.Text(), nullable=False),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.Column("event_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("model", "row_id", name="pk_labels"),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    """Drop the labels table (and every label in it)."""
    op.drop_table("labels")
