""":class:`SqlEventStore`: the :class:`~loopml.store.protocols.EventStore` on SQLite and
PostgreSQL (SQLAlchemy Core): the audit log.

Events are append-only: written once by :func:`insert_event`, never updated or deleted. The
function takes a connection so that another store can write an event in its own transaction
(a dataset version and its ``dataset.registered`` event are stored together or not at all,
see :meth:`~loopml.store.sql.dataset_store.SqlDatasetStore.create_version`).

Each event is chained as it is written: it takes the next ``seq`` (1, 2, 3... without gaps)
and the hash of the entry before it (:mod:`loopml.core.audit_chain`). Appends are serialized
so the chain cannot fork: on SQLite every write transaction holds the database's write lock
from ``BEGIN IMMEDIATE``; on PostgreSQL the append takes a transaction-scoped advisory lock
(``pg_advisory_xact_lock``) before it reads the last entry, in the transaction that inserts
(the lock is held until that transaction commits or rolls back, so the next writer reads the
committed head). ``seq`` is also the primary key: two appends that read the same head could
not both be stored.

Reads return events oldest first by ``(at, seq)``: ``seq`` is the order of writing, so events
of the same millisecond keep the order in which they happened. :meth:`SqlEventStore.entries`
reads the chain itself, by ``seq``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa

from loopml.core.audit_chain import GENESIS_HASH, entry_hash, key_bytes
from loopml.core.entities import AuditEntry, Event
from loopml.core.errors import AlreadyExistsError, ConflictError, InvalidArgumentError
from loopml.store.sql import mapper
from loopml.store.sql.engine import StoreEngine
from loopml.store.sql.tables import events

_ev = events.c
#: The escape character of ``LIKE`` patterns built from a subject prefix.
_LIKE_ESCAPE = "\\"
#: The columns of a chain entry: its number and hashes, then :data:`mapper.EVENT_COLUMNS`.
_ENTRY_COLUMNS = (_ev.seq, _ev.prev_hash, _ev.hash, *mapper.EVENT_COLUMNS)
#: The advisory lock (scope, name) that serializes appends on PostgreSQL.
CHAIN_LOCK = ("audit", "chain")


def _entry(row: Sequence[Any]) -> AuditEntry:
    seq, prev_hash, digest, *event = row
    return AuditEntry(
        seq=int(seq), event=mapper.event_from_row(event), prev_hash=prev_hash, hash=digest
    )


def insert_event(db: StoreEngine, conn: sa.Connection, event: Event) -> AuditEntry:
    """Append one event to the chain on ``conn``, in the caller's transaction.

    Args:
        db: The engine ``conn`` belongs to (its dialect says how to lock, its
            ``audit_key`` how to hash).
        conn: A connection in a write transaction (:meth:`StoreEngine.write`).
        event: The event to append.

    Returns:
        The entry as stored: its ``seq`` and hashes.

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
    db.lock(conn, *CHAIN_LOCK)  # then a concurrent append of the same id has committed
    taken = conn.execute(sa.select(_ev.seq).where(_ev.event_id == event.event_id)).first()
    if taken is not None:
        raise _event_taken(event.event_id)
    head = conn.execute(sa.select(_ev.seq, _ev.hash).order_by(_ev.seq.desc()).limit(1)).first()
    seq, prev_hash = (1, GENESIS_HASH) if head is None else (int(head[0]) + 1, str(head[1]))
    # The hash covers the event as it will be read back (links and data through JSON).
    stored = mapper.event_from_row([row[column.name] for column in mapper.EVENT_COLUMNS])
    digest = entry_hash(stored, prev_hash, key=key_bytes(db.audit_key))
    conn.execute(events.insert(), {**row, "seq": seq, "prev_hash": prev_hash, "hash": digest})
    return AuditEntry(seq=seq, event=stored, prev_hash=prev_hash, hash=digest)


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
            self._db.write(lambda conn: insert_event(self._db, conn, event))
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

    def get_event(self, event_id: str) -> Event | None:
        """Return the event with this id, or None."""
        statement = sa.select(*mapper.EVENT_COLUMNS).where(_ev.event_id == event_id)
        with self._db.read() as conn:
            row = conn.execute(statement).first()
        return None if row is None else mapper.event_from_row(row)

    def entries(self, *, after: int = 0, limit: int = 1000) -> list[AuditEntry]:
        """Return up to ``limit`` entries of the chain with ``seq`` above ``after``, by
        ``seq`` (page through the log with the last ``seq`` of a page).

        Raises:
            InvalidArgumentError: ``limit`` is below 1.
        """
        if limit < 1:
            raise InvalidArgumentError(
                f"The 'limit' parameter of entries must be an int of 1 or more. Got {limit!r} "
                "instead."
            )
        statement = sa.select(*_ENTRY_COLUMNS).where(_ev.seq > after).order_by(_ev.seq).limit(limit)
        with self._db.read() as conn:
            return [_entry(row) for row in conn.execute(statement)]

    def head(self) -> AuditEntry | None:
        """Return the last entry of the chain, or None for an empty log."""
        statement = sa.select(*_ENTRY_COLUMNS).order_by(_ev.seq.desc()).limit(1)
        with self._db.read() as conn:
            row = conn.execute(statement).first()
        return None if row is None else _entry(row)

    def entry_with_hash(self, digest: str) -> AuditEntry | None:
        """Return the entry whose hash is ``digest``, or None (a scan: for diagnosing a
        broken chain, not for the write path)."""
        statement = sa.select(*_ENTRY_COLUMNS).where(_ev.hash == digest).limit(1)
        with self._db.read() as conn:
            row = conn.execute(statement).first()
        return None if row is None else _entry(row)

    def rechain(self, *, check_key: str | None, event: Event) -> int:
        """Hash every entry again under this engine's key (``LOOPML_AUDIT_KEY``), after
        checking it under ``check_key`` (None: plain SHA-256), and append ``event`` (the
        ``audit.rechained`` event): one transaction that holds the log's lock, so nothing is
        appended meanwhile. What a key protects starts to hold for the old entries too.

        Returns:
            How many entries were hashed again (the event not counted).

        Raises:
            ConflictError: An entry does not check out under ``check_key`` (its hash or its
                link): nothing is changed; ``loopml audit verify`` says what is wrong.
            InvalidArgumentError: The engine has no key (there is nothing to re-key to).
        """
        if not self._db.audit_key:
            raise InvalidArgumentError(
                "Re-chaining the audit log needs the new key: set LOOPML_AUDIT_KEY for this "
                "process (and for every process that writes the store)."
            )
        old, new = key_bytes(check_key), key_bytes(self._db.audit_key)
        update = events.update().where(_ev.seq == sa.bindparam("at_seq"))
        update = update.values(prev_hash=sa.bindparam("new_prev"), hash=sa.bindparam("new_hash"))

        def work(conn: sa.Connection) -> int:
            self._db.lock(conn, *CHAIN_LOCK)
            count, seq, old_prev, new_prev = 0, 0, GENESIS_HASH, GENESIS_HASH
            while True:
                statement = (
                    sa.select(*_ENTRY_COLUMNS).where(_ev.seq > seq).order_by(_ev.seq).limit(2000)
                )
                page = [_entry(row) for row in conn.execute(statement)]
                if not page:
                    break
                changes = []
                for entry in page:
                    good = entry.seq == seq + 1 and entry.prev_hash == old_prev
                    if not good or entry_hash(entry.event, old_prev, key=old) != entry.hash:
                        raise ConflictError(
                            f"Audit log entry seq {entry.seq} ({entry.event.kind}, "
                            f"{entry.event.event_id}) does not check out under the "
                            f"{'old key' if old else 'plain SHA-256'}, so it is not hashed "
                            "again; nothing was changed. See `loopml audit verify` (with the "
                            "old key) for what is wrong."
                        )
                    digest = entry_hash(entry.event, new_prev, key=new)
                    changes.append({"at_seq": entry.seq, "new_prev": new_prev, "new_hash": digest})
                    seq, old_prev, new_prev = entry.seq, entry.hash, digest
                conn.execute(update, changes)
                count += len(page)
            insert_event(self._db, conn, event)
            return count

        return self._db.write(work)
