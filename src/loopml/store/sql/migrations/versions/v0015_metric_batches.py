"""Add metric_batches: the idempotency key of each metric batch a server applied, written in
the same transaction as its points, so a batch sent again (a client retrying after a lost
answer or a server restart) is applied once.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-11
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def _text(length: int) -> sa.types.TypeEngine[str]:
    # Code-point comparison and order on PostgreSQL too, as SQLite's BINARY collation does.
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    """Create metric_batches."""
    op.create_table(
        "metric_batches",
        sa.Column("batch_key", _text(64), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("applied_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("batch_key", name="pk_metric_batches"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_metric_batches_applied_at", "metric_batches", ["applied_at"])


def downgrade() -> None:
    """Drop metric_batches."""
    op.drop_index("ix_metric_batches_applied_at", table_name="metric_batches")
    op.drop_table("metric_batches")
