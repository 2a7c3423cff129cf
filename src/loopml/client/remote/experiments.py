"""The experiments of a ``loopml server``: what :class:`~loopml.tracking.ExperimentCatalog`
does, through the server's experiments routes."""

from __future__ import annotations

from urllib.parse import quote

from loopml.core.entities import Experiment
from loopml.store.remote import Transport, new_idempotency_key
from loopml.tracking import keys

__all__ = ["RemoteExperiments"]


class RemoteExperiments:
    """The experiments of a server (what :class:`~loopml.tracking.ExperimentCatalog` does)."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def get_or_create(self, name: str) -> Experiment:
        """The experiment named ``name``, created if there is none."""
        body = {"name": keys.check_name("experiment", name)}
        return self.transport.post(
            "/experiments", Experiment, body, idempotency_key=new_idempotency_key()
        )

    def get(self, name_or_id: str) -> Experiment:
        """An experiment by name or id (NotFoundError with suggestions)."""
        return self.transport.get(f"/experiments/{segment(name_or_id)}", Experiment)

    def list(self) -> list[Experiment]:
        """Every experiment, by name."""
        return self.transport.get("/experiments", list[Experiment])

    def count_runs(self, experiment: Experiment) -> int:
        """How many runs (soft-deleted ones included) ``experiment`` holds."""
        return self.transport.get(
            "/runs/count", int, experiments=[experiment.name], include_deleted=True
        )


def segment(text: str) -> str:
    """``text`` as one path segment of a URL (quoted: a name never adds a segment)."""
    return quote(str(text), safe="")
