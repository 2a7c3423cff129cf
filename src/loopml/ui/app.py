"""The web UI mounted on an app: the pages' routers, the static files, ``/docs`` offline.

:func:`mount_ui` is called by the REST app (:func:`loopml.api.rest.create_app`), so ``loopml
server`` and ``loopml ui`` serve the same pages. The pages are left out of the OpenAPI
document; a page whose call fails shows the error (a filter's caret included) in the page's
layout, with the HTTP status the REST API gives the same error.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from loopml.core import errors as E  # noqa: N812  (the error tree, read as E.NotFoundError)
from loopml.governance import TokenService
from loopml.ui.guard import UiState

if TYPE_CHECKING:
    from loopml.data import DatasetService
    from loopml.evaluation import EvaluationService
    from loopml.registry import ModelRegistry
    from loopml.serving.deployments import DeploymentService
    from loopml.store.backend import Backend
    from loopml.tracking import TrackingService

__all__ = ["STATIC_PATH", "PageRoute", "PageServices", "mount_ui", "services"]

#: Where the UI's CSS, JS and vendored chart library are served.
STATIC_PATH = "/static"

#: The HTTP status of each kind of error a page shows, most specific first (as the REST API).
_STATUS: tuple[tuple[type[E.LoopmlError], int], ...] = (
    (E.UnauthenticatedError, 401),
    (E.AccessDeniedError, 403),
    (E.PermissionDeniedError, 403),
    (E.NotFoundError, 404),
    (E.MalformedRequestError, 400),
    (E.AlreadyExistsError, 409),
    (E.ConflictError, 409),
    (E.GateFailedError, 409),
    (E.InvalidArgumentError, 422),
    (E.StoreError, 503),
)


class PageServices(Protocol):
    """What the pages call: the server's services (:class:`loopml.api.rest.services.Services`
    is one)."""

    @property
    def backend(self) -> Backend:
        """The server's stores."""

    @property
    def tracking(self) -> TrackingService:
        """Experiments and runs."""

    @property
    def datasets(self) -> DatasetService:
        """Dataset versions."""

    @property
    def models(self) -> ModelRegistry:
        """The model registry."""

    @property
    def evaluations(self) -> EvaluationService:
        """Evaluations and gates."""

    @property
    def deployments(self) -> DeploymentService:
        """Deployment records."""


def services(request: Request) -> PageServices:
    """The services of the app serving ``request`` (a route dependency)."""
    found: PageServices = request.app.state.services
    return found


def _error_page(request: Request, exc: E.LoopmlError) -> Response:
    from loopml.ui.templating import render

    if isinstance(exc, E.UnauthenticatedError):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method == "GET":
            return RedirectResponse(f"/signin?next={_quoted(target)}", status_code=303)
    status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 500)
    context = {"title": type(exc).__name__, "message": str(exc), "kind": type(exc).__name__}
    return render(request, "error.html", context, status_code=status)


def _quoted(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="")


class PageRoute(APIRoute):
    """A page's route: a loopml error becomes the error page (a missing sign-in, the sign-in
    page), never a JSON body."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                return await handler(request)
            except E.LoopmlError as exc:
                return _error_page(request, exc)

        return page


def _docs_route(app: FastAPI) -> None:
    """``/docs``: Swagger UI from the ``swagger-ui-bundle`` package's files, served here (the
    default loads it from a CDN); absent when that package is not installed."""
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:  # pragma: no cover - the serve extra installs it
        return
    from fastapi.openapi.docs import get_swagger_ui_html

    app.mount(f"{STATIC_PATH}/swagger", StaticFiles(directory=str(swagger_ui_path)), "swagger")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - API",
            swagger_js_url=f"{STATIC_PATH}/swagger/swagger-ui-bundle.js",
            swagger_css_url=f"{STATIC_PATH}/swagger/swagger-ui.css",
            swagger_favicon_url=f"{STATIC_PATH}/favicon.svg",
            # no validator badge: it would send the document to validator.swagger.io
            swagger_ui_parameters={"validatorUrl": None},
        )


def mount_ui(app: FastAPI, *, tokens: TokenService | None) -> None:
    """Serve the pages, their static files and ``/docs`` on ``app``.

    Args:
        app: An app whose ``state.services`` holds :class:`PageServices`.
        tokens: The token service pages sign in with; None for auth off (``loopml ui`` on
            127.0.0.1: every page acts as the local user, with the admin role).
    """
    from loopml.ui import (
        access_pages,
        card_pages,
        data_pages,
        event_pages,
        model_pages,
        ops_pages,
        tracking_pages,
    )

    app.state.ui = UiState.build(tokens)
    _docs_route(app)  # before /static: its files are under /static/swagger
    static = Path(str(files("loopml.ui") / "static"))
    app.mount(STATIC_PATH, StaticFiles(directory=static), "static")
    pages = (access_pages, tracking_pages, model_pages, data_pages, ops_pages, event_pages)
    for module in pages:
        app.include_router(module.router, include_in_schema=False)
    app.include_router(card_pages.router, include_in_schema=False)
    app.include_router(access_pages.fallback, include_in_schema=False)
