"""The model card page: ``/models/{name}/{version or alias}/card``, the card of
:func:`loopml.governance.compose_card` in the UI's frame, with the same card to download as
Markdown (``?format=md``) or as one offline HTML page (``?format=html``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response

from loopml.core.entities import Principal
from loopml.governance.card_render import render_html
from loopml.governance.cards import check_card_format, compose_card
from loopml.ui.app import PageRoute, PageServices, services
from loopml.ui.guard import signed_in
from loopml.ui.templating import PAGE_HEADERS, render

__all__ = ["router"]

router = APIRouter(route_class=PageRoute)
Svc = Annotated[PageServices, Depends(services)]
Who = Annotated[Principal, Depends(signed_in)]


@router.get("/models/{name}/{version}/card")
def card_page(
    request: Request, name: str, version: str, svc: Svc, _who: Who, format: str = ""
) -> Response:
    """The version's model card (``format``: ``md`` or ``html`` for the file itself)."""
    card = compose_card(
        f"{name}@{version}",
        models=svc.models,
        evaluations=svc.evaluations,
        events=lambda subject: svc.backend.events.list_events(subject=subject),
    )
    if format:
        chosen = check_card_format(format)
        filename = f"{card.version.name}-{card.version.version}-card.{chosen}"
        headers = {**PAGE_HEADERS, "Content-Disposition": f'inline; filename="{filename}"'}
        if chosen == "md":
            return PlainTextResponse(
                card.to_markdown(), media_type="text/markdown; charset=utf-8", headers=headers
            )
        return HTMLResponse(card.to_html(), headers=headers)
    context = {
        "title": f"Model card: {card.ref}",
        "card": card,
        "asked": version,
        "body": render_html(card, standalone=False),
    }
    return render(request, "card.html", context)
