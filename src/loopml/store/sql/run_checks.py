"""Does a run exist? The checks every write of the tracking store makes inside its
transaction, and the one message for a run that does not."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

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
