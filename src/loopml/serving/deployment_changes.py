"""The rules of a deployment's changes, decided inside one change of the record.

Each method of :class:`DeploymentRules` runs as the ``work`` of
:meth:`~loopml.store.protocols.DeploymentStore.change`: in one write transaction that holds
the deployment's lock. What it reads (the current record, its version) is what is committed
and stays true until the change commits, so:

- ``set`` with ``expected_version`` refuses a stale write (:class:`ConflictError`): the
  record moved since the caller read it;
- ``set`` without it applies its :class:`DeploymentPatch` (only the fields given) to the
  record as committed, so concurrent writers of different fields never undo each other and
  each change gets the next version;
- every ref resolves, the runtime is available, the fallback and the guardrails build, on
  what the change writes (a canary alias not set yet is accepted while its share is 0);
- a change that changes nothing writes nothing (no version, no event): repeating a command is
  harmless.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from loopml.core.entities import CanaryRoute, Deployment, Event
from loopml.core.entities.deployments import KEEP, Keep
from loopml.core.errors import AlreadyExistsError, ConflictError, InvalidArgumentError
from loopml.core.ids import new_event_id
from loopml.registry import ModelRegistry
from loopml.registry.refs import parse_model_ref
from loopml.serving.config import ServeConfig
from loopml.serving.deployment import check_deployment, record_config
from loopml.serving.deployment_fields import missing
from loopml.store.protocols import DeploymentChange

#: Event kinds of a deployment's changes.
CREATED, CHANGED, DELETED = "deployment.created", "deployment.changed", "deployment.deleted"


def subject_of(name: str) -> str:
    """The event subject of a deployment."""
    return f"deployment:{name}"


@dataclass(frozen=True)
class DeploymentPatch:
    """The fields one ``set`` changes (checked already); :data:`KEEP` leaves one as it is.

    ``canary=None`` stops the canary; ``canary`` alone keeps the current share (0 for a new
    canary); ``canary_share`` alone resizes the current canary.
    """

    champion: str | Keep = KEEP
    canary: str | Keep | None = KEEP
    canary_share: float | Keep = KEEP
    shadows: tuple[str, ...] | Keep = KEEP
    fallback: str | Keep | None = KEEP
    guardrails: Mapping[str, Any] | Keep | None = KEEP
    runtime: str | Keep = KEEP

    def is_empty(self) -> bool:
        """Whether the patch changes no field."""
        return all(getattr(self, f.name) is KEEP for f in fields(self))

    def apply(self, current: Deployment) -> Deployment:
        """The record ``current`` becomes (its bookkeeping fields unchanged).

        Raises:
            InvalidArgumentError: A share without a canary to resize, or with ``canary=None``.
        """
        where = f"Deployment {current.name!r}"
        canary = current.canary
        if self.canary is None:
            if self.canary_share is not KEEP:
                raise InvalidArgumentError(
                    f"{where}: a canary share was given while the canary is stopped; give "
                    "one or the other (CLI: --no-canary, or --canary-share N)."
                )
            canary = None
        elif not isinstance(self.canary, Keep):
            share = self.canary_share
            if isinstance(share, Keep):
                share = current.canary.share if current.canary is not None else 0.0
            canary = CanaryRoute(self.canary, share)
        elif not isinstance(self.canary_share, Keep):
            if current.canary is None:
                raise InvalidArgumentError(
                    f"{where} has no canary to resize; start one with its ref and share "
                    f"(canary='{parse_model_ref(current.champion).name}@challenger', "
                    "canary_share=10; CLI: --canary REF:10)."
                )
            canary = CanaryRoute(current.canary.ref, self.canary_share)
        changed: dict[str, Any] = {"canary": canary}
        for name in ("champion", "shadows", "fallback", "guardrails", "runtime"):
            value = getattr(self, name)
            if value is not KEEP:
                changed[name] = value
        return replace(current, **changed)


@dataclass(frozen=True)
class DeploymentRules:
    """Who changes deployments, their clock, and the registry refs are resolved in.

    Attributes:
        registry: Where refs are resolved (metadata only: nothing is loaded).
        actor: Who is acting (recorded on every event).
        clock: Milliseconds since the epoch, read under the deployment's lock.
    """

    registry: ModelRegistry
    actor: str
    clock: Callable[[], int]

    def create(self, change: DeploymentChange, draft: Deployment, reason: str) -> Deployment:
        """Write ``draft`` as version 1 (or the next after a delete) of a new deployment.

        Raises:
            AlreadyExistsError: The deployment exists.
        """
        current = change.current()
        if current is not None:
            raise AlreadyExistsError(
                f"Deployment {change.name!r} exists (version {current.version}, champion "
                f"{current.champion}). Change it with `loopml deploy set {change.name} ...`, "
                "or pick another name."
            )
        version, at = change.last_version() + 1, self.clock()
        record = replace(
            draft,
            name=change.name,
            version=version,
            created_at=at,
            created_by=self.actor,
            updated_at=at,
            updated_by=self.actor,
        )
        self.check(record)
        change.write(
            version,
            record,
            self._event(CREATED, before=None, after=record, reason=reason, at=at, version=version),
        )
        return record

    def set(
        self,
        change: DeploymentChange,
        patch: DeploymentPatch,
        expected_version: int | None,
        reason: str,
    ) -> Deployment:
        """Apply ``patch`` to the committed record and write it as the next version.

        Raises:
            NotFoundError: The deployment does not exist.
            ConflictError: The record is not at ``expected_version``.
            InvalidArgumentError: The champion would be another model.
        """
        current = self._current(change, expected_version)
        wanted = patch.apply(current)
        before, after = (parse_model_ref(r.champion).name for r in (current, wanted))
        if before != after:
            raise InvalidArgumentError(
                f"Deployment {change.name!r}, field 'champion': {wanted.champion!r} is a "
                f"version of {after!r}, but this deployment serves model {before!r} (its "
                "servers answer under that name). Create another deployment for it."
            )
        if wanted.routes() == current.routes():
            return current
        version, at = change.last_version() + 1, self.clock()
        record = replace(wanted, version=version, updated_at=at, updated_by=self.actor)
        self.check(record)
        change.write(
            version,
            record,
            self._event(
                CHANGED, before=current, after=record, reason=reason, at=at, version=version
            ),
        )
        return record

    def delete(
        self, change: DeploymentChange, expected_version: int | None, reason: str
    ) -> Deployment:
        """Delete the deployment; return its last record.

        Raises:
            NotFoundError: The deployment does not exist.
            ConflictError: The record is not at ``expected_version``.
        """
        current = self._current(change, expected_version)
        version, at = change.last_version() + 1, self.clock()
        change.write(
            version,
            None,
            self._event(DELETED, before=current, after=None, reason=reason, at=at, version=version),
        )
        return current

    def check(self, record: Deployment) -> None:
        """Check the routes against the registry (refs, runtime, fallback, guardrails).

        Raises:
            LoopmlError: Naming the deployment and the field.
        """
        subject = f"Deployment {record.name!r}"
        if record.canary is not None and record.canary.ref == record.champion:
            raise InvalidArgumentError(
                f"{subject}, field 'canary': {record.canary.ref!r} is the champion's ref; a "
                "canary serves another version (e.g. the challenger alias)."
            )
        if record.champion in record.shadows:
            raise InvalidArgumentError(
                f"{subject}, field 'shadows': {record.champion!r} is the champion's ref; a "
                "shadow is another version, compared with the champion on the same requests."
            )
        check_deployment(self.registry, record_config(record, ServeConfig()), subject=subject)

    def _current(self, change: DeploymentChange, expected_version: int | None) -> Deployment:
        current = change.current()
        if current is None:
            raise missing(change.name, [])
        if expected_version is not None and current.version != expected_version:
            raise ConflictError(
                f"Deployment {change.name!r} is at version {current.version}, not "
                f"{expected_version} as expected: it changed since it was read (by "
                f"{current.updated_by}). Read it again (`loopml deploy show {change.name}`) "
                "and retry with that version."
            )
        return current

    def _event(
        self,
        kind: str,
        *,
        before: Deployment | None,
        after: Deployment | None,
        reason: str,
        at: int,
        version: int,
    ) -> Event:
        shown = after if after is not None else before
        assert shown is not None
        links = {"champion": shown.champion}
        if shown.canary is not None:
            links["canary"] = shown.canary.ref
        old = before.routes() if before is not None else None
        new = after.routes() if after is not None else None
        changed = [k for k in (new or old or {}) if (old or {}).get(k) != (new or {}).get(k)]
        return Event(
            event_id=new_event_id(),
            kind=kind,
            subject=subject_of(shown.name),
            actor=self.actor,
            at=at,
            reason=reason,
            links=links,
            data={"version": version, "before": old, "after": new, "changed": changed},
        )
