""":class:`SqlModelStore`: the :class:`~loopml.store.protocols.ModelStore` on SQLite and
PostgreSQL (SQLAlchemy Core).

Versions are numbered per name by the store in one write transaction, as dataset versions
are: the ``(name, version)`` primary key makes concurrent registrations safe, and a writer
that loses the race retries with the next number. A version, its dataset links and its
``model.registered`` event are written together or not at all; so are an alias move, an
approval or an export and their events.

Alias moves and reviews change a model through :meth:`SqlModelStore.change`: one write
transaction that first takes the model's lock (:meth:`StoreEngine.lock`), so the service's
rules (champion takes approved versions, the current champion cannot be rejected, where a
rollback returns to) are decided on what is committed and stay true until the change commits.
Each change's event is numbered in ``model_log`` under that lock, which is the order of the
history: commit order, whatever the clocks said.

The store enforces integrity only (unknown runs, datasets, versions); naming rules, approval
rules and alias history live above it, in the registry service.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa

from loopml.core.entities import (
    ApprovalStatus,
    Event,
    ModelExplanation,
    ModelExport,
    ModelVersion,
    RegisteredModel,
)
from loopml.core.errors import AlreadyExistsError, NotFoundError
from loopml.core.ids import RunId
from loopml.store.protocols import ModelChange
from loopml.store.sql import mapper
from loopml.store.sql.dataset_store import parse_ref, run_exists
from loopml.store.sql.engine import StoreEngine
from loopml.store.sql.event_store import insert_event
from loopml.store.sql.tables import (
    dataset_versions,
    events,
    model_aliases,
    model_explanations,
    model_exports,
    model_inputs,
    model_log,
    model_versions,
)
from loopml.store.sql.versioned import VersionedNames

#: Roles of the dataset links a version carries as fields.
#: Up to this many versions, their links are read by version number (else by name).
_FEW = 50

_mv = model_versions.c
_mi = model_inputs.c
_ma = model_aliases.c
_mx = model_exports.c
_me = model_explanations.c
_ml = model_log.c

T = TypeVar("T")


class SqlModelStore:
    """Model versions, their dataset links, aliases and exports in a SQL database.

    The store shares the engine (one connection pool per database per process) of the other
    SQL stores; the engine must already be at the current schema.

    Args:
        db: The open engine, from :func:`~loopml.store.sql.migrate.open_store_engine`.
    """

    def __init__(self, db: StoreEngine) -> None:
        self._db = db
        self._names = VersionedNames(
            model_versions, noun="model", list_command="loopml models list"
        )

    def __repr__(self) -> str:
        return f"SqlModelStore({self._db.location!r})"

    # -- registration ------------------------------------------------------------------------

    def create_version(
        self,
        draft: ModelVersion,
        *,
        on_created: Callable[[ModelVersion], Event] | None = None,
    ) -> ModelVersion:
        """Register a version atomically. ``draft.version`` is ignored: the store assigns the
        next number for ``draft.name`` (1 for a new name). The event ``on_created`` builds for
        the numbered version is written in the same transaction (it may be called again when
        concurrent writers take the number first, so it must only build the event).

        Raises:
            NotFoundError: The run or a dataset version does not exist.
            ConflictError: Concurrent writers kept taking the next number (retry later).
        """
        links = [
            (role, *parse_ref(ref))
            for role, ref in (("train", draft.training_data), ("validation", draft.validation_data))
            if ref is not None
        ]

        def work(conn: sa.Connection) -> ModelVersion:
            if draft.run_id is not None and not run_exists(conn, draft.run_id):
                raise NotFoundError(
                    f"Cannot register model {draft.name!r}: run {draft.run_id!r} does not "
                    "exist (it was never created or has been purged). Register it without a "
                    "run, or in an existing one."
                )
            for role, dataset, number in links:
                found = conn.execute(
                    sa.select(dataset_versions.c.version).where(
                        dataset_versions.c.name == dataset, dataset_versions.c.version == number
                    )
                ).first()
                if found is None:
                    raise NotFoundError(
                        f"Cannot register model {draft.name!r}: its {role} dataset "
                        f"'{dataset}@{number}' does not exist. Register the dataset first "
                        "(`loopml data register`), or check the ref with `loopml data list`."
                    )
            number = self._names.next_number(conn, draft.name)
            conn.execute(model_versions.insert(), mapper.model_version_row(draft, number))
            if links:
                conn.execute(
                    model_inputs.insert(),
                    [
                        {
                            "name": draft.name,
                            "version": number,
                            "dataset_name": dataset,
                            "dataset_version": dataset_version,
                            "role": role,
                        }
                        for role, dataset, dataset_version in links
                    ],
                )
            created = dataclasses.replace(draft, version=number, exports=())
            if on_created is not None:
                insert_event(self._db, conn, on_created(created))
            return created

        return self._names.write_numbered(self._db, draft.name, work)

    # -- reads -------------------------------------------------------------------------------

    def get_version(self, name: str, version: int) -> ModelVersion:
        """Return one version. Raises NotFoundError (naming the versions that exist)."""
        statement = sa.select(*mapper.MODEL_VERSION_COLUMNS).where(
            _mv.name == name, _mv.version == version
        )
        with self._db.read() as conn:
            row = conn.execute(statement).first()
            if row is None:
                raise NotFoundError(self._names.missing(conn, name, version))
            return self._load(conn, [row])[0]

    def list_versions(self, name: str) -> list[ModelVersion]:
        """Return every version of a model, oldest first. Raises NotFoundError."""
        statement = (
            sa.select(*mapper.MODEL_VERSION_COLUMNS).where(_mv.name == name).order_by(_mv.version)
        )
        with self._db.read() as conn:
            rows = conn.execute(statement).all()
            if not rows:
                raise NotFoundError(self._names.unknown_name(conn, name))
            return self._load(conn, rows)

    def list_models(self) -> list[RegisteredModel]:
        """Return every registered model by name, with its version count and aliases."""
        statement = (
            sa.select(
                _mv.name,
                sa.func.min(_mv.created_at),
                sa.func.max(_mv.version),
                sa.func.count(),
            )
            .group_by(_mv.name)
            .order_by(_mv.name)
        )
        with self._db.read() as conn:
            rows = conn.execute(statement).all()
            aliases: dict[str, dict[str, int]] = {}
            for name, alias, version in conn.execute(
                sa.select(_ma.name, _ma.alias, _ma.version).order_by(_ma.name, _ma.alias)
            ):
                aliases.setdefault(name, {})[alias] = int(version)
        return [
            RegisteredModel(
                name=name,
                created_at=int(created),
                latest_version=int(latest),
                versions=int(count),
                aliases=aliases.get(name, {}),
            )
            for name, created, latest, count in rows
        ]

    def versions_of_run(self, run_id: RunId) -> list[ModelVersion]:
        """Return the versions registered from a run (by name, then version)."""
        statement = (
            sa.select(*mapper.MODEL_VERSION_COLUMNS)
            .where(_mv.run_id == run_id)
            .order_by(_mv.name, _mv.version)
        )
        with self._db.read() as conn:
            return self._load(conn, conn.execute(statement).all())

    def versions_using_dataset(self, name: str, version: int) -> list[tuple[ModelVersion, str]]:
        """Return the model versions trained or validated on a dataset version, with the
        role (by model name, version, role; empty when none or no such dataset)."""
        statement = (
            sa.select(*mapper.MODEL_VERSION_COLUMNS, _mi.role)
            .join(model_inputs, sa.and_(_mi.name == _mv.name, _mi.version == _mv.version))
            .where(_mi.dataset_name == name, _mi.dataset_version == version)
            .order_by(_mv.name, _mv.version, _mi.role)
        )
        with self._db.read() as conn:
            rows = conn.execute(statement).all()
            versions = self._load(conn, [row[:-1] for row in rows])
        return [(v, row[-1]) for v, row in zip(versions, rows, strict=True)]

    # -- aliases -----------------------------------------------------------------------------

    def get_aliases(self, name: str) -> dict[str, int]:
        """Return a model's aliases (alias -> version), by alias; empty for none."""
        statement = sa.select(_ma.alias, _ma.version).where(_ma.name == name).order_by(_ma.alias)
        with self._db.read() as conn:
            return {alias: int(version) for alias, version in conn.execute(statement)}

    def change(self, name: str, work: Callable[[ModelChange], T]) -> T:
        """Run ``work`` on model ``name``'s aliases and reviews in one write transaction that
        holds the model's lock; see :meth:`~loopml.store.protocols.ModelStore.change`.

        Returns:
            What ``work`` returned.
        """

        def run(conn: sa.Connection) -> T:
            self._db.lock(conn, "model", name)
            return work(_SqlModelChange(self, conn, name))

        return self._db.write(run)

    def history(self, name: str) -> list[Event]:
        """Return a model's alias moves and reviews (their events) in commit order."""
        with self._db.read() as conn:
            return _history(conn, name)

    # -- exports -----------------------------------------------------------------------------

    def add_export(
        self, name: str, version: int, export: ModelExport, *, event: Event
    ) -> ModelVersion:
        """Record a checked export of a version and its event in one transaction (the same
        package exported again is a no-op apart from the event).

        Raises:
            NotFoundError: The version does not exist.
        """

        def work(conn: sa.Connection) -> ModelVersion:
            self._require(conn, name, version)
            exists = conn.execute(
                sa.select(_mx.format).where(
                    _mx.name == name,
                    _mx.version == version,
                    _mx.manifest_digest == export.manifest_digest,
                )
            ).first()
            if exists is None:
                conn.execute(model_exports.insert(), mapper.model_export_row(name, version, export))
            insert_event(self._db, conn, event)
            return self._get(conn, name, version)

        return self._db.write(work)

    # -- explanations ------------------------------------------------------------------------

    def add_explanation(
        self, name: str, version: int, explanation: ModelExplanation, *, event: Event
    ) -> ModelExplanation:
        """Record an explanation of a version and its event in one transaction.

        Raises:
            NotFoundError: The version does not exist.
            AlreadyExistsError: An explanation with this id is stored already.
        """

        def work(conn: sa.Connection) -> ModelExplanation:
            self._require(conn, name, version)
            taken = conn.execute(
                sa.select(_me.explanation_id).where(
                    _me.explanation_id == explanation.explanation_id
                )
            ).first()
            if taken is not None:
                raise AlreadyExistsError(
                    f"Explanation {explanation.explanation_id} is stored already; an "
                    "explanation is recorded once (compute a new one to replace it)."
                )
            row = mapper.model_explanation_row(name, version, explanation)
            conn.execute(model_explanations.insert(), row)
            insert_event(self._db, conn, event)
            return explanation

        return self._db.write(work)

    def list_explanations(self, name: str, version: int) -> list[ModelExplanation]:
        """Return the explanations of a version, oldest first. Raises NotFoundError."""
        with self._db.read() as conn:
            self._require(conn, name, version)
            rows = conn.execute(
                sa.select(*mapper.MODEL_EXPLANATION_COLUMNS)
                .where(_me.name == name, _me.version == version)
                .order_by(_me.created_at, _me.explanation_id)
            ).all()
        return [mapper.model_explanation_from_row(r) for r in rows]

    # -- helpers -----------------------------------------------------------------------------

    def _get(self, conn: sa.Connection, name: str, version: int) -> ModelVersion:
        row = conn.execute(
            sa.select(*mapper.MODEL_VERSION_COLUMNS).where(_mv.name == name, _mv.version == version)
        ).first()
        if row is None:
            raise NotFoundError(self._names.missing(conn, name, version))
        return self._load(conn, [row])[0]

    def _require(self, conn: sa.Connection, name: str, version: int) -> None:
        found = conn.execute(
            sa.select(_mv.version).where(_mv.name == name, _mv.version == version)
        ).first()
        if found is None:
            raise NotFoundError(self._names.missing(conn, name, version))

    def _load(self, conn: sa.Connection, rows: Sequence[Sequence[Any]]) -> list[ModelVersion]:
        """Build versions from rows of :data:`~loopml.store.sql.mapper.MODEL_VERSION_COLUMNS`
        with their dataset links and exports (two queries per model name)."""
        wanted: dict[str, list[int]] = {}
        for row in rows:
            wanted.setdefault(row[0], []).append(int(row[1]))
        datasets: dict[tuple[str, int], dict[str, str]] = {}
        exports: dict[tuple[str, int], list[ModelExport]] = {}
        for name, found in sorted(wanted.items()):
            # A few versions: read only theirs; many (a listing): read the whole model's.
            numbers = sorted(set(found)) if len(found) < _FEW else []
            only = [_mi.version.in_(numbers)] if numbers else []
            for version, dataset, number, role in conn.execute(
                sa.select(_mi.version, _mi.dataset_name, _mi.dataset_version, _mi.role).where(
                    _mi.name == name, *only
                )
            ):
                key = (name, int(version))
                datasets.setdefault(key, {})[role] = f"{dataset}@{number}"
            for row in conn.execute(
                sa.select(_mx.version, *mapper.MODEL_EXPORT_COLUMNS)
                .where(_mx.name == name, *[_mx.version.in_(numbers)] if numbers else [])
                .order_by(_mx.created_at, _mx.manifest_digest)
            ):
                exports.setdefault((name, int(row[0])), []).append(
                    mapper.model_export_from_row(row[1:])
                )
        return [
            mapper.model_version_from_row(
                row,
                datasets.get((row[0], int(row[1])), {}),
                exports.get((row[0], int(row[1])), []),
            )
            for row in rows
        ]


def _history(conn: sa.Connection, name: str) -> list[Event]:
    statement = (
        sa.select(*mapper.EVENT_COLUMNS)
        .select_from(model_log.join(events, events.c.event_id == _ml.event_id))
        .where(_ml.name == name)
        .order_by(_ml.seq)
    )
    return [mapper.event_from_row(row) for row in conn.execute(statement)]


class _SqlModelChange:
    """:class:`~loopml.store.protocols.ModelChange` on one connection, inside the write
    transaction of :meth:`SqlModelStore.change` (which holds the model's lock)."""

    def __init__(self, store: SqlModelStore, conn: sa.Connection, name: str) -> None:
        self._store = store
        self._conn = conn
        self._name = name

    @property
    def name(self) -> str:
        """The model."""
        return self._name

    def version(self, number: int) -> ModelVersion:
        """Return one version. Raises NotFoundError (naming the versions that exist)."""
        return self._store._get(self._conn, self._name, number)

    def aliases(self) -> dict[str, int]:
        """Return the model's aliases (alias -> version)."""
        statement = sa.select(_ma.alias, _ma.version).where(_ma.name == self._name)
        return {alias: int(number) for alias, number in self._conn.execute(statement)}

    def history(self) -> list[Event]:
        """Return the model's alias moves and reviews (their events) in commit order."""
        return _history(self._conn, self._name)

    def move_alias(self, alias: str, version: int | None, event: Event) -> None:
        """Point ``alias`` at ``version`` (None removes it) and append ``event``.

        Raises:
            NotFoundError: ``name@version`` does not exist, or (removing) the alias does not.
        """
        conn, name = self._conn, self._name
        where = (_ma.name == name, _ma.alias == alias)
        exists = conn.execute(sa.select(_ma.version).where(*where)).first() is not None
        if version is None:
            if not exists:
                raise NotFoundError(
                    f"Model {name!r} has no alias {alias!r}; its aliases are "
                    f"{sorted(self.aliases())}."
                )
            conn.execute(model_aliases.delete().where(*where))
        else:
            self._store._require(conn, name, version)
            values = {"version": version, "updated_at": event.at}
            if exists:
                conn.execute(model_aliases.update().where(*where).values(**values))
            else:
                conn.execute(model_aliases.insert(), {"name": name, "alias": alias, **values})
        self._append(event)

    def review(
        self,
        version: int,
        *,
        status: ApprovalStatus,
        reviewer: str,
        comment: str,
        at: int,
        event: Event,
    ) -> ModelVersion:
        """Record a review of a version and append ``event``. Raises NotFoundError."""
        conn, name = self._conn, self._name
        self._store._require(conn, name, version)
        conn.execute(
            model_versions.update()
            .where(_mv.name == name, _mv.version == version)
            .values(
                approval=status.value, reviewer=reviewer, review_comment=comment, reviewed_at=at
            )
        )
        self._append(event)
        return self._store._get(conn, name, version)

    def _append(self, event: Event) -> None:
        """Write the event and number it next in the model's history (under the lock)."""
        insert_event(self._store._db, self._conn, event)
        last = self._conn.execute(
            sa.select(sa.func.max(_ml.seq)).where(_ml.name == self._name)
        ).scalar()
        self._conn.execute(
            model_log.insert(),
            {"name": self._name, "seq": int(last or 0) + 1, "event_id": event.event_id},
        )
