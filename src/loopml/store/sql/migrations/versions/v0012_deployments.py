"""Add deployments (each deployment's current record) and deployment_log (every change of a
deployment, numbered by its version, joined to its event).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _text(length: int) -> sa.types.TypeEngine[str]:
    # Code-point comparison and order on PostgreSQL too, as SQLite's BINARY collation does.
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    """Create deployments and deployment_log."""
    op.create_table(
        "deployments",
        sa.Column("name", _text(250), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("model", _text(250), nullable=False),
        sa.Column("spec_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", _text(250), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_by", _text(250), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_deployments"),
    )
    op.create_index("ix_deployments_model", "deployments", ["model"])
    op.create_table(
        "deployment_log",
        sa.Column("name", _text(250), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("event_id", _text(32), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.event_id"], name="fk_deployment_log_event_id_events"
        ),
        sa.PrimaryKeyConstraint("name", "version", name="pk_deployment_log"),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    """Drop deployment_log and deployments."""
    op.drop_table("deployment_log")
    op.drop_index("ix_deployments_model", table_name="deployments")
    op.drop_table("deployments")
