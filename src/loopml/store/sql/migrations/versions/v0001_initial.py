"""Create experiments, runs, params, tags, metrics and latest_metrics.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _text(length: int) -> sa.types.TypeEngine[str]:
    # Code-point comparison and order on PostgreSQL too, as SQLite's BINARY collation does.
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


_AUTO_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _run_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["run_id"], ["runs.run_id"], name=f"fk_{table}_run_id_runs", ondelete="CASCADE"
    )


def _key_value_indexes(table: str) -> None:
    # A PostgreSQL B-tree entry holds about 2.7 kB, less than a long param or tag value, so
    # PostgreSQL indexes the key only and finds values through the (run_id, key) primary key.
    if op.get_bind().dialect.name == "sqlite":
        op.create_index(f"ix_{table}_key_value", table, ["key", "value"])
    else:
        op.create_index(f"ix_{table}_key", table, ["key"])


def upgrade() -> None:
    """Create the tracking tables."""
    op.create_table(
        "experiments",
        sa.Column("experiment_id", _text(32), nullable=False),
        sa.Column("name", _text(500), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False, server_default=""),
        sa.Column("deleted", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.PrimaryKeyConstraint("experiment_id", name="pk_experiments"),
        sa.UniqueConstraint("name", name="uq_experiments_name"),
    )
    op.create_table(
        "runs",
        sa.Column("run_id", _text(32), nullable=False),
        sa.Column("experiment_id", _text(32), nullable=False),
        sa.Column("name", _text(500), nullable=False),
        sa.Column("status", _text(16), nullable=False),
        sa.Column("start_time", sa.BigInteger(), nullable=False),
        sa.Column("end_time", sa.BigInteger(), nullable=True),
        sa.Column("parent_run_id", _text(32), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.PrimaryKeyConstraint("run_id", name="pk_runs"),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            name="fk_runs_experiment_id_experiments",
        ),
    )
    op.create_index("ix_runs_experiment_id_start_time", "runs", ["experiment_id", "start_time"])
    op.create_index("ix_runs_parent_run_id", "runs", ["parent_run_id"])

    op.create_table(
        "params",
        sa.Column("run_id", _text(32), nullable=False),
        sa.Column("key", _text(250), nullable=False),
        sa.Column("value", _text(6000), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "key", name="pk_params"),
        _run_fk("params"),
        sqlite_with_rowid=False,
    )
    _key_value_indexes("params")

    op.create_table(
        "tags",
        sa.Column("run_id", _text(32), nullable=False),
        sa.Column("key", _text(250), nullable=False),
        sa.Column("value", _text(8000), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "key", name="pk_tags"),
        _run_fk("tags"),
        sqlite_with_rowid=False,
    )
    _key_value_indexes("tags")

    op.create_table(
        "metrics",
        sa.Column("id", _AUTO_ID, nullable=False, autoincrement=True),
        sa.Column("run_id", _text(32), nullable=False),
        sa.Column("key", _text(250), nullable=False),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("is_nan", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_metrics"),
        _run_fk("metrics"),
    )
    op.create_index("ix_metrics_run_id_key_step", "metrics", ["run_id", "key", "step"])

    op.create_table(
        "latest_metrics",
        sa.Column("run_id", _text(32), nullable=False),
        sa.Column("key", _text(250), nullable=False),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("is_nan", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "key", name="pk_latest_metrics"),
        _run_fk("latest_metrics"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_latest_metrics_key_value", "latest_metrics", ["key", "value"])


def downgrade() -> None:
    """Drop the tracking tables."""
    for table in ("latest_metrics", "metrics", "tags", "params", "runs", "experiments"):
        op.drop_table(table)
