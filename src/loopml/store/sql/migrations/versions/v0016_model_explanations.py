"""Add model_explanations: the global feature importance recorded on a model version (an
attachment of the immutable version, as its ONNX exports are), with the dataset it was
computed on, the method, who and when.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def _text(length: int) -> sa.types.TypeEngine[str]:
    # Code-point comparison and order on PostgreSQL too, as SQLite's BINARY collation does.
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    """Create model_explanations."""
    op.create_table(
        "model_explanations",
        sa.Column("explanation_id", _text(32), nullable=False),
        sa.Column("name", _text(250), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("method", _text(64), nullable=False),
        sa.Column("dataset", _text(600), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", _text(250), nullable=False),
        sa.Column("body_json", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["name", "version"],
            ["model_versions.name", "model_versions.version"],
            name="fk_model_explanations_name_model_versions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("explanation_id", name="pk_model_explanations"),
    )
    op.create_index(
        "ix_model_explanations_name_version",
        "model_explanations",
        ["name", "version", "created_at"],
    )


def downgrade() -> None:
    """Drop model_explanations."""
    op.drop_index("ix_model_explanations_name_version", table_name="model_explanations")
    op.drop_table("model_explanations")
