"""Signing in and out: ``/signin`` takes an API token, ``/signout`` forgets it; ``/`` and
the page for a URL that names no page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from loopml.core.errors import NotFoundError, UnauthenticatedError
from loopml.ui.app import PageRoute
from loopml.ui.guard import (
    TOKEN_COOKIE,
    UiState,
    check_form,
    read_form,
    signed_in,
)
from loopml.ui.templating import render

__all__ = ["router"]

router = APIRouter(route_class=PageRoute)
Form = Annotated[dict[str, str], Depends(read_form)]


def _next(target: str | None) -> str:
    """Where to go after signing in: a path of this site only (never another host)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/experiments"
    return target


@router.get("/")
def home() -> RedirectResponse:
    """The experiments are the front page."""
    return RedirectResponse("/experiments", status_code=303)


@router.get("/signin")
def signin_page(request: Request, next: str | None = None) -> Response:
    """The sign-in form (auth off: nothing to sign in to, straight on)."""
    state: UiState = request.app.state.ui
    if not state.auth:
        return RedirectResponse(_next(next), status_code=303)
    return render(request, "signin.html", {"title": "Sign in", "next": _next(next), "error": None})


@router.post("/signin")
def signin(request: Request, form: Form) -> Response:
    """Check the token with the server's token service; keep it in an HttpOnly cookie."""
    state: UiState = request.app.state.ui
    target = _next(form.get("next"))
    if state.tokens is None:
        return RedirectResponse(target, status_code=303)
    check_form(request, form, state.local, None)
    text = form.get("token", "").strip()
    try:
        state.tokens.authorize(text)
    except UnauthenticatedError as exc:
        context = {"title": "Sign in", "next": target, "error": str(exc)}
        return render(request, "signin.html", context, status_code=401)
    answer = RedirectResponse(target, status_code=303)
    answer.set_cookie(
        TOKEN_COOKIE,
        text,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return answer


@router.post("/signout")
def signout(request: Request, form: Form) -> Response:
    """Forget the token cookie (the token itself stays valid: revoke it with ``loopml tokens
    revoke``)."""
    principal = signed_in(request)
    check_form(request, form, principal, None)
    answer = RedirectResponse("/signin" if request.app.state.ui.auth else "/", status_code=303)
    answer.delete_cookie(TOKEN_COOKIE, path="/")
    return answer


class PagePath(Convertor[str]):
    """A path outside ``/api``: the API's unknown paths (and methods) keep their JSON 404
    and 405 answers."""

    regex = r"(?!api(?:/|$)).*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("loopml_page", PagePath())


def no_such_page(path: str) -> Response:
    """A URL outside the API that names no page: the error page, 404."""
    raise NotFoundError(
        f"No page at /{path}. The pages: /experiments, /models, /datasets, /deployments, "
        "/events (docs/ui.md lists every URL)."
    )


#: Registered last by :func:`loopml.ui.mount_ui`, after every other route.
fallback = APIRouter(route_class=PageRoute)
fallback.add_api_route("/{path:loopml_page}", no_such_page, methods=["GET"])
