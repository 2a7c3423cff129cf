"""Audit events: every transition of the loop with who, when and why (``loopml events``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from loopml.api.rest.access import needs
from loopml.api.rest.params import LINE, MAX_INT
from loopml.api.rest.services import Services, services_of
from loopml.core.entities import Event
from loopml.governance import Action

__all__ = ["router"]

router = APIRouter(tags=["events"])
Svc = Annotated[Services, Depends(services_of)]
#: The most events one request returns.
MAX_EVENTS = 10_000


@router.get("/events", dependencies=[Depends(needs(Action.READ))])
def list_events(
    services: Svc,
    *,
    subject: Annotated[str | None, Query(max_length=500, pattern=LINE)] = None,
    kind: Annotated[str | None, Query(max_length=100, pattern=LINE)] = None,
    since: Annotated[int | None, Query(ge=0, le=MAX_INT)] = None,
    until: Annotated[int | None, Query(ge=0, le=MAX_INT)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_EVENTS)] = 100,
) -> list[Event]:
    """Events matching every filter given, oldest first; ``limit`` keeps the newest.

    ``subject`` names one object (``dataset:flights@3``), or ends in ``@`` or ``*`` for a
    prefix (``dataset:flights@``: every version of flights), as ``loopml events list`` does.
    """
    prefix = None
    if subject is not None and subject.endswith(("*", "@")):
        prefix, subject = subject.rstrip("*"), None
    return services.backend.events.list_events(
        subject=subject, subject_prefix=prefix, kind=kind, since=since, until=until, limit=limit
    )
