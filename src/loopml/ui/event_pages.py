"""The timeline: ``/events``, every transition of the loop with who, when, why and its
evidence (the event's data: a gate's checks, a comparison's figures), newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.requests import Request
from starlette.responses import Response

from loopml.core.entities import Principal
from loopml.ui.app import PageRoute, PageServices, services
from loopml.ui.guard import signed_in
from loopml.ui.templating import render

__all__ = ["router"]

router = APIRouter(route_class=PageRoute)
Svc = Annotated[PageServices, Depends(services)]
Who = Annotated[Principal, Depends(signed_in)]
DEFAULT_EVENTS = 200


@router.get("/events")
def events_page(
    request: Request,
    svc: Svc,
    _who: Who,
    subject: str = "",
    kind: str = "",
    limit: Annotated[int, Query(ge=1, le=10_000)] = DEFAULT_EVENTS,
) -> Response:
    """The newest ``limit`` events, optionally of one subject (a trailing ``@`` or ``*``: a
    prefix, as ``loopml events list --subject``) or one kind."""
    subject, kind = subject.strip(), kind.strip()
    prefix = None
    exact: str | None = subject or None
    if subject.endswith(("@", "*")):
        prefix, exact = subject.rstrip("*"), None
    events = svc.backend.events.list_events(
        subject=exact, subject_prefix=prefix, kind=kind or None, limit=limit
    )
    context = {
        "title": "Events",
        "events": list(reversed(events)),
        "subject": subject,
        "kind": kind,
        "limit": limit,
    }
    return render(request, "events.html", context)
