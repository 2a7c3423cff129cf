"""Add evaluations, the index of model evaluations (documents live in the artifact store).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _text(length: int) -> sa.types.TypeEngine[str]:
    # Code-point comparison and order on PostgreSQL too, as SQLite's BINARY collation does.
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    """Create evaluations and its (name, version, created_at) index."""
    op.create_table(
        "evaluations",
        sa.Column("evaluation_id", _text(32), nullable=False),
        sa.Column("name", _text(250), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("baseline", _text(600), nullable=True),
        sa.Column("task", _text(64), nullable=False),
        sa.Column("datasets_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", _text(250), nullable=False),
        sa.Column("digest", _text(64), nullable=False),
        sa.Column("summary_json", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["name", "version"],
            ["model_versions.name", "model_versions.version"],
            name="fk_evaluations_name_model_versions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("evaluation_id", name="pk_evaluations"),
    )
    op.create_index(
        "ix_evaluations_name_version_created_at",
        "evaluations",
        ["name", "version", "created_at"],
    )


def downgrade() -> None:
    """Drop evaluations."""
    op.drop_table("evaluations")
