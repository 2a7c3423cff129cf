"""``loopml ui``: the web UI (and the REST API under it) over the configured store."""

from __future__ import annotations

import typer

from loopml.cli.server import resolve_server_auth, run_server
from loopml.serving.config import is_loopback


def ui_command(
    port: int = typer.Option(5000, "--port", help="Port to bind."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind."),
    auth: str = typer.Option(
        None,
        "--auth",
        help="none (the default on a loopback address: no token, you as admin) or token "
        "(sign in with an API token; the default elsewhere).",
    ),
    allowed_host: list[str] = typer.Option(
        [],
        "--allowed-host",
        help="A Host name the UI answers to (repeat for more); others get 400.",
    ),
) -> None:
    """Open the web UI on http://127.0.0.1:5000: experiments, runs, models, events. On a
    loopback address it needs no token (every page acts as you); elsewhere pages ask for an
    API token (`loopml tokens create`)."""
    mode = resolve_server_auth(auth or ("none" if is_loopback(host) else "token"), host)
    run_server(
        host=host,
        port=port,
        workers=1,
        auth=mode,
        max_body=64 * 1024 * 1024,
        allowed_hosts=tuple(allowed_host),
        what="loopml ui",
    )
