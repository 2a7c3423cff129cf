"""Add model_log, the commit order of each model's alias moves and reviews.

Alias history used to be read from the events ordered by their time, taken before the write
lock, so concurrent moves could be recorded out of commit order. From this revision each
change is numbered per model under the model's lock. The moves and reviews already stored
are numbered here in the order they were read in before: by time, then by write order.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

#: The event kinds of a model's changes, and the prefix of their subjects.
_KINDS = ("alias.moved", "model.approved", "model.rejected")
_PREFIX = "model:"


def _text(length: int) -> sa.types.TypeEngine[str]:
    # Code-point comparison and order on PostgreSQL too, as SQLite's BINARY collation does.
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def _model_of(kind: str, subject: str) -> str | None:
    """The model an event changed: ``model:<name>`` for a move, ``model:<name>@<n>`` for a
    review (None for a subject of another shape)."""
    if not subject.startswith(_PREFIX):
        return None
    name = subject[len(_PREFIX) :]
    if kind != "alias.moved":
        name, sep, number = name.rpartition("@")
        if not sep or not number.isascii() or not number.isdigit():
            return None
    return name or None


def upgrade() -> None:
    """Create model_log and number the moves and reviews stored so far, per model."""
    log = op.create_table(
        "model_log",
        sa.Column("name", _text(250), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("event_id", _text(32), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.event_id"], name="fk_model_log_event_id_events"
        ),
        sa.PrimaryKeyConstraint("name", "seq", name="pk_model_log"),
        sqlite_with_rowid=False,
    )
    assert log is not None
    events = sa.table(
        "events",
        sa.column("seq", sa.BigInteger()),
        sa.column("event_id", sa.String()),
        sa.column("kind", sa.String()),
        sa.column("subject", sa.String()),
        sa.column("at", sa.BigInteger()),
    )
    rows = op.get_bind().execute(
        sa.select(events.c.event_id, events.c.kind, events.c.subject)
        .where(events.c.kind.in_(_KINDS))
        .order_by(events.c.at, events.c.seq)
    )
    numbered: dict[str, int] = {}
    batch = []
    for event_id, kind, subject in rows:
        name = _model_of(kind, subject)
        if name is None:
            continue
        numbered[name] = numbered.get(name, 0) + 1
        batch.append({"name": name, "seq": numbered[name], "event_id": event_id})
    if batch:
        op.bulk_insert(log, batch)


def downgrade() -> None:
    """Drop model_log (the events stay)."""
    op.drop_table("model_log")
