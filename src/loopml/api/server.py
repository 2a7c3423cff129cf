"""Building the model server's app from the environment, for uvicorn's worker processes.

``loopml serve`` puts its options in ``LOOPML_SERVE_CONFIG`` (JSON) and starts uvicorn with
:func:`app_from_environment` as the app factory, so every worker process builds its own
service (its own model copies, its own prediction-log spool) from the same options.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI

from loopml.api.inference import create_app
from loopml.core.errors import InvalidArgumentError
from loopml.core.origin import Origin, client_name, set_process_origin
from loopml.core.settings import Settings, resolve_settings
from loopml.governance import TokenService
from loopml.governance.tokens import DEFAULT_CACHE_MS
from loopml.registry import ModelRegistry
from loopml.registry.refs import parse_model_ref
from loopml.serving import InferenceService
from loopml.serving.config import (
    CONFIG_ENV,
    DEFAULT_FALLBACK,
    DEFAULT_MAX_BATCH,
    DEFAULT_MAX_WAIT_MS,
    DEFAULT_POLL_INTERVAL_S,
    DEFAULT_RUNTIME,
    ServeConfig,
    parse_canary,
)
from loopml.serving.deployment import check_deployment, record_config
from loopml.serving.deployments import DeploymentService
from loopml.store.backend import open_backend


def config_from_options(
    options: dict[str, Any], settings: Settings, spool: Path | None
) -> ServeConfig:
    """The :class:`ServeConfig` ``loopml serve``'s options describe (an option left out
    takes :class:`ServeConfig`'s default)."""
    canary = options.get("canary")
    shadow = options.get("shadow")
    return ServeConfig(
        model=options.get("model") or "",
        deployment=options.get("deployment"),
        canary=parse_canary(canary) if canary else None,
        shadow=tuple(shadow) if isinstance(shadow, list) else shadow,
        fallback=options.get("fallback", DEFAULT_FALLBACK),
        timeout_ms=options.get("timeout_ms"),
        max_batch=int(options.get("max_batch", DEFAULT_MAX_BATCH)),
        max_wait_ms=float(options.get("max_wait_ms", DEFAULT_MAX_WAIT_MS)),
        poll_interval_s=float(options.get("poll_interval_s", DEFAULT_POLL_INTERVAL_S)),
        spool_dir=spool if options.get("log", True) else None,
        logs_url=settings.logs_url,
        guardrails=options.get("guardrails"),
        runtime=options.get("runtime", DEFAULT_RUNTIME),
        freeze_heap=True,  # this process only serves
    )


def check_options(options: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Check the deployment from metadata before any worker starts (see
    :func:`loopml.serving.deployment.check_deployment`); return (role, ref, runtime) per route.
    A deployment record is read and checked as it is now (its first line: its version)."""
    settings = resolve_settings()
    registry = ModelRegistry(open_backend(settings))
    config = config_from_options(options, settings, spool=None)
    if config.deployment is None:
        return check_deployment(registry, config)
    record = DeploymentService(registry).get(config.deployment)
    subject = f"Deployment {record.name!r}"
    routes = check_deployment(registry, record_config(record, config), subject=subject)
    return [("deployment", f"{record.name} version {record.version}", "-"), *routes]


def service_from_options(options: dict[str, Any]) -> InferenceService:
    """Build the service ``loopml serve`` describes (the spool is per process)."""
    settings = resolve_settings()
    backend = open_backend(settings)
    model = options.get("model")
    if not model:  # a deployment: its spool is named by the model it serves
        model = DeploymentService(ModelRegistry(backend)).get(options["deployment"]).champion
    spool = settings.home / "spool" / f"{parse_model_ref(model).name}-{os.getpid()}"
    return InferenceService(backend, config_from_options(options, settings, spool))


class _Announce(logging.StreamHandler):  # type: ignore[type-arg]
    """The serving log on stderr, one line each, with the worker's process id."""


def announce_serving_log() -> None:
    """Print what the service logs (what a hot swap serves now, its fallback; warnings) on
    stderr, as ``loopml serve`` prints its routes at start-up (once per process)."""
    log = logging.getLogger("loopml.serving")
    if not any(isinstance(h, _Announce) for h in log.handlers):
        handler = _Announce(sys.stderr)
        handler.setFormatter(logging.Formatter("[worker %(process)d] %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)


def app_from_environment() -> FastAPI:
    """The app for one uvicorn worker, from ``LOOPML_SERVE_CONFIG``."""
    raw = os.environ.get(CONFIG_ENV)
    if not raw:
        raise InvalidArgumentError(
            f"{CONFIG_ENV} is not set: start the server with `loopml serve NAME@ALIAS` (or "
            "`loopml serve --deployment NAME`)."
        )
    announce_serving_log()
    set_process_origin(Origin(client=client_name("serve")))  # what the server writes itself
    options = orjson.loads(raw)
    service = service_from_options(options)
    tokens = None
    if options.get("auth", "none") == "token":
        tokens = TokenService(service.registry.backend, cache_ms=DEFAULT_CACHE_MS)
    return create_app(service, tokens=tokens)


def count_active_tokens() -> int:
    """How many tokens of the store a server with ``--auth token`` would accept now."""
    from loopml.core.clock import now_ms

    backend = open_backend(resolve_settings())
    now = now_ms()
    return sum(t.state(now) == "active" for t in TokenService(backend).list_tokens())
