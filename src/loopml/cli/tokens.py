"""``loopml tokens``: the API tokens of a loopml server, made on its host.

The CLI talks to the store directly, with the database's own credentials (``LOOPML_DB_URL``
or the embedded store): whoever can do that is the server's administrator, which is how the
first admin token is made. A token's text is printed once, alone on stdout (so
``TOKEN=$(loopml tokens create ...)`` captures it); the store keeps only its hash.
"""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from loopml.cli.render import when
from loopml.cli.state import state

app = typer.Typer(
    help="API tokens of a loopml server: create (shown once), list, revoke. Run on the "
    "server's host with the store's own credentials.",
    no_args_is_help=True,
)
console = Console()
err_console = Console(stderr=True)


@app.command("create")
def create(
    user: str = typer.Option(..., "--user", help="Who the token acts as."),
    role: str = typer.Option(..., "--role", help="viewer, editor, approver or admin."),
    expires: str = typer.Option("90d", "--expires", help="Lifetime: 12h, 90d, 2w, 1y, or never."),
    note: str = typer.Option("", "--note", help="What the token is for."),
) -> None:
    """Make a token and print it once (stdout); the store keeps only its hash."""
    from loopml.governance import TokenService

    tokens = TokenService(state.client().backend)
    issued = tokens.create(user=user, role=role, expires=expires, note=note)
    token = issued.token
    expiry = "never expires" if token.expires_at is None else f"expires {when(token.expires_at)}"
    err_console.print(
        f"Token {token.token_id} for user {token.user!r}, role {token.role.value}, {expiry}. "
        "It is shown once, now; keep it secret (the store keeps only its hash):",
        highlight=False,
    )
    typer.echo(issued.text)


@app.command("list")
def list_tokens(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List the tokens (never their text): id, user, role, created, last used, expiry, state."""
    from loopml.core.clock import now_ms
    from loopml.governance import TokenService

    found = TokenService(state.client().backend).list_tokens()
    now = now_ms()
    if as_json:
        console.print_json(json.dumps([{**t.to_dict(), "state": t.state(now)} for t in found]))
        return
    if not found:
        console.print("No tokens. Make one with `loopml tokens create --user NAME --role ROLE`.")
        return
    table = Table()
    for column in ("id", "user", "role", "created", "last used", "expires", "state", "note"):
        table.add_column(column, overflow="fold")
    for t in found:
        state_text = t.state(now)
        style = {"active": "green", "revoked": "red", "expired": "yellow"}[state_text]
        table.add_row(
            t.token_id[:12],
            t.user,
            t.role.value,
            when(t.created_at),
            when(t.last_used_at),
            "never" if t.expires_at is None else when(t.expires_at),
            f"[{style}]{state_text}[/]",
            t.note,
        )
    console.print(table)


@app.command("revoke")
def revoke(
    token_id: str = typer.Argument(..., help="The token's id, or a unique prefix of it."),
    reason: str = typer.Option("", "--reason", help="Why (recorded in the audit log)."),
) -> None:
    """Revoke a token: servers refuse it from then on (within 5 s of their cache)."""
    from loopml.governance import TokenService

    tokens = TokenService(state.client().backend)
    full = tokens.resolve(token_id)
    before = tokens.store.get(full)
    token = tokens.revoke(full, reason=reason)
    if before is not None and before[0].revoked_at is not None:
        console.print(
            f"Token {token.token_id} (user {token.user!r}) was already revoked at "
            f"{when(token.revoked_at)}; nothing changed."
        )
        return
    console.print(f"Revoked token {token.token_id} (user {token.user!r}, role {token.role.value}).")
