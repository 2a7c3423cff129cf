""":class:`SqlModelStore`: the :class:`~loopml.store.protocols.ModelStore` on SQLite and
PostgreSQL (SQLAlchemy Core).

Versions are numbered per name by the store in one write transaction, as dataset versions
are: the ``(name, version)`` primary key makes concurrent registrations safe, and a writer
that loses the race retries with the next number. A version, its dataset links and its
``model.registered`` event are written together or not at all; so are an alias move, an
approval or an export and their events.

The store enforces integrity only (unknown runs, datasets, versions); naming rules, approval
rules and alias history live above it, in the registry service.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from loopml.core.entities import (
    ApprovalStatus,
    Event,
    ModelExport,
    ModelVersion,
    RegisteredModel,
)
from loopml.core.errors import NotFoundError
from loopml.core.ids import RunId
from loopml.store.sql import mapper
from loopml.store.sql.dataset_store import parse_ref, run_exists
from loopml.store.sql.engine import StoreEngine
from loopml.store.sql.event_store import insert_event
from loopml.store.sql.tables import (
    dataset_versions,
    model_aliases,
    model_exports,
    model_inputs,
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
                insert_event(conn, on_created(created))
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

    def set_alias(
        self,
        name: str,
        alias: str,
        version: int | None,
        *,
        at: int,
        event: Callable[[int | None], Event],
    ) -> int | None:
        """Point ``alias`` at ``version`` (None removes it) and append the event that
        ``event(previous_version)`` builds, in one transaction.

        Returns:
            The version the alias pointed at before (None when it was new).

        Raises:
            NotFoundError: ``name@version`` does not exist, or (removing) the alias does
                not exist.
        """

        def work(conn: sa.Connection) -> int | None:
            before = conn.execute(
                sa.select(_ma.version).where(_ma.name == name, _ma.alias == alias)
            ).scalar()
            previous = None if before is None else int(before)
            if version is None:
                if previous is None:
                    raise NotFoundError(
                        f"Model {name!r} has no alias {alias!r}; its aliases are "
                        f"{sorted(self._aliases(conn, name))}."
                    )
                conn.execute(model_aliases.delete().where(_ma.name == name, _ma.alias == alias))
            else:
                self._require(conn, name, version)
                if previous is None:
                    conn.execute(
                        model_aliases.insert(),
                        {"name": name, "alias": alias, "version": version, "updated_at": at},
                    )
                else:
                    conn.execute(
                        model_aliases.update()
                        .where(_ma.name == name, _ma.alias == alias)
                        .values(version=version, updated_at=at)
                    )
            insert_event(conn, event(previous))
            return previous

        return self._db.write(work)

    # -- review and exports ------------------------------------------------------------------

    def set_approval(
        self,
        name: str,
        version: int,
        *,
        status: ApprovalStatus,
        reviewer: str,
        comment: str,
        at: int,
        event: Event,
    ) -> ModelVersion:
        """Record a review of a version and its event in one transaction.

        Raises:
            NotFoundError: The version does not exist.
        """

        def work(conn: sa.Connection) -> ModelVersion:
            self._require(conn, name, version)
            conn.execute(
                model_versions.update()
                .where(_mv.name == name, _mv.version == version)
                .values(
                    approval=status.value, reviewer=reviewer, review_comment=comment, reviewed_at=at
                )
            )
            insert_event(conn, event)
            return self._get(conn, name, version)

        return self._db.write(work)

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
            insert_event(conn, event)
            return self._get(conn, name, version)

        return self._db.write(work)

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

    @staticmethod
    def _aliases(conn: sa.Connection, name: str) -> list[str]:
        return list(conn.execute(sa.select(_ma.alias).where(_ma.name == name)).scalars())
