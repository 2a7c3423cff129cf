"""Add monitor_results: one row per window of a stored monitor run.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _text(length: int) -> sa.types.TypeEngine[str]:
    # Code-point comparison and order on PostgreSQL too, as SQLite's BINARY collation does.
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    """Create monitor_results and its indexes."""
    op.create_table(
        "monitor_results",
        sa.Column("result_id", _text(32), nullable=False),
        sa.Column("run_id", _text(32), nullable=False),
        sa.Column("subject", _text(600), nullable=False),
        sa.Column("model", _text(600), nullable=True),
        sa.Column("window_index", sa.Integer(), nullable=False),
        sa.Column("start_ms", sa.BigInteger(), nullable=True),
        sa.Column("end_ms", sa.BigInteger(), nullable=True),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("dataset_drift", sa.Boolean(), nullable=True),
        sa.Column("drift_share", sa.Float(), nullable=True),
        sa.Column("window_json", sa.Text(), nullable=False),
        sa.Column("alerts_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("result_id", name="pk_monitor_results"),
    )
    op.create_index(
        "ix_monitor_results_subject_created_at", "monitor_results", ["subject", "created_at"]
    )
    op.create_index("ix_monitor_results_created_at", "monitor_results", ["created_at"])
    op.create_index("ix_monitor_results_run_id", "monitor_results", ["run_id"])


def downgrade() -> None:
    """Drop monitor_results."""
    op.drop_table("monitor_results")
