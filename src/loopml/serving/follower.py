""":class:`DeploymentFollower`: a server that serves what its deployment record says, live.

``loopml serve --deployment NAME`` (``ServeConfig(deployment=NAME)``) reads the record at start
and, every ``poll_interval_s`` (the same check that follows aliases), reads it again. A record
at a new version is applied with :meth:`InferenceService.apply
<loopml.serving.service.InferenceService.apply>`: every version the new routes need is loaded
first, then all routes change in one assignment (a canary started, resized or stopped, a
shadow added or removed, the champion swapped), without a restart. A load that fails keeps
the old routes serving; the server logs why and records a ``deployment.apply_failed`` event
(once per record version: it is not retried until the record changes again). An applied
version is a ``deployment.applied`` event. Each worker process follows the record on its own.

A deleted record leaves the server serving its last routes (a warning says so once). The
aliases inside the record are followed as always, by the slots.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from loopml.core.entities import Deployment, Event
from loopml.core.ids import new_event_id
from loopml.serving.config import ServeConfig
from loopml.serving.deployment import record_config
from loopml.serving.deployment_changes import subject_of
from loopml.serving.deployments import DeploymentService

if TYPE_CHECKING:
    from loopml.serving.service import InferenceService

_log = logging.getLogger("loopml.serving")

APPLIED, APPLY_FAILED = "deployment.applied", "deployment.apply_failed"


def describe_routes(record: Deployment) -> str:
    """The routes of a record in one line, for logs and events."""
    parts = [f"champion {record.champion}"]
    if record.canary is not None:
        parts.append(f"canary {record.canary.ref} at {record.canary.share:g}%")
    parts.extend(f"shadow {ref}" for ref in record.shadows)
    parts.append(f"fallback {record.fallback or 'none'}")
    if record.guardrails:
        parts.append("guardrails")
    return ", ".join(parts)


class DeploymentFollower:
    """Keeps one service serving its deployment record.

    Args:
        service: The server (its ``apply`` swaps the routes).
        name: The deployment.
    """

    def __init__(self, service: InferenceService, name: str) -> None:
        self.service = service
        self.name = name
        self.deployments = DeploymentService(service.registry)
        self.version: int | None = None
        self.failed: int | None = None
        self._gone = False

    def start(self, base: ServeConfig) -> ServeConfig:
        """Read the record and return the config the server starts with.

        Raises:
            NotFoundError: No such deployment.
        """
        record = self.deployments.get(self.name)
        self.version = record.version
        _log.info(
            "deployment %s version %d: %s", record.name, record.version, describe_routes(record)
        )
        return record_config(record, base)

    def poll(self) -> bool:
        """Read the record; apply it when it is at a new version. Never raises: a store that
        cannot be read, or routes that cannot be loaded, leave the old routes serving.

        Returns:
            True when new routes were applied.
        """
        try:
            record = self.deployments.store.get(self.name)
        except Exception as exc:  # the store may be briefly unreachable
            _log.warning("Could not read deployment %s: %s", self.name, exc)
            return False
        if record is None:
            if not self._gone:
                _log.warning(
                    "Deployment %s was deleted; this server keeps serving version %s's routes.",
                    self.name,
                    self.version,
                )
            self._gone = True
            return False
        self._gone = False
        if record.version in (self.version, self.failed):
            return False
        try:
            self.service.apply(record_config(record, self.service.config))
        except Exception as exc:  # any failure to load must leave the old routes serving
            self.failed = record.version
            reason = (
                f"version {record.version} ({describe_routes(record)}) could not be applied "
                f"({type(exc).__name__}: {exc}); version {self.version}'s routes keep serving"
            )
            self._event(APPLY_FAILED, record, reason)
            _log.error("Deployment %s: %s", self.name, reason)
            return False
        before, self.version, self.failed = self.version, record.version, None
        reason = f"version {record.version} applied (was {before}): {describe_routes(record)}"
        self._event(APPLIED, record, reason)
        _log.info("Deployment %s: %s", self.name, reason)
        return True

    def _event(self, kind: str, record: Deployment, reason: str) -> None:
        registry = self.service.registry
        try:
            registry.backend.events.append(
                Event(
                    event_id=new_event_id(),
                    kind=kind,
                    subject=subject_of(self.name),
                    actor=registry.actor,
                    at=registry.now(),
                    reason=reason,
                    links={"champion": record.champion},
                    data={"version": record.version, "served": self.version, "pid": os.getpid()},
                )
            )
        except Exception as exc:  # an audit write must not take the server down
            _log.error("Could not record %s for deployment %s: %s", kind, self.name, exc)
