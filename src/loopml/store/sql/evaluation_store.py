""":class:`SqlEvaluationStore`: the :class:`~loopml.store.protocols.EvaluationStore` on SQLite
and PostgreSQL (SQLAlchemy Core).

An evaluation's full result is a JSON document in the artifact store; this table indexes it by
model version and time, with a summary for listings. Records are written once, with their
``evaluation.created`` event in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa

from loopml.core.entities import EvaluationRecord, Event
from loopml.core.errors import InvalidArgumentError, NotFoundError
from loopml.core.refs import parse_ref
from loopml.store.sql.engine import StoreEngine
from loopml.store.sql.event_store import insert_event
from loopml.store.sql.tables import evaluations, model_versions

_ev = evaluations.c
_COLUMNS = (
    _ev.evaluation_id,
    _ev.name,
    _ev.version,
    _ev.baseline,
    _ev.task,
    _ev.datasets_json,
    _ev.created_at,
    _ev.created_by,
    _ev.digest,
    _ev.summary_json,
)


def _row(record: EvaluationRecord) -> dict[str, object]:
    parsed = parse_ref(record.model, noun="model")
    if parsed.version is None:
        raise InvalidArgumentError(
            f"An evaluation record names its model as 'name@version'; got {record.model!r}."
        )
    return {
        "evaluation_id": record.evaluation_id,
        "name": parsed.name,
        "version": parsed.version,
        "baseline": record.baseline,
        "task": record.task,
        "datasets_json": orjson.dumps(list(record.datasets)).decode(),
        "created_at": record.created_at,
        "created_by": record.created_by,
        "digest": record.digest,
        "summary_json": orjson.dumps(record.summary).decode(),
    }


def _record(row: Sequence[Any]) -> EvaluationRecord:
    (eid, name, version, baseline, task, datasets, at, by, digest, summary) = row
    return EvaluationRecord(
        evaluation_id=str(eid),
        model=f"{name}@{version}",
        baseline=None if baseline is None else str(baseline),
        task=str(task),
        datasets=tuple(orjson.loads(str(datasets))),
        created_at=int(str(at)),
        created_by=str(by),
        digest=str(digest),
        summary=orjson.loads(str(summary)),
    )


class SqlEvaluationStore:
    """The index of evaluations in a SQL database (the engine shared with the other stores).

    Args:
        db: The open engine, from :func:`~loopml.store.sql.migrate.open_store_engine`.
    """

    def __init__(self, db: StoreEngine) -> None:
        self._db = db

    def __repr__(self) -> str:
        return f"SqlEvaluationStore({self._db.location!r})"

    def add(self, record: EvaluationRecord, *, event: Event | None = None) -> None:
        """Write a record (and its event) in one transaction.

        Raises:
            NotFoundError: The model version does not exist.
        """
        values = _row(record)

        def work(conn: sa.Connection) -> None:
            found = conn.execute(
                sa.select(model_versions.c.version).where(
                    model_versions.c.name == values["name"],
                    model_versions.c.version == values["version"],
                )
            ).first()
            if found is None:
                raise NotFoundError(
                    f"Cannot store an evaluation of {record.model}: the model version does not "
                    "exist."
                )
            conn.execute(evaluations.insert(), values)
            if event is not None:
                insert_event(self._db, conn, event)

        self._db.write(work)

    def get(self, evaluation_id: str) -> EvaluationRecord:
        """Return one record. Raises NotFoundError."""
        with self._db.read() as conn:
            row = conn.execute(
                sa.select(*_COLUMNS).where(_ev.evaluation_id == evaluation_id)
            ).first()
        if row is None:
            raise NotFoundError(
                f"No evaluation with id {evaluation_id!r}. List them with `loopml evaluations "
                "list NAME`."
            )
        return _record(row)

    def list_for(
        self, name: str, version: int | None = None, *, limit: int | None = None
    ) -> list[EvaluationRecord]:
        """Return the evaluations of a model (or one version), newest first."""
        conditions = [_ev.name == name]
        if version is not None:
            conditions.append(_ev.version == version)
        statement = (
            sa.select(*_COLUMNS)
            .where(*conditions)
            .order_by(_ev.created_at.desc(), _ev.evaluation_id)
            .limit(limit)
        )
        with self._db.read() as conn:
            return [_record(row) for row in conn.execute(statement)]

    def ids_with_prefix(self, prefix: str, *, limit: int) -> list[str]:
        """Return up to ``limit`` evaluation ids starting with ``prefix`` (lowercase hex)."""
        if not prefix or any(c not in "0123456789abcdef" for c in prefix):
            return []  # nothing else could match, and no LIKE wildcard reaches the query
        statement = (
            sa.select(_ev.evaluation_id)
            .where(_ev.evaluation_id.like(f"{prefix}%"))
            .order_by(_ev.evaluation_id)
            .limit(limit)
        )
        with self._db.read() as conn:
            return [str(row[0]) for row in conn.execute(statement)]
