"""``loopml server``: the team server (the REST API over the configured store)."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import typer
from rich.console import Console

from loopml.serving.config import is_loopback

console = Console(stderr=True)

AUTH_MODES = ("token", "none")


def resolve_server_auth(auth: str, host: str) -> str:
    """``--auth``, checked: ``token`` (the default) anywhere, ``none`` on a loopback host
    only (one user on this machine)."""
    mode = auth.strip().lower()
    if mode not in AUTH_MODES:
        raise typer.BadParameter(
            f"must be one of {', '.join(AUTH_MODES)}; got {auth!r}.", param_hint="--auth"
        )
    if mode == "none" and not is_loopback(host):
        raise typer.BadParameter(
            f"--auth none is refused on --host {host}: anyone who can reach it could read and "
            "change everything. Keep --auth token (make tokens with `loopml tokens create`), "
            "or bind 127.0.0.1.",
            param_hint="--auth",
        )
    return mode


def resolve_artifacts_destination(url: str) -> str:
    """``--artifacts-destination``, checked before any worker starts: a local folder made
    absolute (workers resolve it alike), or an fsspec URL whose scheme is known."""
    from loopml.core.errors import LoopmlError
    from loopml.store.artifacts import open_artifact_store

    text = url.strip()
    if text and "://" not in text:
        text = str(Path(text).expanduser().absolute())
    try:
        open_artifact_store(text)
    except (LoopmlError, ImportError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--artifacts-destination") from exc
    return text


def server_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind."),
    port: int = typer.Option(5000, "--port", help="Port to bind."),
    workers: int = typer.Option(1, "--workers", min=1, help="Worker processes."),
    auth: str = typer.Option(
        "token",
        "--auth",
        help="token (every route needs an API token) or none (one user, loopback only).",
    ),
    max_body_mb: int = typer.Option(
        64, "--max-body-mb", min=1, help="Largest request body in MiB (larger: 413)."
    ),
    artifacts_destination: str | None = typer.Option(
        None,
        "--artifacts-destination",
        help="Where the artifact proxy stores blobs: a folder or any fsspec URL (s3://...). "
        "Default: the store's artifacts_url (LOOPML_ARTIFACTS_URL).",
    ),
    allowed_host: list[str] = typer.Option(
        [],
        "--allowed-host",
        help="A Host name the server answers to (repeat for more; default: the bound address, "
        "or the loopback names). Others get 400 (DNS rebinding).",
    ),
) -> None:
    """Serve the REST API (/api/v1, OpenAPI at /openapi.json, Swagger UI at /docs) and the
    web UI (/) over the configured store: PostgreSQL with LOOPML_DB_URL, or the embedded
    store."""
    mode = resolve_server_auth(auth, host)
    run_server(
        host=host,
        port=port,
        workers=workers,
        auth=mode,
        max_body=max_body_mb * 1024 * 1024,
        allowed_hosts=tuple(allowed_host),
        what="loopml server",
        artifacts_destination=artifacts_destination,
    )


def run_server(
    *,
    host: str,
    port: int,
    workers: int,
    auth: str,
    max_body: int,
    allowed_hosts: tuple[str, ...],
    what: str,
    artifacts_destination: str | None = None,
) -> None:
    """Run the REST app and the UI with uvicorn (``loopml server`` and ``loopml ui``)."""
    import uvicorn

    from loopml.api.rest.app import SERVER_CONFIG_ENV, allowed_hosts_for
    from loopml.api.server import count_active_tokens
    from loopml.cli.state import state

    mode = auth
    client = state.client()  # the store exists (made on the first start) and is current
    destination = resolve_artifacts_destination(
        artifacts_destination or client.settings.artifacts_url
    )
    hosts = allowed_hosts_for(host, allowed_hosts)
    options = {
        "auth": mode,
        "max_body": max_body,
        "artifacts_url": destination,
        "allowed_hosts": list(hosts),
    }
    os.environ[SERVER_CONFIG_ENV] = orjson.dumps(options).decode()
    shown = f"[{host}]" if ":" in host else host
    console.print(f"{what} on http://{shown}:{port}/ (API under /api/v1, {workers} worker(s))")
    console.print(f"  store: {client.settings.db_url.split('@')[-1]}")
    console.print(f"  artifacts: {destination}")
    if mode == "token":
        active = count_active_tokens()
        console.print(
            f"  auth: API tokens ({active} active)"
            + ("" if active else "; make one with `loopml tokens create --user NAME --role admin`")
        )
    else:
        console.print("  auth: none (every request acts as you, with the admin role)")
    if hosts == ("*",):
        console.print("  hosts: any (name them with --allowed-host to refuse others)")
    uvicorn.run(
        "loopml.api.rest.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )
