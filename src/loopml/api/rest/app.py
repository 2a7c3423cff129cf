"""The REST app: routers per stage under ``/api/v1``, errors as JSON, tokens checked first.

:func:`create_app` builds it over a :class:`~loopml.store.backend.Backend` (the server's
PostgreSQL or embedded store); ``loopml server`` runs it with uvicorn. The OpenAPI document
is at ``/openapi.json`` (open, like ``/api/v1/health``); every other route needs a token
unless the server runs with ``--auth none`` on a loopback address. The web UI
(:mod:`loopml.ui`) is mounted on the same app, outside ``/api/v1``: its pages sign in with
a token kept in a cookie, and every request's ``Host`` must be one the server answers to
(DNS rebinding).
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, FastAPI
from starlette.middleware.trustedhost import TrustedHostMiddleware

from loopml.api.rest.access import Authenticate
from loopml.api.rest.errors import ERROR_RESPONSES, add_error_handlers
from loopml.api.rest.services import Services
from loopml.core.version import VERSION
from loopml.serving.config import is_loopback
from loopml.store.backend import Backend
from loopml.ui import mount_ui

__all__ = [
    "API_PREFIX",
    "LOOPBACK_HOSTS",
    "OPEN_PATHS",
    "SERVER_CONFIG_ENV",
    "ServerConfig",
    "allowed_hosts_for",
    "app_from_environment",
    "create_app",
]

#: Every route of the REST API is under this prefix.
API_PREFIX = "/api/v1"
#: Paths any caller may reach.
OPEN_PATHS = frozenset({f"{API_PREFIX}/health", "/openapi.json"})
#: The largest request body the server reads by default (bytes); artifacts go in chunks.
DEFAULT_MAX_BODY = 64 * 1024 * 1024
#: The names a server on a loopback address answers to.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def allowed_hosts_for(host: str, extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The ``Host`` headers a server bound to ``host`` accepts: the loopback names on a
    loopback address, the address itself on another, any on ``0.0.0.0``/``::`` (where the
    names are unknown: pass them as ``extra``, ``--allowed-host``); plus ``extra``."""
    if extra:
        base: tuple[str, ...] = LOOPBACK_HOSTS if is_loopback(host) else (host,)
        return tuple(dict.fromkeys((*base, *extra)))
    if is_loopback(host):
        return tuple(dict.fromkeys((*LOOPBACK_HOSTS, host.strip("[]"))))
    if host in ("0.0.0.0", "::", ""):
        return ("*",)
    return (host,)


@dataclass(frozen=True)
class ServerConfig:
    """How a REST server runs.

    Attributes:
        auth: ``token`` (every route but the open ones needs a token) or ``none`` (one user
            on a loopback address, acting as admin).
        max_body: The largest request body read, in bytes (larger: 413, nothing written).
        allowed_hosts: The ``Host`` headers answered (others: 400, before anything runs);
            ``*`` for any (see :func:`allowed_hosts_for`).
    """

    auth: str = "token"
    max_body: int = DEFAULT_MAX_BODY
    allowed_hosts: tuple[str, ...] = LOOPBACK_HOSTS


def _routers() -> list[APIRouter]:
    """The routers of each stage (imported here so the app's modules load once)."""
    from loopml.api.rest import (
        artifacts,
        datasets,
        deployments,
        evaluations,
        events,
        experiments,
        labels,
        models,
        monitoring,
        runs,
    )

    return [
        experiments.router,
        artifacts.router,
        runs.router,
        datasets.router,
        models.router,
        evaluations.router,
        events.router,
        deployments.router,
        monitoring.router,
        labels.router,
    ]


def create_app(backend: Backend, config: ServerConfig | None = None) -> FastAPI:
    """The REST app over ``backend`` (see the module docstring)."""
    config = config or ServerConfig()
    app = FastAPI(
        title="loopml",
        version=VERSION,
        summary="The loopml team server: runs, datasets, models, evaluations, monitoring.",
        docs_url=None,  # Swagger UI loads its assets from a CDN; the UI serves its own
        redoc_url=None,
    )
    services = Services(backend)
    app.state.services = services
    app.state.config = config
    add_error_handlers(app)

    @app.get(f"{API_PREFIX}/health", tags=["server"])
    def health() -> dict[str, str]:
        """Liveness: the server answers (no token needed)."""
        return {"status": "ok", "version": VERSION}

    for router in _routers():
        app.include_router(router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    tokens = services.tokens if config.auth == "token" else None
    mount_ui(app, tokens=tokens)  # the pages check their own sign-in (a cookie)

    def is_open(path: str) -> bool:
        return path in OPEN_PATHS or not path.startswith(f"{API_PREFIX}/")

    app.add_middleware(Authenticate, tokens=tokens, open_paths=is_open)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(config.allowed_hosts))
    return app


#: The environment variable ``loopml server`` passes its options in to each worker.
SERVER_CONFIG_ENV = "LOOPML_SERVER_CONFIG"


def app_from_environment() -> FastAPI:
    """The app of one uvicorn worker of ``loopml server``: the store from the settings, the
    options from ``LOOPML_SERVER_CONFIG`` (JSON)."""
    import os

    import orjson

    from loopml.core.origin import Origin, client_name, set_process_origin
    from loopml.core.settings import resolve_settings
    from loopml.store.backend import open_backend

    options = orjson.loads(os.environ.get(SERVER_CONFIG_ENV) or "{}")
    set_process_origin(Origin(client=client_name("server")))  # what the server writes itself
    overrides = {"artifacts_url": options.get("artifacts_url")}  # --artifacts-destination
    backend = open_backend(resolve_settings(overrides))
    return create_app(
        backend,
        ServerConfig(
            auth=options.get("auth", "token"),
            max_body=int(options.get("max_body", DEFAULT_MAX_BODY)),
            allowed_hosts=tuple(options.get("allowed_hosts") or LOOPBACK_HOSTS),
        ),
    )
