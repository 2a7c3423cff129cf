"""Add the run summary columns: params, latest metrics and tags of each run as JSON.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

COLUMNS = ("params_json", "metrics_json", "tags_json")

# Frozen copies of the aggregates in store/sql/summary.py (a migration must not change when
# the application code does).
_SQLITE = """
UPDATE runs SET
  params_json = (SELECT json_group_object(key, value) FROM params p
                 WHERE p.run_id = runs.run_id),
  metrics_json = (SELECT json_group_object(key, CASE WHEN is_nan THEN NULL
                                                    WHEN value > 1.7976931348623157e308 THEN 'inf'
                                                    WHEN value < -1.7976931348623157e308 THEN '-inf'
                                                    ELSE value END)
                  FROM latest_metrics m WHERE m.run_id = runs.run_id),
  tags_json = (SELECT json_group_object(key, value) FROM tags t WHERE t.run_id = runs.run_id)
"""
_POSTGRESQL = """
UPDATE runs SET
  params_json = COALESCE((SELECT json_object_agg(key, value)::text FROM params p
                          WHERE p.run_id = runs.run_id), '{}'),
  metrics_json = COALESCE((SELECT json_object_agg(key, CASE WHEN is_nan THEN NULL
                                                           ELSE value END)::text
                           FROM latest_metrics m WHERE m.run_id = runs.run_id), '{}'),
  tags_json = COALESCE((SELECT json_object_agg(key, value)::text FROM tags t
                        WHERE t.run_id = runs.run_id), '{}')
"""


def upgrade() -> None:
    """Add the columns and fill them for every existing run."""
    for column in COLUMNS:
        op.add_column("runs", sa.Column(column, sa.Text(), nullable=True))
    dialect = op.get_bind().dialect.name
    op.execute(_POSTGRESQL if dialect == "postgresql" else _SQLITE)


def downgrade() -> None:
    """Drop the summary columns."""
    with op.batch_alter_table("runs") as batch:
        for column in COLUMNS:
            batch.drop_column(column)
