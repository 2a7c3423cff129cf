"""Rewrite the metrics summaries of SQLite stores with every digit of each value.

SQLite's JSON functions render a REAL with 15 significant digits, so summaries written before
this revision read ``0.1 + 0.2`` back as ``0.3`` (the ``metrics`` and ``latest_metrics`` tables
always kept the exact value). From this revision the summary holds each finite value as text
of 21 significant digits, which decodes to the same double; this recomputes the summaries
already stored. PostgreSQL writes doubles exactly and is left as it is.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# A frozen copy of the aggregate in store/sql/summary.py (a migration must not change when the
# application code does).
_SQLITE = """
UPDATE runs SET
  metrics_json = (SELECT json_group_object(key, CASE WHEN is_nan THEN NULL
                                                    WHEN value > 1.7976931348623157e308 THEN 'inf'
                                                    WHEN value < -1.7976931348623157e308 THEN '-inf'
                                                    ELSE printf('%!.20e', value) END)
                  FROM latest_metrics m WHERE m.run_id = runs.run_id)
WHERE metrics_json IS NOT NULL AND metrics_json != '{}'
"""


def upgrade() -> None:
    """Recompute every SQLite run's metrics summary from ``latest_metrics``."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(_SQLITE)


def downgrade() -> None:
    """Nothing to undo: the summaries hold the same values, with every digit."""
