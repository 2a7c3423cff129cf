""":class:`LoopService`: reading what the agent did (``loopml loop list|history|status``).

Runs and steps come from the :class:`~loopml.store.protocols.LoopStore`, the timeline from
the event log (``loop:<policy>`` events), so the history stays complete even for runs whose
agent died mid-step: what was stored is what happened.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loopml.automation.timeline import TimelineEntry, timeline
from loopml.core.errors import NotFoundError, did_you_mean
from loopml.core.id_prefix import resolve_prefix

if TYPE_CHECKING:
    from loopml.core.entities import LoopPolicyRecord, LoopRun, LoopStep
    from loopml.store.backend import Backend


class LoopService:
    """Loop runs, their steps and the timeline of each policy.

    Args:
        backend: The stores.
    """

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.store = backend.loops

    def policies(self) -> list[LoopPolicyRecord]:
        """Every policy an agent has run, by name."""
        return self.store.list_policies()

    def runs(self, *, policy: str | None = None, limit: int | None = 50) -> list[LoopRun]:
        """Loop runs, newest first (of one policy when given).

        Raises:
            NotFoundError: No agent ever ran that policy.
        """
        if policy is not None:
            self._policy(policy)
        return self.store.list_runs(policy=policy, limit=limit)

    def resolve(self, run: str) -> str:
        """The full id of a run from its id or a unique prefix of at least 4 digits.

        Raises:
            NotFoundError, InvalidArgumentError: As :func:`~loopml.core.id_prefix.resolve_prefix`.
        """
        return resolve_prefix(
            run,
            kind="loop run",
            listing="loopml loop list",
            candidates=lambda prefix, limit: self.store.run_ids_with_prefix(prefix, limit=limit),
        )

    def status(self, run: str) -> tuple[LoopRun, list[LoopStep]]:
        """A run and its finished steps.

        Raises:
            NotFoundError: No such run.
        """
        run_id = self.resolve(run)
        return self.store.get_run(run_id), self.store.steps(run_id)

    def find(self, name_or_run: str) -> LoopRun:
        """A policy's newest run (by the policy's name), or a run by its id or a unique
        prefix of at least 4 digits.

        Raises:
            NotFoundError: No such policy or run, or the policy has no run yet.
        """
        if name_or_run in {p.name for p in self.store.list_policies()}:
            newest = self.store.list_runs(policy=name_or_run, limit=1)
            if not newest:
                raise NotFoundError(
                    f"Policy {name_or_run!r} has no loop run yet: no trigger has fired since an "
                    "agent first ran it (`loopml loop list` shows when)."
                )
            return newest[0]
        if not all(c in "0123456789abcdef" for c in name_or_run.strip().lower()):
            self._policy(name_or_run)  # not a run id either: name the policies that exist
        return self.store.get_run(self.resolve(name_or_run))

    def history(self, policy: str, *, run: str | None = None) -> list[TimelineEntry]:
        """The timeline of a policy (of one of its runs when given), oldest first.

        Raises:
            NotFoundError: No agent ever ran that policy (naming those that exist).
        """
        self._policy(policy)
        events = self.backend.events.list_events(subject=f"loop:{policy}")
        entries = timeline(events)
        if run is not None:
            run_id = self.resolve(run)
            entries = [e for e in entries if e.run_id == run_id]
        return entries

    def _policy(self, name: str) -> None:
        known = [p.name for p in self.store.list_policies()]
        if name not in known:
            listed = ", ".join(repr(k) for k in known) or "none yet"
            raise NotFoundError(
                f"No agent has run a policy named {name!r} (policies: {listed})."
                f"{did_you_mean(name, known)} Start one with `loopml agent --policy FILE`."
            )
