"""The model registry: models, versions, aliases (moved, removed, rolled back), reviews,
lineage.

Every route calls :class:`~loopml.registry.ModelRegistry` on the server, so its rules hold
whoever calls: ``champion`` only to an approved version (``ApprovalRequiredError``, 409), a
rollback needs a reason, a rejected version needs a comment to be approved. Moving an alias
needs the role :func:`~loopml.governance.alias_action` names (``champion``: approver; any
other alias: editor), checked before the body runs. A version is named in paths by its
number, an alias or ``latest`` (``/models/churn/versions/champion``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from loopml.api.rest.access import needs, principal_of
from loopml.api.rest.once import OnceKey, subject_id
from loopml.api.rest.params import LINE, TEXT
from loopml.api.rest.services import Services, services_of
from loopml.core.entities import (
    AliasMove,
    Event,
    FeatureImportance,
    ModelExplanation,
    ModelManifest,
    ModelVersion,
    Principal,
    RegisteredModel,
)
from loopml.core.ids import RunId
from loopml.governance import Action, alias_action, require
from loopml.registry.aliases import moves_from_events
from loopml.registry.lineage import Lineage

__all__ = ["router"]

router = APIRouter(tags=["models"])
Svc = Annotated[Services, Depends(services_of)]
READ = [Depends(needs(Action.READ))]
#: ``name@<selector>``: a version number, an alias or ``latest``.
Selector = Annotated[str, Field(min_length=1, max_length=64)]


def needs_alias_role(request: Request, alias: str) -> Principal:
    """The route dependency of an alias move: the role ``alias_action(alias)`` needs."""
    principal = principal_of(request)
    require(principal, alias_action(alias))
    return principal


class AliasBody(BaseModel):
    """The body of ``POST /models/{name}/aliases/{alias}``."""

    version: int = Field(ge=1, le=2**31 - 1, description="The version the alias points at.")
    reason: str = Field(
        default="", max_length=2000, pattern=TEXT, description="Why (the event's reason)."
    )


class ReasonBody(BaseModel):
    """A change that only says why (a removal)."""

    reason: str = Field(default="", max_length=2000, pattern=TEXT)


class RollbackBody(BaseModel):
    """The body of a rollback: the reason is required."""

    reason: str = Field(min_length=1, max_length=2000, pattern=TEXT, description="Why.")


class UploadedModel(BaseModel):
    """The body of ``POST /models/{name}/versions``: a package uploaded through the artifact
    proxy, by its manifest's digest."""

    manifest_digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    run_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")
    training_data: str | None = Field(default=None, min_length=1, max_length=300, pattern=LINE)
    validation_data: str | None = Field(default=None, min_length=1, max_length=300, pattern=LINE)
    code_commit: str | None = Field(default=None, max_length=64, pattern=LINE)
    description: str = Field(default="", max_length=10_000, pattern=TEXT)
    tags: dict[
        Annotated[str, Field(max_length=250, pattern=LINE)],
        Annotated[str, Field(max_length=5000, pattern=TEXT)],
    ] = Field(default={}, max_length=100)


class UploadedExport(BaseModel):
    """The body of ``POST /models/{name}/versions/{selector}/exports``: an ONNX copy uploaded
    through the artifact proxy, with the check the client made."""

    manifest_digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    check: dict[Annotated[str, Field(max_length=64, pattern=LINE)], Any] = Field(max_length=50)


class FeatureBody(BaseModel):
    """One feature's importance in an uploaded explanation."""

    feature: str = Field(min_length=1, max_length=250, pattern=LINE)
    importance: float
    spread: float = 0.0


class UploadedExplanation(BaseModel):
    """The body of ``POST /models/{name}/versions/{selector}/explanations``: a global
    importance the client computed (the server never loads the model); who and when are the
    server's."""

    explanation_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    method: str = Field(min_length=1, max_length=64, pattern=LINE)
    dataset: str | None = Field(default=None, min_length=1, max_length=300, pattern=LINE)
    rows: int = Field(ge=1, le=2**31 - 1)
    features: list[FeatureBody] = Field(min_length=1, max_length=10_000)
    details: dict[Annotated[str, Field(max_length=64, pattern=LINE)], Any] = Field(
        default={}, max_length=50
    )


class ReviewBody(BaseModel):
    """The body of an approval or a rejection."""

    comment: str = Field(default="", max_length=2000, pattern=TEXT)


@router.get("/models", dependencies=READ)
def list_models(services: Svc) -> list[RegisteredModel]:
    """Every registered model with its latest version and aliases."""
    return services.models.list_models()


@router.get("/models/{name}/versions", dependencies=READ)
def list_versions(name: str, services: Svc) -> list[ModelVersion]:
    """Every version of a model, oldest first."""
    return services.models.versions(name)


@router.post("/models/{name}/versions", dependencies=[Depends(needs(Action.WRITE))])
def register_uploaded(name: str, body: UploadedModel, services: Svc, once: OnceKey) -> ModelVersion:
    """Register an uploaded package as the next version of ``name``: the server checks that
    the manifest and every file are stored, and never loads the payload. Once per
    ``Idempotency-Key`` (sent again, the answer is the version it made, and no other)."""
    from loopml.registry.uploaded import register_uploaded as register

    return once(
        lambda: register(
            services.models,
            name,
            manifest_digest=body.manifest_digest,
            run_id=None if body.run_id is None else RunId(body.run_id),
            training_data=body.training_data,
            validation_data=body.validation_data,
            code_commit=body.code_commit,
            description=body.description,
            tags=body.tags,
        ),
        lambda event: _version_of(services, event),
    )


def _version_of(services: Services, event: Event) -> ModelVersion:
    """The version an event of the registry names (``model:churn@3``), as it is now."""
    return services.models.get(subject_id(event, "model"))


def _move_of(name: str, event: Event) -> AliasMove:
    """The alias move an ``alias.moved`` event records."""
    return moves_from_events(name, [event])[0]


@router.post(
    "/models/{name}/versions/{selector}/exports", dependencies=[Depends(needs(Action.WRITE))]
)
def register_export(
    name: str, selector: Selector, body: UploadedExport, services: Svc, once: OnceKey
) -> ModelVersion:
    """Record an uploaded ONNX copy of a version (an ONNX package with the version's
    signature; the server checks it and its files are stored, and never loads it). Once per
    ``Idempotency-Key``."""
    from loopml.registry.uploaded import register_export_uploaded

    return once(
        lambda: register_export_uploaded(
            services.models,
            f"{name}@{selector}",
            manifest_digest=body.manifest_digest,
            check=body.check,
        ),
        lambda event: _version_of(services, event),
    )


@router.post(
    "/models/{name}/versions/{selector}/explanations",
    dependencies=[Depends(needs(Action.WRITE))],
)
def record_explanation(
    name: str, selector: Selector, body: UploadedExplanation, services: Svc
) -> ModelExplanation:
    """Record a global feature importance computed by the client on a version (with its
    ``model.explained`` event; the token's user is its author)."""
    from loopml.registry.explain import record_explanation as record

    version = services.models.get(f"{name}@{selector}")
    draft = ModelExplanation(
        explanation_id=body.explanation_id,
        model=version.ref,
        method=body.method,
        dataset=body.dataset,
        rows=body.rows,
        features=tuple(FeatureImportance(**f.model_dump()) for f in body.features),
        created_at=0,
        created_by="",
        details=body.details,
    )
    return record(services.models, version, draft)


@router.get("/models/{name}/versions/{selector}/explanations", dependencies=READ)
def list_explanations(
    name: str,
    selector: Selector,
    services: Svc,
    method: Annotated[str | None, Query(max_length=64, pattern=LINE)] = None,
) -> list[ModelExplanation]:
    """A version's recorded explanations (of one method, or all), newest first."""
    return services.models.explanations(f"{name}@{selector}", method=method)


@router.get("/models/{name}/versions/{selector}", dependencies=READ)
def get_version(name: str, selector: Selector, services: Svc) -> ModelVersion:
    """One version: ``/versions/3``, ``/versions/champion``, ``/versions/latest``."""
    return services.models.get(f"{name}@{selector}")


@router.get("/models/{name}/versions/{selector}/manifest", dependencies=READ)
def get_manifest(name: str, selector: Selector, services: Svc) -> ModelManifest:
    """A version's package manifest (verified against its digest)."""
    return services.models.manifest(f"{name}@{selector}")


@router.get("/models/{name}/versions/{selector}/lineage", dependencies=READ)
def get_lineage(name: str, selector: Selector, services: Svc) -> Lineage:
    """Version -> run -> datasets -> commit."""
    return services.models.lineage(f"{name}@{selector}")


@router.get("/models/{name}/aliases", dependencies=READ)
def get_aliases(name: str, services: Svc) -> dict[str, int]:
    """A model's aliases (alias -> version)."""
    return services.models.aliases(name)


@router.get("/models/{name}/alias-history", dependencies=READ)
def alias_history(
    name: str,
    services: Svc,
    alias: Annotated[str | None, Query(max_length=64, pattern=LINE)] = None,
) -> list[AliasMove]:
    """The moves of a model's aliases (or of one), oldest first."""
    return services.models.alias_history(name, alias)


@router.post("/models/{name}/aliases/{alias}", dependencies=[Depends(needs_alias_role)])
def set_alias(name: str, alias: str, body: AliasBody, services: Svc, once: OnceKey) -> AliasMove:
    """Point ``alias`` at a version (``champion``: approver, and an approved version). Once
    per ``Idempotency-Key`` (sent again, the answer is the move it made)."""
    return once(
        lambda: services.models.set_alias(name, alias, body.version, reason=body.reason),
        lambda event: _move_of(name, event),
    )


@router.delete("/models/{name}/aliases/{alias}", dependencies=[Depends(needs_alias_role)])
def remove_alias(
    name: str,
    alias: str,
    services: Svc,
    once: OnceKey,
    reason: Annotated[str, Query(max_length=2000, pattern=TEXT)] = "",
) -> AliasMove:
    """Remove an alias (recorded as an event). Once per ``Idempotency-Key``."""
    return once(
        lambda: services.models.remove_alias(name, alias, reason=reason),
        lambda event: _move_of(name, event),
    )


@router.post("/models/{name}/aliases/{alias}/rollback", dependencies=[Depends(needs_alias_role)])
def rollback(name: str, alias: str, body: RollbackBody, services: Svc, once: OnceKey) -> AliasMove:
    """Move ``alias`` back to the version it held before its current one. Once per
    ``Idempotency-Key`` (sent again, it does not roll back a second time)."""
    return once(
        lambda: services.models.rollback(name, reason=body.reason, alias=alias),
        lambda event: _move_of(name, event),
    )


@router.post(
    "/models/{name}/versions/{selector}/approve",
    dependencies=[Depends(needs(Action.APPROVE))],
)
def approve(
    name: str, selector: Selector, body: ReviewBody, services: Svc, once: OnceKey
) -> ModelVersion:
    """Approve a version (a rejected one needs a comment). Once per ``Idempotency-Key``."""
    return once(
        lambda: services.models.approve(f"{name}@{selector}", comment=body.comment),
        lambda event: _version_of(services, event),
    )


@router.post(
    "/models/{name}/versions/{selector}/reject",
    dependencies=[Depends(needs(Action.APPROVE))],
)
def reject(
    name: str, selector: Selector, body: ReviewBody, services: Svc, once: OnceKey
) -> ModelVersion:
    """Reject a version, saying why (not the current champion). Once per
    ``Idempotency-Key``."""
    return once(
        lambda: services.models.reject(f"{name}@{selector}", comment=body.comment),
        lambda event: _version_of(services, event),
    )
