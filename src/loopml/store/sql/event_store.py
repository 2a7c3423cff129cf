""":class:`SqlEventStore`: the :class:`~loopml.store.protocols.EventStore` on SQLite and
PostgreSQL (SQLAlchemy Core).

Events are append-only: written once by :func:`insert_event`, never updated or deleted. The
function takes a connection rather than the engine so that another store can write an event
in its own transaction (a dataset version and its ``dataset.registered`` event are stored
together or not at all, see :meth:`~loopml.store.sql.dataset_store.SqlDatasetStore.create_version`).

Reads return events oldest first by ``(at, seq)``: ``seq`` is the order of writing, so events
of the same millisecond keep the order in which they happened.
"""

from __future__ import annotations

import orjson
import sqlalchemy as sa

from loopml.core.entities import Event
from loopml.core.errors import AlreadyExistsError, InvalidArgumentError
from loopml.store.sql import mapper
from loopml.store.sql.engine import StoreEngine
from loopml.store.sql.tables import events

_ev = events.c
#: The escape character of ``LIKE`` patterns built from a subject prefix.
_LIKE_ESCAPE = "\\"


def insert_event(conn: sa.Connection, event: Event) -> None:
    """Write one event on ``conn``, in the caller's transaction.

    Args:
        conn: A connection in a write transaction (:meth:`StoreEngine.write`).
        event: The event to append.

    Raises:
        AlreadyExistsError: An event with the same ``event_id`` is stored.
        InvalidArgumentError: The event's links or data cannot be written as JSON.
    """
    try:
        row = mapper.event_row(event)
    except orjson.JSONEncodeError as exc:
        raise InvalidArgumentError(
            f"The links and data of event {event.event_id!r} ({event.kind!r} on "
            f"{event.subject!r}) must be JSON-ready (str keys; str, int, float, bool, None, "
            f"lists and dicts of them). Got an unsupported value: {exc}. Convert it, e.g. "
            "to a string or a number, before appending the event."
        ) from None
    taken = conn.execute(sa.select(_ev.seq).where(_ev.event_id == event.event_id)).first()
    if taken is not None:
        raise _event_taken(event.event_id)
    conn.execute(events.insert(), row)


def _event_taken(event_id: str) -> AlreadyExistsError:
    return AlreadyExistsError(
        f"An event with id {event_id!r} is already stored; events are written once and "
        "event ids are unique. Give the new event a fresh id (loopml.core.ids)."
    )


def _escape_like(text: str) -> str:
    """Escape ``LIKE`` wildcards (and the escape character) so ``text`` matches literally."""
    return (
        text.replace(_LIKE_ESCAPE, _LIKE_ESCAPE * 2)
        .replace("%", _LIKE_ESCAPE + "%")
        .replace("_", _LIKE_ESCAPE + "_")
    )


class SqlEventStore:
    """The append-only audit log in a SQL database.

    The store shares the engine (one connection pool per database per process) of the
    tracking and dataset stores; the engine must already be at the current schema.

    Args:
        db: The open engine, from :func:`~loopml.store.sql.migrate.open_store_engine`.

    Example:
        >>> db = open_store_engine("sqlite:///.loopml/loopml.db")  # doctest: +SKIP
        >>> log = SqlEventStore(db)  # doctest: +SKIP
        >>> [e.kind for e in log.list_events(subject_prefix="dataset:flights@")]  # doctest: +SKIP
        ['dataset.registered', 'dataset.registered']
    """

    def __init__(self, db: StoreEngine) -> None:
        self._db = db

    def __repr__(self) -> str:
        return f"SqlEventStore({self._db.location!r})"

    def append(self, event: Event) -> None:
        """Write one event (never updated or deleted).

        Raises:
            AlreadyExistsError: An event with the same ``event_id`` is stored.
            InvalidArgumentError: The event's links or data cannot be written as JSON.
        """
        try:
            self._db.write(lambda conn: insert_event(conn, event))
        except sa.exc.IntegrityError:  # a concurrent writer stored the same id first
            raise _event_taken(event.event_id) from None

    def list_events(
        self,
        *,
        subject: str | None = None,
        subject_prefix: str | None = None,
        kind: str | None = None,
        since: int | None = None,
        until: int | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        """Return the events matching every given filter, oldest first by ``(at, seq)``.

        Args:
            subject: Only events on exactly this subject (``dataset:flights@3``).
            subject_prefix: Only events whose subject starts with this text
                (``dataset:flights@``); ``%`` and ``_`` in it match themselves.
            kind: Only events of this kind (``dataset.registered``).
            since: Only events at or after this time (ms since the epoch).
            until: Only events at or before this time (ms since the epoch).
            limit: Keep the newest ``limit`` events (still returned oldest first).

        Raises:
            InvalidArgumentError: ``limit`` is negative.
        """
        if limit is not None and limit < 0:
            raise InvalidArgumentError(
                f"The 'limit' parameter of list_events must be an int of 0 or more. Got "
                f"{limit!r} instead. Pass None for every matching event."
            )
        conditions: list[sa.ColumnElement[bool]] = []
        if subject is not None:
            conditions.append(_ev.subject == subject)
        if subject_prefix:
            pattern = _escape_like(subject_prefix) + "%"
            conditions.append(_ev.subject.like(pattern, escape=_LIKE_ESCAPE))
        if kind is not None:
            conditions.append(_ev.kind == kind)
        if since is not None:
            conditions.append(_ev.at >= since)
        if until is not None:
            conditions.append(_ev.at <= until)
        statement = sa.select(*mapper.EVENT_COLUMNS).where(*conditions)
        if limit is None:
            statement = statement.order_by(_ev.at, _ev.seq)
        else:
            statement = statement.order_by(_ev.at.desc(), _ev.seq.desc()).limit(limit)
        with self._db.read() as conn:
            rows = list(conn.execute(statement).all())
        if limit is not None:
            rows.reverse()
        return [mapper.event_from_row(row) for row in rows]
