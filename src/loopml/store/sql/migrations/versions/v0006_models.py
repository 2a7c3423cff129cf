"""Add the model registry: model versions, their dataset inputs, aliases and exports.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _text(length: int) -> sa.types.TypeEngine[str]:
    # Code-point comparison and order on PostgreSQL too, as SQLite's BINARY collation does.
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    """Create model_versions, model_inputs, model_aliases and model_exports."""
    op.create_table(
        "model_versions",
        sa.Column("name", _text(250), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("flavor", _text(64), nullable=False),
        sa.Column("manifest_digest", _text(64), nullable=False),
        sa.Column("signature_json", sa.Text(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", _text(250), nullable=False),
        sa.Column("run_id", _text(32), nullable=True),
        sa.Column("code_commit", _text(64), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("tags_json", sa.Text(), nullable=False),
        sa.Column("approval", _text(16), nullable=False),
        sa.Column("reviewer", _text(250), nullable=True),
        sa.Column("review_comment", sa.Text(), nullable=False),
        sa.Column("reviewed_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.run_id"],
            name="fk_model_versions_run_id_runs",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("name", "version", name="pk_model_versions"),
    )
    op.create_index("ix_model_versions_run_id", "model_versions", ["run_id"])
    op.create_table(
        "model_inputs",
        sa.Column("name", _text(250), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("dataset_name", _text(250), nullable=False),
        sa.Column("dataset_version", sa.Integer(), nullable=False),
        sa.Column("role", _text(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["name", "version"],
            ["model_versions.name", "model_versions.version"],
            name="fk_model_inputs_name_model_versions",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["dataset_name", "dataset_version"],
            ["dataset_versions.name", "dataset_versions.version"],
            name="fk_model_inputs_dataset_name_dataset_versions",
        ),
        sa.PrimaryKeyConstraint(
            "name", "version", "dataset_name", "dataset_version", "role", name="pk_model_inputs"
        ),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_model_inputs_dataset_name_dataset_version",
        "model_inputs",
        ["dataset_name", "dataset_version"],
    )
    op.create_table(
        "model_aliases",
        sa.Column("name", _text(250), nullable=False),
        sa.Column("alias", _text(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["name", "version"],
            ["model_versions.name", "model_versions.version"],
            name="fk_model_aliases_name_model_versions",
        ),
        sa.PrimaryKeyConstraint("name", "alias", name="pk_model_aliases"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "model_exports",
        sa.Column("name", _text(250), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("manifest_digest", _text(64), nullable=False),
        sa.Column("format", _text(64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", _text(250), nullable=False),
        sa.Column("check_json", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["name", "version"],
            ["model_versions.name", "model_versions.version"],
            name="fk_model_exports_name_model_versions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("name", "version", "manifest_digest", name="pk_model_exports"),
    )


def downgrade() -> None:
    """Drop the model registry's tables."""
    op.drop_table("model_exports")
    op.drop_table("model_aliases")
    op.drop_table("model_inputs")
    op.drop_table("model_versions")
