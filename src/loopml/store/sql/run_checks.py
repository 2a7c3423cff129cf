"""Does a run exist, and is it running? The checks every write of the tracking store makes
inside its transaction, and the one message for a run that does not exist and for one that
has ended."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from loopml.core.entities import RunStatus
from loopml.core.errors import NotFoundError
from loopml.store.sql.mapper import ID_CHUNK
from loopml.store.sql.tables import runs


def run_not_found(run_id: str) -> NotFoundError:
    """The error for a run id that names no run."""
    return NotFoundError(
        f"Run {run_id!r} does not exist (it was never created or has been purged). "
        "Check the run id, or start a new run."
    )


def run_exists(conn: sa.Connection, run_id: str) -> bool:
    """Whether the run is stored."""
    statement = sa.select(runs.c.run_id).where(runs.c.run_id == run_id)
    return conn.execute(statement).first() is not None


def require_run(conn: sa.Connection, run_id: str) -> None:
    """Raise NotFoundError unless the run is stored."""
    if not run_exists(conn, run_id):
        raise run_not_found(run_id)


def require_runs(conn: sa.Connection, run_ids: Iterable[str]) -> None:
    """Raise NotFoundError naming the first of ``run_ids`` (in sorted order) not stored."""
    wanted = sorted(set(run_ids))
    for start in range(0, len(wanted), ID_CHUNK):
        chunk = wanted[start : start + ID_CHUNK]
        statement = sa.select(runs.c.run_id).where(runs.c.run_id.in_(chunk))
        found = set(conn.execute(statement).scalars())
        for run_id in chunk:
            if run_id not in found:
                raise run_not_found(run_id)


def require_running_runs(conn: sa.Connection, run_ids: Iterable[str]) -> None:
    """Raise NotFoundError naming the first of ``run_ids`` (in sorted order) not stored, or
    ConflictError naming the first that has ended.

    Read in the caller's write transaction after it took the runs' locks (which a run's end
    takes too), so the answer holds until it commits: every process, every server worker,
    sees the same status, never a copy it kept."""
    wanted = sorted(set(run_ids))
    for start in range(0, len(wanted), ID_CHUNK):
        chunk = wanted[start : start + ID_CHUNK]
        statement = sa.select(runs.c.run_id, runs.c.status).where(runs.c.run_id.in_(chunk))
        found = {str(run_id): str(status) for run_id, status in conn.execute(statement)}
        for run_id in chunk:
            status = found.get(run_id)
            if status is None:
                raise run_not_found(run_id)
            if status != RunStatus.RUNNING:
                raise RunStatus(status).refusal(run_id)
