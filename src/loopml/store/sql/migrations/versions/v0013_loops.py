"""Add the automation agent's tables: loop_runs (one per trigger occurrence of a policy, with
its lease), loop_steps (each finished step, joined to its event), loop_agents (the running
agents by name) and loop_policies (each policy as last loaded, and when it was first run).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def _text(length: int) -> sa.types.TypeEngine[str]:
    # Code-point comparison and order on PostgreSQL too, as SQLite's BINARY collation does.
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    """Create loop_runs, loop_steps, loop_agents and loop_policies."""
    op.create_table(
        "loop_runs",
        sa.Column("run_id", _text(32), nullable=False),
        sa.Column("policy", _text(250), nullable=False),
        sa.Column("trigger_key", _text(600), nullable=False),
        sa.Column("trigger", _text(16), nullable=False),
        sa.Column("status", _text(64), nullable=False),
        sa.Column("step", _text(64), nullable=False),
        sa.Column("state_json", sa.Text(), nullable=False),
        sa.Column("trigger_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("next_at", sa.BigInteger(), nullable=False),
        sa.Column("lease_holder", _text(250), nullable=True),
        sa.Column("lease_expires_at", sa.BigInteger(), nullable=True),
        sa.Column("steps_done", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", name="pk_loop_runs"),
        sa.UniqueConstraint("policy", "trigger_key", name="uq_loop_runs_policy_trigger_key"),
    )
    op.create_index("ix_loop_runs_policy_created_at", "loop_runs", ["policy", "created_at"])
    op.create_index("ix_loop_runs_status_next_at", "loop_runs", ["status", "next_at"])
    op.create_table(
        "loop_steps",
        sa.Column("run_id", _text(32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("step", _text(64), nullable=False),
        sa.Column("outcome", _text(64), nullable=False),
        sa.Column("holder", _text(250), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.Column("ended_at", sa.BigInteger(), nullable=False),
        sa.Column("event_id", _text(32), nullable=False),
        sa.Column("detail_json", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["loop_runs.run_id"], name="fk_loop_steps_run_id_loop_runs"
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.event_id"], name="fk_loop_steps_event_id_events"
        ),
        sa.PrimaryKeyConstraint("run_id", "seq", name="pk_loop_steps"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "loop_agents",
        sa.Column("holder", _text(250), nullable=False),
        sa.Column("token", _text(32), nullable=False),
        sa.Column("host", _text(250), nullable=False),
        sa.Column("pid", sa.BigInteger(), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.Column("seen_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("policies_json", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("holder", name="pk_loop_agents"),
    )
    op.create_table(
        "loop_policies",
        sa.Column("name", _text(250), nullable=False),
        sa.Column("digest", _text(64), nullable=False),
        sa.Column("spec_json", sa.Text(), nullable=False),
        sa.Column("first_seen_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_loop_policies"),
    )


def downgrade() -> None:
    """Drop the automation agent's tables."""
    op.drop_table("loop_policies")
    op.drop_table("loop_agents")
    op.drop_table("loop_steps")
    op.drop_index("ix_loop_runs_status_next_at", table_name="loop_runs")
    op.drop_index("ix_loop_runs_policy_created_at", table_name="loop_runs")
    op.drop_table("loop_runs")
