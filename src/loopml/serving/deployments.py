""":class:`DeploymentService`: deployment records in the store (create, set, delete, read).

A deployment says what a model server serves (see :class:`~loopml.core.entities.Deployment`);
``loopml serve --deployment NAME`` follows it live (:mod:`loopml.serving.follower`). The
fields are checked here before anything is read (:mod:`.deployment_fields`); the refs, the
runtime, the fallback and the guardrails are checked against the registry, and the change is
written with its event, in one transaction that holds the deployment's lock
(:mod:`.deployment_changes`).

Example:
    >>> deployments = DeploymentService(registry)  # doctest: +SKIP
    >>> deployments.create("credit", champion="credit-default@champion")  # doctest: +SKIP
    >>> deployments.set("credit", canary="credit-default@challenger", canary_share=10,
    ...                 reason="start the canary")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from loopml.core.entities import CanaryRoute, Deployment, Event
from loopml.core.entities.deployments import KEEP, Keep
from loopml.core.errors import InvalidArgumentError
from loopml.registry import ModelRegistry
from loopml.serving.config import DEFAULT_FALLBACK, DEFAULT_RUNTIME, check_runtime
from loopml.serving.deployment_changes import DeploymentPatch, DeploymentRules
from loopml.serving.deployment_fields import (
    check_deployment_name,
    check_expected_version,
    check_fallback,
    check_guardrails,
    check_reason,
    check_route_ref,
    check_shadows,
    check_share,
    missing,
)

#: Guardrails as data, or the path of a YAML file of them.
GuardrailsInput = Mapping[str, Any] | str | Path | None


class DeploymentService:
    """Deployment records over one registry's backend.

    Args:
        registry: Where refs are resolved; its backend holds the records.
    """

    def __init__(self, registry: ModelRegistry) -> None:
        self.registry = registry
        self.store = registry.backend.deployments

    def _rules(self) -> DeploymentRules:
        return DeploymentRules(self.registry, self.registry.actor, self.registry.now)

    # -- reads -------------------------------------------------------------------------------

    def get(self, name: str) -> Deployment:
        """Return a deployment's current record.

        Raises:
            NotFoundError: No such deployment (naming those that exist).
        """
        found = self.store.get(check_deployment_name(name))
        if found is None:
            raise missing(name, [d.name for d in self.store.list_deployments()])
        return found

    def list_deployments(self) -> list[Deployment]:
        """Return every deployment's current record, by name."""
        return self.store.list_deployments()

    def history(self, name: str) -> list[Event]:
        """Return the events of a deployment's changes (created, changed, deleted) by version,
        each with its actor, time, reason and the routes before and after.

        Raises:
            NotFoundError: The deployment was never created.
        """
        events = self.store.history(check_deployment_name(name))
        if not events:
            raise missing(name, [d.name for d in self.store.list_deployments()])
        return events

    # -- changes -----------------------------------------------------------------------------

    def create(
        self,
        name: str,
        *,
        champion: str,
        canary: str | None = None,
        canary_share: float = 0.0,
        shadows: Sequence[str] = (),
        fallback: str | None = DEFAULT_FALLBACK,
        guardrails: GuardrailsInput = None,
        runtime: str = DEFAULT_RUNTIME,
        reason: str = "",
    ) -> Deployment:
        """Create a deployment (version 1, or the next after a delete of the same name).

        Raises:
            InvalidArgumentError: A field is invalid (the message names it and the fix).
            NotFoundError: A ref does not resolve (a canary alias not set yet is accepted
                while ``canary_share`` is 0).
            AlreadyExistsError: The deployment exists.
        """
        check_deployment_name(name)
        share = check_share(name, canary_share)
        if canary is None and share != 0:
            raise InvalidArgumentError(
                f"Deployment {name!r}, field 'canary.share' is {canary_share!r} but there is "
                "no canary: give canary='MODEL@challenger' too (CLI: --canary REF:SHARE)."
            )
        draft = Deployment(
            name=name,
            champion=check_route_ref(name, "champion", champion, example="champion"),
            canary=None
            if canary is None
            else CanaryRoute(check_route_ref(name, "canary", canary, example="challenger"), share),
            shadows=check_shadows(name, shadows),
            fallback=check_fallback(name, fallback),
            guardrails=check_guardrails(name, guardrails),
            runtime=check_runtime(runtime),
        )
        reason = check_reason(reason)
        rules = self._rules()
        return self.store.change(name, lambda c: rules.create(c, draft, reason))

    def set(
        self,
        name: str,
        *,
        champion: str | Keep = KEEP,
        canary: str | Keep | None = KEEP,
        canary_share: float | Keep = KEEP,
        shadows: Sequence[str] | Keep = KEEP,
        fallback: str | Keep | None = KEEP,
        guardrails: GuardrailsInput | Keep = KEEP,
        runtime: str | Keep = KEEP,
        expected_version: int | None = None,
        reason: str = "",
    ) -> Deployment:
        """Change the fields given (the others keep their value) and write the next version;
        see :func:`loopml.deployments.set`.

        Raises:
            InvalidArgumentError: A field is invalid, or no field is given.
            NotFoundError: The deployment or a ref does not exist.
            ConflictError: ``expected_version`` is not the current version.
        """
        check_deployment_name(name)
        expected = check_expected_version(name, expected_version)
        patch = DeploymentPatch(
            champion=KEEP
            if isinstance(champion, Keep)
            else check_route_ref(name, "champion", champion, example="champion"),
            canary=canary
            if canary is None or isinstance(canary, Keep)
            else check_route_ref(name, "canary", canary, example="challenger"),
            canary_share=KEEP
            if isinstance(canary_share, Keep)
            else check_share(name, canary_share),
            shadows=KEEP if isinstance(shadows, Keep) else check_shadows(name, shadows),
            fallback=KEEP if isinstance(fallback, Keep) else check_fallback(name, fallback),
            guardrails=KEEP if isinstance(guardrails, Keep) else check_guardrails(name, guardrails),
            runtime=KEEP if isinstance(runtime, Keep) else check_runtime(runtime),
        )
        if patch.is_empty():
            raise InvalidArgumentError(
                f"Nothing to change in deployment {name!r}: give at least one of champion, "
                "canary, canary_share, shadows, fallback, guardrails or runtime (CLI: "
                "--champion, --canary, --canary-share, --no-canary, --shadow, --fallback, "
                "--guardrails, --runtime)."
            )
        reason = check_reason(reason)
        rules = self._rules()
        return self.store.change(name, lambda c: rules.set(c, patch, expected, reason))

    def delete(
        self, name: str, *, reason: str = "", expected_version: int | None = None
    ) -> Deployment:
        """Delete a deployment (its history stays; servers following it keep their last
        routes); return its last record.

        Raises:
            NotFoundError: The deployment does not exist.
            ConflictError: ``expected_version`` is not the current version.
        """
        check_deployment_name(name)
        expected = check_expected_version(name, expected_version)
        reason = check_reason(reason)
        rules = self._rules()
        return self.store.change(name, lambda c: rules.delete(c, expected, reason))
