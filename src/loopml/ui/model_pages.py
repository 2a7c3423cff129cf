"""Models: ``/models``, ``/models/{name}`` (versions, aliases and their history, evaluations)
and ``/models/{name}/{version or alias}`` (lineage, signature, review, evaluations with their
gate results), where an approver approves or rejects the version and an editor points an
alias at it (``champion``: an approver, and an approved version)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from loopml.core.entities import Event, ModelVersion, Principal
from loopml.core.errors import AccessDeniedError
from loopml.core.origin import acting_as
from loopml.governance import Action, alias_action, require
from loopml.ui.app import PageRoute, PageServices, services
from loopml.ui.guard import check_form, origin_of, read_form, signed_in
from loopml.ui.importance import importance_panels
from loopml.ui.lineage_graph import graph_svg, version_graph
from loopml.ui.templating import render

__all__ = ["router"]

router = APIRouter(route_class=PageRoute)
Svc = Annotated[PageServices, Depends(services)]
Who = Annotated[Principal, Depends(signed_in)]
Form = Annotated[dict[str, str], Depends(read_form)]
_HISTORY = 200


def allows(principal: Principal, action: Action) -> bool:
    """Whether ``principal``'s role allows ``action`` (forms are shown only then)."""
    try:
        require(principal, action)
    except AccessDeniedError:
        return False
    return True


@router.get("/models")
def models_page(request: Request, svc: Svc, _who: Who) -> Response:
    """Every registered model, its latest version and aliases."""
    models = svc.models.list_models()
    return render(request, "models.html", {"title": "Models", "models": models})


@router.get("/models/{name}")
def model_page(request: Request, name: str, svc: Svc, _who: Who) -> Response:
    """A model's versions, aliases, their history and its evaluations."""
    versions = list(reversed(svc.models.versions(name)))
    aliases = svc.models.aliases(name)
    by_version: dict[int, list[str]] = {}
    for alias, number in sorted(aliases.items()):
        by_version.setdefault(number, []).append(alias)
    history = list(reversed(svc.models.store.history(name)))[:_HISTORY]
    context = {
        "title": name,
        "name": name,
        "versions": versions,
        "aliases": aliases,
        "by_version": by_version,
        "history": history,
        "evaluations": svc.evaluations.list(name),
    }
    return render(request, "model.html", context)


def _gate_results(svc: PageServices, version: ModelVersion) -> list[tuple[Event, list[Any]]]:
    events = svc.backend.events.list_events(subject=f"model:{version.ref}")
    gates = [e for e in events if e.kind.startswith("gate.")]
    return [(event, list(event.data.get("checks", []))) for event in reversed(gates)]


@router.get("/models/{name}/{version}")
def version_page(request: Request, name: str, version: str, svc: Svc, who: Who) -> Response:
    """One version (a number or an alias): its review, lineage, signature, evaluations and
    gate results; the approve and reject forms for an approver."""
    found = svc.models.get(f"{name}@{version}")
    lineage = svc.models.lineage(found.ref)
    history = [
        e
        for e in reversed(svc.models.store.history(name))
        if e.subject == f"model:{found.ref}"
        or (e.kind == "alias.moved" and found.version in (e.data.get("from"), e.data.get("to")))
    ][:_HISTORY]
    context = {
        "title": found.ref,
        "version": found,
        "asked": version,
        "lineage": lineage,
        "lineage_svg": graph_svg(
            version_graph(svc.models, lineage, svc.deployments.list_deployments())
        ),
        "history": history,
        "evaluations": svc.evaluations.list(found.ref),
        "explanations": importance_panels(svc.models.explanations(found.ref)),
        "gates": _gate_results(svc, found),
        "can_review": allows(who, Action.APPROVE),
        "can_alias": allows(who, Action.MOVE_ALIAS),
        "can_champion": allows(who, Action.MOVE_CHAMPION),
    }
    return render(request, "version.html", context)


def _review(
    request: Request, svc: PageServices, who: Principal, form: dict[str, str], ref: str, verb: str
) -> Response:
    check_form(request, form, who, Action.APPROVE)
    found = svc.models.get(ref)
    comment = form.get("comment", "").strip()
    with acting_as(origin_of(request, who)):
        if verb == "approve":
            svc.models.approve(found.ref, comment=comment)
        else:
            svc.models.reject(found.ref, comment=comment)
    target = f"/models/{found.name}/{found.version}"
    return RedirectResponse(target, status_code=303)


@router.post("/models/{name}/{version}/approve")
def approve(request: Request, name: str, version: str, svc: Svc, who: Who, form: Form) -> Response:
    """Approve the version as the signed-in approver (recorded as the reviewer and in the
    audit log)."""
    return _review(request, svc, who, form, f"{name}@{version}", "approve")


@router.post("/models/{name}/{version}/reject")
def reject(request: Request, name: str, version: str, svc: Svc, who: Who, form: Form) -> Response:
    """Reject the version, saying why (a comment is required)."""
    return _review(request, svc, who, form, f"{name}@{version}", "reject")


@router.post("/models/{name}/{version}/alias")
def set_alias(
    request: Request, name: str, version: str, svc: Svc, who: Who, form: Form
) -> Response:
    """Point the form's ``alias`` at this version, with its ``reason`` (``champion`` needs an
    approver; the registry's rules apply, such as approval before ``champion``)."""
    alias = form.get("alias", "").strip()
    check_form(request, form, who, alias_action(alias))
    found = svc.models.get(f"{name}@{version}")
    with acting_as(origin_of(request, who)):
        svc.models.set_alias(
            found.name, alias, found.version, reason=form.get("reason", "").strip()
        )
    return RedirectResponse(f"/models/{found.name}/{found.version}", status_code=303)
