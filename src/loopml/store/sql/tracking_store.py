""":class:`SqlTrackingStore`: the :class:`~loopml.store.protocols.TrackingStore` on SQLite and
PostgreSQL (SQLAlchemy Core).

The store enforces integrity only (unknown runs and experiments, taken names, write-once
params); validation of ids, keys and values happens above it, in the tracking service.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from loopml.core.entities import ArtifactEntry, Event, Experiment, MetricPoint, Run, RunStatus
from loopml.core.errors import AlreadyExistsError, ConflictError, NotFoundError
from loopml.core.ids import ExperimentId, RunId
from loopml.store.query import RunQuery
from loopml.store.sql import mapper, summary
from loopml.store.sql.compile import compile_count, compile_search
from loopml.store.sql.engine import StoreEngine
from loopml.store.sql.event_store import insert_event
from loopml.store.sql.metric_log import SqlMetricLog
from loopml.store.sql.migrate import open_store_engine, read_revision
from loopml.store.sql.run_checks import require_run, run_exists, run_not_found
from loopml.store.sql.tables import experiments, run_artifacts, runs
from loopml.store.sql.tables import params as params_table
from loopml.store.sql.tables import tags as tags_table

#: ``INSERT`` with ``ON CONFLICT`` clauses: the SQLite and PostgreSQL constructs share that API.
_Upsert = postgresql.Insert | sqlite.Insert


class SqlTrackingStore:
    """Experiments, runs, params, metrics, tags and the artifact index in a SQL database.

    Opening the store migrates a fresh or older database to the current schema.

    Args:
        url: SQLAlchemy URL: ``sqlite:///path/to/loopml.db`` or
            ``postgresql://user:password@host:5432/dbname`` (``postgres://`` and
            ``postgresql://`` use the psycopg 3 driver).

    Raises:
        PermissionDeniedError: The SQLite file or its folder cannot be created or written.
        StoreError: The database cannot be reached or the URL is not supported.
        SchemaVersionError: The database was written by a newer loopml.

    Example:
        >>> store = SqlTrackingStore("sqlite:///.loopml/loopml.db")  # doctest: +SKIP
        >>> store.describe()["dialect"]  # doctest: +SKIP
        'sqlite'
    """

    def __init__(self, url: str) -> None:
        self._setup(url, open_store_engine(url))

    @classmethod
    def from_engine(cls, db: StoreEngine, *, url: str | None = None) -> SqlTrackingStore:
        """Build the store on an open engine at the current schema (from
        :func:`~loopml.store.sql.migrate.open_store_engine`) to share its connection pool;
        ``url`` is reported as :attr:`url` (default: the engine's URL)."""
        store = cls.__new__(cls)
        store._setup(url or db.url.render_as_string(hide_password=False), db)
        return store

    def _setup(self, url: str, db: StoreEngine) -> None:
        self.url = url
        self._db = db
        self._postgresql = self._db.dialect == "postgresql"
        self._refresh_statements = {
            parts: summary.refresh_statement(parts, self._db.dialect)
            for parts in (summary.PARTS, ("params",), ("metrics",), ("tags",))
        }
        self._metrics = SqlMetricLog(db, lambda conn, ids: self._refresh(conn, ("metrics",), ids))

    def _refresh(
        self, conn: sa.Connection, parts: tuple[summary.Part, ...], run_ids: Iterable[str]
    ) -> None:
        """Recompute the summary columns of some runs, inside the caller's transaction.

        Each run's lock is taken first (PostgreSQL; SQLite writers are serial already): the
        ``UPDATE`` then starts after every earlier writer of the run committed, and its
        aggregate sees their rows. Without it, two transactions adding different params of
        one run each write a summary lacking the other's (READ COMMITTED takes the statement's
        snapshot before the row lock is granted): a lost update.
        """
        statement = self._refresh_statements[parts]
        ids = sorted(set(run_ids))  # a fixed order: concurrent writers lock rows alike
        for run_id in ids:
            self._db.lock(conn, "run", run_id)
        size = len(ids) if self._postgresql else mapper.ID_CHUNK
        for start in range(0, len(ids), max(size, 1)):
            conn.execute(statement, {"ids": ids[start : start + size]})

    def __repr__(self) -> str:
        return f"SqlTrackingStore({self._db.location!r})"

    def _insert(self, table: sa.Table) -> _Upsert:
        return postgresql.insert(table) if self._postgresql else sqlite.insert(table)

    # -- experiments ---------------------------------------------------------------------

    def create_experiment(self, experiment: Experiment) -> None:
        """Insert a new experiment. Raises AlreadyExistsError when the name or id is taken."""

        def work(conn: sa.Connection) -> None:
            taken = conn.execute(
                sa.select(experiments.c.experiment_id).where(
                    sa.or_(
                        experiments.c.name == experiment.name,
                        experiments.c.experiment_id == experiment.experiment_id,
                    )
                )
            ).first()
            if taken is not None:
                raise self._experiment_taken(experiment)
            conn.execute(experiments.insert(), mapper.experiment_row(experiment))

        try:
            self._db.write(work)
        except sa.exc.IntegrityError:  # a concurrent writer took the name first
            raise self._experiment_taken(experiment) from None

    @staticmethod
    def _experiment_taken(experiment: Experiment) -> AlreadyExistsError:
        return AlreadyExistsError(
            f"An experiment named {experiment.name!r} (or with id {experiment.experiment_id!r}) "
            "already exists; experiment names are unique. Use the existing experiment, or "
            "choose another name."
        )

    def get_experiment(self, experiment_id: ExperimentId) -> Experiment:
        """Return one experiment. Raises NotFoundError."""
        statement = sa.select(*mapper.EXPERIMENT_COLUMNS).where(
            experiments.c.experiment_id == experiment_id
        )
        with self._db.read() as conn:
            row = conn.execute(statement).first()
        if row is None:
            raise NotFoundError(
                f"Experiment {experiment_id!r} does not exist. Check the id, or list the "
                "experiments to find the one you want."
            )
        return mapper.experiment_from_row(row)

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        """Return the experiment with that name, or None."""
        statement = sa.select(*mapper.EXPERIMENT_COLUMNS).where(experiments.c.name == name)
        with self._db.read() as conn:
            row = conn.execute(statement).first()
        return None if row is None else mapper.experiment_from_row(row)

    def list_experiments(self, *, include_deleted: bool = False) -> list[Experiment]:
        """Return experiments ordered by name."""
        statement = sa.select(*mapper.EXPERIMENT_COLUMNS).order_by(experiments.c.name)
        if not include_deleted:
            statement = statement.where(experiments.c.deleted.is_(sa.false()))
        with self._db.read() as conn:
            return [mapper.experiment_from_row(row) for row in conn.execute(statement)]

    # -- runs ----------------------------------------------------------------------------

    def create_run(self, run: Run, *, event: Event | None = None) -> None:
        """Insert a new run with its params, tags and metrics (metrics at step 0, timestamped
        with the start time), and ``event`` in the same transaction. Raises
        AlreadyExistsError for a duplicate id, NotFoundError for an unknown experiment."""

        def work(conn: sa.Connection) -> None:
            known = conn.execute(
                sa.select(experiments.c.experiment_id).where(
                    experiments.c.experiment_id == run.experiment_id
                )
            ).first()
            if known is None:
                raise NotFoundError(
                    f"Cannot create run {run.run_id!r}: experiment {run.experiment_id!r} does "
                    "not exist. Create the experiment first, or pass an existing one."
                )
            if run_exists(conn, run.run_id):
                raise self._run_taken(run.run_id)
            conn.execute(runs.insert(), mapper.run_row(run))
            if run.params:
                conn.execute(
                    params_table.insert(),
                    [{"run_id": run.run_id, "key": k, "value": v} for k, v in run.params.items()],
                )
            if run.tags:
                conn.execute(
                    tags_table.insert(),
                    [{"run_id": run.run_id, "key": k, "value": v} for k, v in run.tags.items()],
                )
            if run.metrics:
                self._metrics.insert(
                    conn,
                    (
                        (run.run_id, MetricPoint(key=k, value=v, step=0, timestamp=run.start_time))
                        for k, v in run.metrics.items()
                    ),
                )
            self._refresh(conn, summary.PARTS, [run.run_id])
            if event is not None:
                insert_event(self._db, conn, event)

        try:
            self._db.write(work)
        except sa.exc.IntegrityError:  # a concurrent writer created the same id first
            raise self._run_taken(run.run_id) from None

    @staticmethod
    def _run_taken(run_id: str) -> AlreadyExistsError:
        return AlreadyExistsError(
            f"A run with id {run_id!r} already exists; run ids are unique. Create the run "
            "with a fresh id (loopml.core.ids.new_run_id())."
        )

    def get_run(self, run_id: RunId) -> Run:
        """Return a run with its params, latest metrics and tags. Raises NotFoundError."""
        statement = sa.select(*mapper.RUN_COLUMNS).where(runs.c.run_id == run_id)
        with self._db.read() as conn:
            rows = mapper.raw_rows(conn, statement)
            if not rows:
                raise run_not_found(run_id)
            return mapper.load_runs(rows)[0]

    def _change_run(self, run_id: RunId, statement: sa.Executable, event: Event | None) -> None:
        """Run an update or delete of one run and write ``event`` with it, in one transaction
        (neither when the run does not exist)."""

        def work(conn: sa.Connection) -> None:
            self._db.lock(conn, "run", run_id)  # after the metric batches writing to it
            if conn.execute(statement).rowcount == 0:
                raise run_not_found(run_id)
            if event is not None:
                insert_event(self._db, conn, event)

        self._db.write(work)

    def _update_run(
        self, run_id: RunId, values: Mapping[str, Any], event: Event | None = None
    ) -> None:
        statement = runs.update().where(runs.c.run_id == run_id).values(**values)
        self._change_run(run_id, statement, event)

    def end_run(
        self,
        run_id: RunId,
        *,
        status: RunStatus,
        end_time: int | None,
        error: str | None = None,
        event: Event | None = None,
    ) -> None:
        """Record the end of a run (or, with status RUNNING and end_time None, reopen it),
        with ``event`` in the same transaction. Raises NotFoundError."""
        values = {"status": status.value, "end_time": end_time, "error": error}
        self._update_run(run_id, values, event)

    def set_run_deleted(self, run_id: RunId, deleted: bool, *, event: Event | None = None) -> None:
        """Soft-delete (or restore) a run, with ``event``. Raises NotFoundError."""
        self._update_run(run_id, {"deleted": deleted}, event)

    def purge_run(self, run_id: RunId, *, event: Event | None = None) -> None:
        """Remove a run and everything logged on it (cascading), with ``event``. Raises
        NotFoundError."""
        self._change_run(run_id, runs.delete().where(runs.c.run_id == run_id), event)

    # -- params and tags -----------------------------------------------------------------

    def log_params(self, run_id: RunId, params: Mapping[str, str]) -> None:
        """Insert params in one transaction. Re-logging the same value is a no-op; a different
        value for a stored key raises ConflictError naming the key, old and new value, and
        nothing of the call is written. Raises NotFoundError for an unknown run."""
        wanted = {str(key): str(value) for key, value in params.items()}

        def work(conn: sa.Connection) -> None:
            require_run(conn, run_id)
            if not wanted:
                return
            # Insert what is new, then read every key back: a stored value that differs
            # (logged before, or by a concurrent writer) is a conflict and rolls back all.
            conn.execute(
                self._insert(params_table).on_conflict_do_nothing(index_elements=["run_id", "key"]),
                [{"run_id": run_id, "key": k, "value": v} for k, v in wanted.items()],
            )
            keys = sorted(wanted)
            for start in range(0, len(keys), mapper.ID_CHUNK):
                chunk = keys[start : start + mapper.ID_CHUNK]
                stored = conn.execute(
                    sa.select(params_table.c.key, params_table.c.value).where(
                        params_table.c.run_id == run_id, params_table.c.key.in_(chunk)
                    )
                )
                for key, old in sorted(stored):
                    if old != wanted[key]:
                        raise ConflictError(
                            f"Param {key!r} of run {run_id} is already {old}; params are "
                            f"write-once and cannot be changed to {wanted[key]}. Log it "
                            "under another key, or start a new run."
                        )
            self._refresh(conn, ("params",), [run_id])

        self._db.write(work)

    def set_tags(self, run_id: RunId, tags: Mapping[str, str]) -> None:
        """Insert or overwrite tags in one transaction. Raises NotFoundError."""

        def work(conn: sa.Connection) -> None:
            require_run(conn, run_id)
            if not tags:
                return
            statement = self._insert(tags_table)
            statement = statement.on_conflict_do_update(
                index_elements=["run_id", "key"], set_={"value": statement.excluded.value}
            )
            conn.execute(
                statement, [{"run_id": run_id, "key": k, "value": v} for k, v in tags.items()]
            )
            self._refresh(conn, ("tags",), [run_id])

        self._db.write(work)

    def delete_tag(self, run_id: RunId, key: str) -> None:
        """Remove a tag. Raises NotFoundError when the run or the tag does not exist."""

        def work(conn: sa.Connection) -> None:
            deleted = conn.execute(
                tags_table.delete().where(tags_table.c.run_id == run_id, tags_table.c.key == key)
            ).rowcount
            if deleted == 0:
                require_run(conn, run_id)
                raise NotFoundError(
                    f"Run {run_id} has no tag {key!r}, so it cannot be deleted. Check the key "
                    "(tags are case-sensitive)."
                )
            self._refresh(conn, ("tags",), [run_id])

        self._db.write(work)

    # -- metrics -------------------------------------------------------------------------

    def log_metrics(
        self, points: Sequence[tuple[RunId, MetricPoint]], *, batch_key: str | None = None
    ) -> bool:
        """Append metric points (of one or many runs) in one transaction and update each
        (run, key)'s latest value: highest step, then latest timestamp, then the later write.
        With ``batch_key``, a batch whose key was applied before writes nothing (returns
        False): the key is stored in the same transaction as the points.

        Raises:
            NotFoundError: A point names an unknown run (nothing is written).
            ConflictError: A point names a run that has ended (nothing is written).
            InvalidArgumentError: The database refused a value (nothing is written).
        """
        return self._metrics.log_metrics(points, batch_key=batch_key)

    def prune_batch_keys(self, *, applied_before: int, limit: int = 10_000) -> int:
        """Forget up to ``limit`` batch keys applied before ``applied_before`` (ms), oldest
        first; return how many (see :meth:`SqlMetricLog.prune_batch_keys`)."""
        return self._metrics.prune_batch_keys(applied_before=applied_before, limit=limit)

    def get_metric_history(self, run_id: RunId, key: str) -> list[MetricPoint]:
        """Return every point of one metric ordered by step, then timestamp (then the order of
        writing). Raises NotFoundError for an unknown run."""
        return self._metrics.get_metric_history(run_id, key)

    # -- search --------------------------------------------------------------------------

    def search_runs(self, query: RunQuery) -> list[Run]:
        """Return the runs matching ``query`` in its order, with params, metrics and tags.

        Raises:
            InvalidArgumentError: A comparison does not fit its field.
        """
        statement = compile_search(query)
        with self._db.read() as conn:
            rows = mapper.raw_rows(conn, statement)
            return mapper.load_runs(rows)

    def count_runs(self, query: RunQuery) -> int:
        """Return how many runs match ``query`` (ignoring its limit and offset)."""
        statement = compile_count(query)
        with self._db.read() as conn:
            return conn.execute(statement).scalar_one()

    # -- artifacts -----------------------------------------------------------------------

    def add_artifacts(self, run_id: RunId, entries: Sequence[ArtifactEntry]) -> None:
        """Index files logged on a run; a path logged again points at the new blob.
        Raises NotFoundError for an unknown run."""

        def work(conn: sa.Connection) -> None:
            require_run(conn, run_id)
            if not entries:
                return
            latest = {entry.path: entry for entry in entries}  # the last entry of a path wins
            statement = self._insert(run_artifacts)
            statement = statement.on_conflict_do_update(
                index_elements=["run_id", "path"],
                set_={"digest": statement.excluded.digest, "size": statement.excluded.size},
            )
            conn.execute(
                statement,
                [
                    {"run_id": run_id, "path": e.path, "digest": e.digest, "size": e.size}
                    for e in latest.values()
                ],
            )

        self._db.write(work)

    def list_artifacts(self, run_id: RunId) -> list[ArtifactEntry]:
        """Return a run's artifact index ordered by path. Raises NotFoundError."""
        table = run_artifacts
        statement = (
            sa.select(table.c.path, table.c.digest, table.c.size)
            .where(table.c.run_id == run_id)
            .order_by(table.c.path)
        )
        with self._db.read() as conn:
            rows = conn.execute(statement).all()
            if not rows:
                require_run(conn, run_id)
        return [
            ArtifactEntry(path=path, digest=digest, size=int(size)) for path, digest, size in rows
        ]

    # -- housekeeping --------------------------------------------------------------------

    def describe(self) -> Mapping[str, str]:
        """Return facts for ``loopml doctor``: dialect, driver, server version, database
        (file path, or URL with the password masked) and schema revision."""
        return {
            "dialect": self._db.dialect,
            "driver": self._db.url.get_driver_name(),
            "server_version": self._db.server_version(),
            "database": self._db.location,
            "schema_revision": read_revision(self._db) or "",
        }

    def close(self) -> None:
        """Release connections (the store can still be used; it reconnects on demand)."""
        self._db.dispose()
