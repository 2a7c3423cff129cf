"""Writing rows the way an older loopml did, to test that migrations keep them."""

from __future__ import annotations

from collections.abc import Iterable

import orjson
import sqlalchemy as sa

from loopml.core.entities import Event

#: ``events`` as revisions 0005 to 0012 had it (before the audit chain of 0013).
EVENTS_BEFORE_0013 = sa.table(
    "events",
    *(
        sa.column(name)
        for name in (
            "event_id",
            "kind",
            "subject",
            "actor",
            "at",
            "reason",
            "links_json",
            "data_json",
        )
    ),
)


def insert_events_before_0013(conn: sa.Connection, events: Iterable[Event]) -> None:
    """Insert events into a store at a revision from 0005 to 0012 (``seq`` from the
    database, no chain), as those versions did."""
    for event in events:
        conn.execute(
            EVENTS_BEFORE_0013.insert(),
            {
                "event_id": event.event_id,
                "kind": event.kind,
                "subject": event.subject,
                "actor": event.actor,
                "at": event.at,
                "reason": event.reason,
                "links_json": orjson.dumps(dict(event.links)).decode(),
                "data_json": orjson.dumps(dict(event.data)).decode(),
            },
        )
