""":class:`SqlDeploymentStore`: the :class:`~loopml.store.protocols.DeploymentStore` on SQLite
and PostgreSQL (SQLAlchemy Core).

A deployment is one row of ``deployments`` (its current record, the routes as JSON) and one
row of ``deployment_log`` per change, keyed by ``(name, version)`` and joined to the change's
event. Changes go through :meth:`SqlDeploymentStore.change`: one write transaction that first
takes the deployment's lock (:meth:`StoreEngine.lock`), so the service's rules (the expected
version, a patch applied to what is committed) are decided on what is committed and stay true
until the change commits. The log's primary key is a second guard: two writers of one version
cannot both commit.

The store enforces integrity only (versions in sequence, a delete of what exists); naming
rules and whether refs resolve live above it, in the serving service.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import orjson
import sqlalchemy as sa

from loopml.core.entities import CanaryRoute, Deployment, Event
from loopml.core.errors import ConflictError, NotFoundError
from loopml.store.protocols import DeploymentChange
from loopml.store.sql import mapper
from loopml.store.sql.engine import StoreEngine
from loopml.store.sql.event_store import insert_event
from loopml.store.sql.tables import deployment_log, deployments, events

T = TypeVar("T")

_dp = deployments.c
_dl = deployment_log.c
_COLUMNS = (
    _dp.name,
    _dp.version,
    _dp.spec_json,
    _dp.created_at,
    _dp.created_by,
    _dp.updated_at,
    _dp.updated_by,
)


def _row(deployment: Deployment) -> dict[str, object]:
    routes = deployment.routes()
    return {
        "name": deployment.name,
        "version": deployment.version,
        "model": deployment.champion.partition("@")[0],
        "spec_json": orjson.dumps(routes).decode(),
        "created_at": deployment.created_at,
        "created_by": deployment.created_by,
        "updated_at": deployment.updated_at,
        "updated_by": deployment.updated_by,
    }


def _deployment(row: Sequence[Any]) -> Deployment:
    name, version, spec, created_at, created_by, updated_at, updated_by = row
    routes = orjson.loads(str(spec))
    canary = routes.get("canary")
    return Deployment(
        name=str(name),
        champion=str(routes["champion"]),
        canary=None if canary is None else CanaryRoute.from_dict(canary),
        shadows=tuple(str(s) for s in routes.get("shadows") or ()),
        fallback=routes.get("fallback"),
        guardrails=routes.get("guardrails"),
        runtime=str(routes.get("runtime", "auto")),
        version=int(version),
        created_at=int(created_at),
        created_by=str(created_by),
        updated_at=int(updated_at),
        updated_by=str(updated_by),
    )


def _current(conn: sa.Connection, name: str) -> Deployment | None:
    row = conn.execute(sa.select(*_COLUMNS).where(_dp.name == name)).first()
    return None if row is None else _deployment(row)


class SqlDeploymentStore:
    """Deployment records and their changes in a SQL database (the engine shared with the
    other stores).

    Args:
        db: The open engine, from :func:`~loopml.store.sql.migrate.open_store_engine`.
    """

    def __init__(self, db: StoreEngine) -> None:
        self._db = db

    def __repr__(self) -> str:
        return f"SqlDeploymentStore({self._db.location!r})"

    def get(self, name: str) -> Deployment | None:
        """Return the deployment's current record, or None."""
        with self._db.read() as conn:
            return _current(conn, name)

    def list_deployments(self) -> list[Deployment]:
        """Return every deployment's current record, by name."""
        with self._db.read() as conn:
            rows = conn.execute(sa.select(*_COLUMNS).order_by(_dp.name)).all()
        return [_deployment(row) for row in rows]

    def change(self, name: str, work: Callable[[DeploymentChange], T]) -> T:
        """Run ``work`` on deployment ``name`` in one write transaction holding its lock; see
        :meth:`~loopml.store.protocols.DeploymentStore.change`."""

        def run(conn: sa.Connection) -> T:
            self._db.lock(conn, "deployment", name)
            return work(_SqlDeploymentChange(self._db, conn, name))

        try:
            return self._db.write(run)
        except sa.exc.IntegrityError:  # a writer that did not take the lock wrote it first
            raise ConflictError(
                f"Deployment {name!r} was changed by another writer at the same time; read "
                "it again (`loopml deploy show`) and retry."
            ) from None

    def history(self, name: str) -> list[Event]:
        """Return the events of the deployment's changes, by version."""
        statement = (
            sa.select(*mapper.EVENT_COLUMNS)
            .select_from(deployment_log.join(events, events.c.event_id == _dl.event_id))
            .where(_dl.name == name)
            .order_by(_dl.version)
        )
        with self._db.read() as conn:
            return [mapper.event_from_row(row) for row in conn.execute(statement)]


class _SqlDeploymentChange:
    """:class:`~loopml.store.protocols.DeploymentChange` on one connection, inside the write
    transaction of :meth:`SqlDeploymentStore.change` (which holds the deployment's lock)."""

    def __init__(self, db: StoreEngine, conn: sa.Connection, name: str) -> None:
        self._db = db
        self._conn = conn
        self._name = name

    @property
    def name(self) -> str:
        """The deployment."""
        return self._name

    def current(self) -> Deployment | None:
        """Return the current record, or None."""
        return _current(self._conn, self._name)

    def last_version(self) -> int:
        """Return the highest version written for this name (0: never)."""
        last = self._conn.execute(
            sa.select(sa.func.max(_dl.version)).where(_dl.name == self._name)
        ).scalar()
        return int(last or 0)

    def write(self, version: int, deployment: Deployment | None, event: Event) -> None:
        """Record change ``version`` with its event (None deletes the record).

        Raises:
            ConflictError: ``version`` is not the next one, or the record's version differs.
            NotFoundError: Deleting a deployment that does not exist.
        """
        conn, name = self._conn, self._name
        if deployment is not None and deployment.name != name:
            raise ConflictError(
                f"A change of deployment {name!r} cannot write the record of "
                f"{deployment.name!r}; change each deployment on its own."
            )
        expected = self.last_version() + 1
        if version != expected or (deployment is not None and deployment.version != version):
            raise ConflictError(
                f"Deployment {name!r}: change {version} cannot be written, the next version "
                f"is {expected}. Read the deployment again and retry."
            )
        exists = conn.execute(sa.select(_dp.version).where(_dp.name == name)).first() is not None
        if deployment is None:
            if not exists:
                raise NotFoundError(f"There is no deployment {name!r} to delete.")
            conn.execute(deployments.delete().where(_dp.name == name))
        elif exists:
            values = _row(deployment)
            del values["name"]
            conn.execute(deployments.update().where(_dp.name == name).values(**values))
        else:
            conn.execute(deployments.insert(), _row(deployment))
        insert_event(self._db, conn, event)
        conn.execute(
            deployment_log.insert(),
            {"name": name, "version": version, "event_id": event.event_id},
        )
