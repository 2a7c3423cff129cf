"""Deployment records: list, get, history; create and change them (approver: they decide
what serves traffic); delete (admin).

The records are changed by :class:`~loopml.serving.deployments.DeploymentService` on the
server, so every ref is resolved there (a missing model version is 404 naming it) and each
change is one event with the token's user as its actor. Guardrails are given as data (a
JSON object), never as a path on the server.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from loopml.api.rest.access import needs
from loopml.api.rest.once import OnceKey
from loopml.api.rest.params import LINE, TEXT
from loopml.api.rest.services import Services, services_of
from loopml.core.entities import Deployment, Event
from loopml.core.entities.deployments import KEEP
from loopml.governance import Action
from loopml.serving.config import DEFAULT_FALLBACK, DEFAULT_RUNTIME

__all__ = ["router"]

router = APIRouter(tags=["deployments"])
Svc = Annotated[Services, Depends(services_of)]
READ = [Depends(needs(Action.READ))]
DEPLOY = [Depends(needs(Action.DEPLOY))]
RefText = Annotated[str, Field(min_length=1, max_length=300, pattern=LINE)]


class NewDeployment(BaseModel):
    """The body of ``POST /deployments`` (see :meth:`DeploymentService.create`)."""

    name: str = Field(min_length=1, max_length=250)
    champion: RefText
    canary: RefText | None = None
    canary_share: float = 0.0
    shadows: list[RefText] = Field(default=[], max_length=16)
    fallback: RefText | None = DEFAULT_FALLBACK
    guardrails: dict[str, Any] | None = None
    runtime: str = Field(default=DEFAULT_RUNTIME, max_length=16)
    reason: str = Field(default="", max_length=2000, pattern=TEXT)


class DeploymentPatchBody(BaseModel):
    """The body of ``PATCH /deployments/{name}``: only the fields given change (a field sent
    as null clears it where that is allowed: ``canary``, ``fallback``, ``guardrails``)."""

    champion: RefText | None = None
    canary: RefText | None = None
    canary_share: float | None = None
    shadows: list[RefText] | None = Field(default=None, max_length=16)
    fallback: RefText | None = None
    guardrails: dict[str, Any] | None = None
    runtime: str | None = Field(default=None, max_length=16)
    expected_version: int | None = Field(default=None, ge=1)
    reason: str = Field(default="", max_length=2000, pattern=TEXT)


@router.get("/deployments", dependencies=READ)
def list_deployments(services: Svc) -> list[Deployment]:
    """Every deployment's current record, by name."""
    return services.deployments.list_deployments()


@router.get("/deployments/{name}", dependencies=READ)
def get_deployment(name: str, services: Svc) -> Deployment:
    """A deployment's current record."""
    return services.deployments.get(name)


@router.get("/deployments/{name}/history", dependencies=READ)
def deployment_history(name: str, services: Svc) -> list[Event]:
    """The events of a deployment's changes, oldest first."""
    return services.deployments.history(name)


@router.post("/deployments", dependencies=DEPLOY)
def create_deployment(body: NewDeployment, services: Svc, once: OnceKey) -> Deployment:
    """Create a deployment (version 1, or the next after a delete of the same name). Once per
    ``Idempotency-Key`` (sent again, the answer is the record, not a 409)."""
    return once(
        lambda: services.deployments.create(
            body.name,
            champion=body.champion,
            canary=body.canary,
            canary_share=body.canary_share,
            shadows=tuple(body.shadows),
            fallback=body.fallback,
            guardrails=body.guardrails,
            runtime=body.runtime,
            reason=body.reason,
        ),
        lambda _event: services.deployments.get(body.name),
    )


@router.patch("/deployments/{name}", dependencies=DEPLOY)
def set_deployment(name: str, body: DeploymentPatchBody, services: Svc) -> Deployment:
    """Change the fields given and write the next version (``expected_version``: refuse with
    409 if the record moved since it was read)."""
    given = body.model_fields_set
    patch: dict[str, Any] = {}
    for field in ("champion", "canary", "canary_share", "shadows", "fallback", "guardrails"):
        patch[field] = getattr(body, field) if field in given else KEEP
    if isinstance(patch["shadows"], list):
        patch["shadows"] = tuple(patch["shadows"])
    for field in ("champion", "canary_share", "shadows", "runtime"):  # null means "keep"
        if field in given and getattr(body, field) is None:
            patch[field] = KEEP
    return services.deployments.set(
        name,
        champion=patch["champion"],
        canary=patch["canary"],
        canary_share=patch["canary_share"],
        shadows=patch["shadows"],
        fallback=patch["fallback"],
        guardrails=patch["guardrails"],
        runtime=body.runtime if body.runtime is not None else KEEP,
        expected_version=body.expected_version,
        reason=body.reason,
    )


@router.delete("/deployments/{name}", dependencies=[Depends(needs(Action.DELETE))])
def delete_deployment(
    name: str,
    services: Svc,
    reason: Annotated[str, Query(max_length=2000, pattern=TEXT)] = "",
    expected_version: Annotated[int | None, Query(ge=1)] = None,
) -> Deployment:
    """Delete a deployment (its history stays); returns its last record."""
    return services.deployments.delete(name, reason=reason, expected_version=expected_version)
