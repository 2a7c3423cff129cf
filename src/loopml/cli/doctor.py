"""``loopml init`` and ``loopml doctor``: set up a store, and check the configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from loopml.core.errors import NotFoundError
from loopml.core.settings import HOME_DIRNAME, SECRETS, VARIABLES, resolve_settings
from loopml.store.backend import open_backend, store_location

#: Exit code of ``loopml doctor`` when there is no store to check (as for any read).
EXIT_NO_STORE = 3

console = Console()


def init(
    path: Path = typer.Argument(Path("."), help="Project folder to create .loopml/ in."),
) -> None:
    """Create an embedded store (.loopml/) in a project folder."""
    root = path.resolve()
    home = root / HOME_DIRNAME
    existed = home.is_dir()
    settings = resolve_settings({"home": home}, cwd=root)
    backend = open_backend(settings)
    facts = backend.tracking.describe()
    verb = "Using existing" if existed else "Created"
    console.print(f"{verb} loopml store at [bold]{home}[/]")
    console.print(f"  metadata:  {settings.db_url} (schema {facts.get('schema_revision', '?')})")
    console.print(f"  artifacts: {settings.artifacts_url}")
    console.print("Next: `with loopml.start_run(experiment='demo') as run: ...` in this folder.")


def _check(label: str, probe: Any) -> tuple[str, bool, str]:
    try:
        facts = probe()
        text = ", ".join(f"{k}={v}" for k, v in facts.items())
        ok = str(facts.get("writable", "true")).lower() != "false"
        return label, ok, text
    except Exception as exc:
        return label, False, f"{type(exc).__name__}: {exc}"


def doctor() -> None:
    """Print the resolved configuration and check each store (creating none).

    The artifact check reports partial writes: ``.part`` files of killed writers removed
    when the store was opened, and writes in progress. Exit code 1 when a check fails, 3
    when there is no store yet.
    """
    settings = resolve_settings()
    table = Table(title="loopml configuration", title_justify="left")
    table.add_column("setting")
    table.add_column("variable", style="dim")
    table.add_column("value")
    table.add_column("from", style="cyan")
    for var in VARIABLES:
        value = getattr(settings, var.name)
        if var.name in SECRETS and value is not None:
            value = "(set, not shown)"
        table.add_row(var.name, var.env, str(value), settings.sources.get(var.name, "derived"))
    console.print(table)
    console.print(
        f"project root: {settings.project_root}"
        + (f" (read {settings.project_file})" if settings.project_file else "")
    )
    checks = Table(title="store checks", title_justify="left")
    checks.add_column("store")
    checks.add_column("status")
    checks.add_column("details", overflow="fold")
    if settings.server_url:  # the SDK and the CLI talk to a server, which holds the store
        console.print(f"server: {settings.server_url} (LOOPML_SERVER_URL)")
        results = _server_checks(settings.server_url, settings.token)
    else:
        console.print(f"store: {store_location(settings)}")
        try:
            backend = open_backend(settings, create=False)
            results = [
                _check("metadata", backend.tracking.describe),
                _check("artifacts", backend.artifacts.describe),
            ]
        except NotFoundError as exc:
            console.print(f"[yellow]{exc}[/]")
            raise typer.Exit(EXIT_NO_STORE) from None
        except Exception as exc:
            results = [("metadata + artifacts", False, f"{type(exc).__name__}: {exc}")]
    for label, ok, text in results:
        checks.add_row(label, "[green]ok[/]" if ok else "[red]FAILED[/]", text)
    console.print(checks)
    if not all(ok for _, ok, _ in results):
        raise typer.Exit(1)


def _server_checks(url: str, token: str | None) -> list[tuple[str, bool, str]]:
    """Check a ``loopml server``: that it answers (its version), and that it accepts the
    token (an authenticated read); no store is opened here."""
    from loopml.client.remote.connection import shared_transport

    transport = shared_transport(url, token)

    def answers() -> dict[str, Any]:
        facts: dict[str, Any] = transport.request("GET", "/health").json()
        return {"url": transport.url, **facts}

    def accepts() -> dict[str, Any]:
        experiments = transport.request("GET", "/experiments").json()
        return {"token": "set" if token else "none", "experiments": len(experiments)}

    return [_check("server", answers), _check("token", accepts)]
