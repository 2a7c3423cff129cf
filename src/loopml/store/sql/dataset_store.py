""":class:`SqlDatasetStore`: the :class:`~loopml.store.protocols.DatasetStore` on SQLite and
PostgreSQL (SQLAlchemy Core).

Versions are numbered per name by the store, in one write transaction: the ``(name, version)``
primary key and the ``(name, content_hash)`` unique constraint make concurrent registrations
safe without a lock. A writer that loses a race gets an integrity error, reads again and
either returns the winner (same content) or takes the next number (different content).

The store enforces integrity only (unknown runs, versions and parents); validation of names,
roles and data happens above it, in the dataset service.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from loopml.core.entities import DatasetVersion, Event
from loopml.core.errors import InvalidArgumentError, NotFoundError
from loopml.core.ids import RunId
from loopml.core.refs import parse_ref as parse_name_ref
from loopml.store.sql import mapper
from loopml.store.sql.engine import StoreEngine
from loopml.store.sql.event_store import insert_event
from loopml.store.sql.tables import dataset_parents, dataset_versions, run_inputs, runs
from loopml.store.sql.versioned import VersionedNames

#: ``(name, version)`` pairs per ``IN (...)`` list (two bound variables each).
_PAIR_CHUNK = mapper.ID_CHUNK // 2

_dv = dataset_versions.c
_dp = dataset_parents.c
_ri = run_inputs.c


def parse_ref(ref: str) -> tuple[str, int]:
    """Split a ``name@version`` ref into its name and version number.

    Raises:
        InvalidArgumentError: The ref is not ``name@version`` with a positive version.
    """
    parsed = parse_name_ref(ref, noun="dataset")
    if parsed.version is None:
        raise InvalidArgumentError(
            f"The dataset ref {ref!r} is not of the form 'name@version' with a version of 1 "
            "or more. Write it like 'credit@3'."
        )
    return parsed.name, parsed.version


class SqlDatasetStore:
    """Dataset versions, their lineage and the inputs of runs in a SQL database.

    The store shares the engine (one connection pool per database per process) of the
    tracking store; the engine must already be at the current schema.

    Args:
        db: The open engine, from :func:`~loopml.store.sql.migrate.open_store_engine`.

    Example:
        >>> db = open_store_engine("sqlite:///.loopml/loopml.db")  # doctest: +SKIP
        >>> datasets = SqlDatasetStore(db)  # doctest: +SKIP
        >>> datasets.get_latest("credit").ref  # doctest: +SKIP
        'credit@3'
    """

    def __init__(self, db: StoreEngine) -> None:
        self._db = db
        self._names = VersionedNames(
            dataset_versions, noun="dataset", list_command="loopml data list"
        )
        self._postgresql = db.dialect == "postgresql"

    def __repr__(self) -> str:
        return f"SqlDatasetStore({self._db.location!r})"

    # -- registration ----------------------------------------------------------------------

    def create_version(
        self,
        draft: DatasetVersion,
        *,
        on_created: Callable[[DatasetVersion], Event] | None = None,
    ) -> tuple[DatasetVersion, bool]:
        """Register a version atomically. ``draft.version`` is ignored: the store assigns the
        next number for ``draft.name`` (1 for a new name). When a version of that name with
        the same ``content_hash`` exists, nothing is written and that version is returned.

        When a version is created and ``on_created`` is given, it is called with the numbered
        version inside the write transaction and the event it returns is written in that
        transaction: both are stored, or neither. If it raises, nothing is written and its
        exception propagates. It is not called when the content already existed, and may be
        called again when concurrent writers take the number first (so it must only build
        the event).

        Parents are stored once each and returned in ``(name, version)`` order.

        Returns:
            The stored version, and True when it was created (False when it existed).

        Raises:
            NotFoundError: A parent ref or the run does not exist.
            InvalidArgumentError: A parent ref is not ``name@version``.
            ConflictError: Concurrent writers kept taking the next number (retry later).
            AlreadyExistsError: The event from ``on_created`` reuses a stored ``event_id``.
        """
        refs = sorted({parse_ref(ref) for ref in draft.parents})

        def work(conn: sa.Connection) -> tuple[DatasetVersion, bool]:
            existing = conn.execute(
                sa.select(*mapper.DATASET_COLUMNS).where(
                    _dv.name == draft.name, _dv.content_hash == draft.content_hash
                )
            ).first()
            if existing is not None:
                return self._load(conn, [existing])[0], False
            self._require_parents(conn, draft, refs)
            if draft.run_id is not None and not run_exists(conn, draft.run_id):
                raise NotFoundError(
                    f"Cannot register dataset {draft.name!r}: run {draft.run_id!r} does not "
                    "exist (it was never created or has been purged). Register it without a "
                    "run, or in an existing one."
                )
            number = self._names.next_number(conn, draft.name)
            conn.execute(dataset_versions.insert(), mapper.dataset_row(draft, number))
            if refs:
                conn.execute(
                    dataset_parents.insert(),
                    [
                        {
                            "name": draft.name,
                            "version": number,
                            "parent_name": parent,
                            "parent_version": parent_version,
                        }
                        for parent, parent_version in refs
                    ],
                )
            parents = tuple(f"{parent}@{parent_version}" for parent, parent_version in refs)
            created = dataclasses.replace(draft, version=number, parents=parents)
            if on_created is not None:
                insert_event(self._db, conn, on_created(created))
            return created, True

        return self._names.write_numbered(self._db, draft.name, work)

    def _require_parents(
        self, conn: sa.Connection, draft: DatasetVersion, refs: Sequence[tuple[str, int]]
    ) -> None:
        if not refs:
            return
        found = set(self._existing_pairs(conn, refs))
        for parent, parent_version in refs:
            if (parent, parent_version) not in found:
                raise NotFoundError(
                    f"Cannot register dataset {draft.name!r}: its parent "
                    f"'{parent}@{parent_version}' does not exist. "
                    + self._names.missing(conn, parent, parent_version)
                )

    @staticmethod
    def _existing_pairs(
        conn: sa.Connection, pairs: Sequence[tuple[str, int]]
    ) -> list[tuple[str, int]]:
        found: list[tuple[str, int]] = []
        for start in range(0, len(pairs), _PAIR_CHUNK):
            chunk = list(pairs[start : start + _PAIR_CHUNK])
            statement = sa.select(_dv.name, _dv.version).where(
                sa.tuple_(_dv.name, _dv.version).in_(chunk)
            )
            found.extend((name, int(version)) for name, version in conn.execute(statement))
        return found

    # -- reads -------------------------------------------------------------------------------

    def get_version(self, name: str, version: int) -> DatasetVersion:
        """Return one version. Raises NotFoundError (naming the versions that exist)."""
        with self._db.read() as conn:
            return self._get(conn, name, version)

    def _get(self, conn: sa.Connection, name: str, version: int) -> DatasetVersion:
        statement = sa.select(*mapper.DATASET_COLUMNS).where(
            _dv.name == name, _dv.version == version
        )
        row = conn.execute(statement).first()
        if row is None:
            raise NotFoundError(self._names.missing(conn, name, version))
        return self._load(conn, [row])[0]

    def get_latest(self, name: str) -> DatasetVersion:
        """Return the highest version of a dataset. Raises NotFoundError."""
        statement = (
            sa.select(*mapper.DATASET_COLUMNS)
            .where(_dv.name == name)
            .order_by(_dv.version.desc())
            .limit(1)
        )
        with self._db.read() as conn:
            row = conn.execute(statement).first()
            if row is None:
                raise NotFoundError(self._names.unknown_name(conn, name))
            return self._load(conn, [row])[0]

    def list_versions(self, name: str) -> list[DatasetVersion]:
        """Return every version of a dataset, oldest first. Raises NotFoundError."""
        statement = sa.select(*mapper.DATASET_COLUMNS).where(_dv.name == name).order_by(_dv.version)
        with self._db.read() as conn:
            rows = conn.execute(statement).all()
            if not rows:
                raise NotFoundError(self._names.unknown_name(conn, name))
            return self._load(conn, rows)

    def list_datasets(self) -> list[DatasetVersion]:
        """Return the latest version of every dataset, by name."""
        latest = (
            sa.select(_dv.name, sa.func.max(_dv.version).label("version"))
            .group_by(_dv.name)
            .subquery()
        )
        statement = (
            sa.select(*mapper.DATASET_COLUMNS)
            .join(latest, sa.and_(_dv.name == latest.c.name, _dv.version == latest.c.version))
            .order_by(_dv.name)
        )
        with self._db.read() as conn:
            return self._load(conn, conn.execute(statement).all())

    def children(self, name: str, version: int) -> list[DatasetVersion]:
        """Return the versions whose parents include ``name@version`` (by name, then version;
        an empty list for a version that has none or does not exist)."""
        statement = (
            sa.select(*mapper.DATASET_COLUMNS)
            .join(dataset_parents, sa.and_(_dp.name == _dv.name, _dp.version == _dv.version))
            .where(_dp.parent_name == name, _dp.parent_version == version)
            .order_by(_dv.name, _dv.version)
        )
        with self._db.read() as conn:
            return self._load(conn, conn.execute(statement).all())

    # -- lineage of runs -----------------------------------------------------------------------

    def log_input(self, run_id: RunId, name: str, version: int, role: str) -> None:
        """Record that a run used a dataset version in a role (``train``, ``eval``...); logging
        the same (run, version, role) again is a no-op.

        Raises:
            NotFoundError: The run or the dataset version does not exist.
        """
        insert = postgresql.insert(run_inputs) if self._postgresql else sqlite.insert(run_inputs)
        statement = insert.on_conflict_do_nothing(
            index_elements=["run_id", "name", "version", "role"]
        )
        values = {"run_id": run_id, "name": name, "version": version, "role": role}

        def work(conn: sa.Connection) -> None:
            if not run_exists(conn, run_id):
                raise run_not_found(run_id)
            if not self._existing_pairs(conn, [(name, version)]):
                raise NotFoundError(self._names.missing(conn, name, version))
            conn.execute(statement, values)

        self._db.write(work)

    def inputs_of(self, run_id: RunId) -> list[tuple[DatasetVersion, str]]:
        """Return the dataset versions a run used, with their roles (by name, version, role).

        Raises:
            NotFoundError: The run does not exist.
        """
        statement = (
            sa.select(*mapper.DATASET_COLUMNS, _ri.role)
            .join(run_inputs, sa.and_(_ri.name == _dv.name, _ri.version == _dv.version))
            .where(_ri.run_id == run_id)
            .order_by(_dv.name, _dv.version, _ri.role)
        )
        with self._db.read() as conn:
            rows = conn.execute(statement).all()
            if not rows and not run_exists(conn, run_id):
                raise run_not_found(run_id)
            versions = self._load(conn, [row[:-1] for row in rows])
        return [(version, row[-1]) for version, row in zip(versions, rows, strict=True)]

    def runs_using(self, name: str, version: int) -> list[tuple[RunId, str]]:
        """Return the runs that used a dataset version, with their roles (oldest run first;
        an empty list for a version no run used or that does not exist)."""
        statement = (
            sa.select(_ri.run_id, _ri.role)
            .join(runs, runs.c.run_id == _ri.run_id)
            .where(_ri.name == name, _ri.version == version)
            .order_by(runs.c.start_time, _ri.run_id, _ri.role)
        )
        with self._db.read() as conn:
            return [(RunId(run_id), role) for run_id, role in conn.execute(statement)]

    # -- helpers -------------------------------------------------------------------------------

    def _load(self, conn: sa.Connection, rows: Sequence[Sequence[Any]]) -> list[DatasetVersion]:
        """Build versions from rows of :data:`~loopml.store.sql.mapper.DATASET_COLUMNS`, with
        their parents (in ``(name, version)`` order) read in as few queries as possible."""
        keys = sorted({(row[0], int(row[1])) for row in rows})
        parents: dict[tuple[str, int], list[str]] = {key: [] for key in keys}
        for start in range(0, len(keys), _PAIR_CHUNK):
            chunk = keys[start : start + _PAIR_CHUNK]
            statement = (
                sa.select(_dp.name, _dp.version, _dp.parent_name, _dp.parent_version)
                .where(sa.tuple_(_dp.name, _dp.version).in_(chunk))
                .order_by(_dp.name, _dp.version, _dp.parent_name, _dp.parent_version)
            )
            for name, version, parent, parent_version in conn.execute(statement):
                parents[(name, int(version))].append(f"{parent}@{parent_version}")
        return [mapper.dataset_from_row(row, parents[(row[0], int(row[1]))]) for row in rows]


def run_exists(conn: sa.Connection, run_id: str) -> bool:
    statement = sa.select(runs.c.run_id).where(runs.c.run_id == run_id)
    return conn.execute(statement).first() is not None


def run_not_found(run_id: str) -> NotFoundError:
    return NotFoundError(
        f"Run {run_id!r} does not exist (it was never created or has been purged). "
        "Check the run id, or start a new run."
    )
