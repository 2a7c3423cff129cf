"""Add dataset versions, their lineage (parents) and the inputs of runs.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _text(length: int) -> sa.types.TypeEngine[str]:
    # Code-point comparison and order on PostgreSQL too, as SQLite's BINARY collation does.
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    """Create dataset_versions, dataset_parents and run_inputs."""
    op.create_table(
        "dataset_versions",
        sa.Column("name", _text(250), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content_hash", _text(64), nullable=False),
        sa.Column("artifact_digest", _text(64), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", _text(250), nullable=False),
        sa.Column("run_id", _text(32), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("split", _text(64), nullable=True),
        sa.Column("schema_json", sa.Text(), nullable=False),
        sa.Column("profile_json", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name", "version", name="pk_dataset_versions"),
        sa.UniqueConstraint("name", "content_hash", name="uq_dataset_versions_name_content_hash"),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.run_id"],
            name="fk_dataset_versions_run_id_runs",
            ondelete="SET NULL",
        ),
    )
    op.create_index("ix_dataset_versions_run_id", "dataset_versions", ["run_id"])
    op.create_table(
        "dataset_parents",
        sa.Column("name", _text(250), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("parent_name", _text(250), nullable=False),
        sa.Column("parent_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "name", "version", "parent_name", "parent_version", name="pk_dataset_parents"
        ),
        sa.ForeignKeyConstraint(
            ["name", "version"],
            ["dataset_versions.name", "dataset_versions.version"],
            name="fk_dataset_parents_name_dataset_versions",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_name", "parent_version"],
            ["dataset_versions.name", "dataset_versions.version"],
            name="fk_dataset_parents_parent_name_dataset_versions",
        ),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_dataset_parents_parent_name_parent_version",
        "dataset_parents",
        ["parent_name", "parent_version"],
    )
    op.create_table(
        "run_inputs",
        sa.Column("run_id", _text(32), nullable=False),
        sa.Column("name", _text(250), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("role", _text(64), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "name", "version", "role", name="pk_run_inputs"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.run_id"], name="fk_run_inputs_run_id_runs", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["name", "version"],
            ["dataset_versions.name", "dataset_versions.version"],
            name="fk_run_inputs_name_dataset_versions",
        ),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_run_inputs_name_version", "run_inputs", ["name", "version"])


def downgrade() -> None:
    """Drop the dataset tables (children first)."""
    op.drop_table("run_inputs")
    op.drop_table("dataset_parents")
    op.drop_table("dataset_versions")
