"""``loopml audit``: check the hash-chained audit log, print its head, show its entries,
put an existing log under a key (``rekey``).

``verify`` exits 0 with the number of entries when the chain is intact, 1 naming the first
entry that is not (its seq, event id, kind and what is wrong). With ``LOOPML_AUDIT_KEY`` set
the hashes are checked as HMACs. ``head`` prints ``SEQ:HASH`` of the last entry, to keep
somewhere the database's writers cannot reach; ``verify --anchor SEQ:HASH`` then finds a log
cut short after it.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from loopml.cli.render import when
from loopml.cli.state import state
from loopml.core.errors import InvalidArgumentError

app = typer.Typer(
    help="The audit log: verify its hash chain, print its head for anchoring, show entries.",
    no_args_is_help=True,
)
console = Console()


@app.command("verify")
def verify(
    anchor: str | None = typer.Option(
        None,
        "--anchor",
        help="SEQ:HASH from an earlier `loopml audit head`: it must still be in the log.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Walk the chain; exit 1 naming the first edited, deleted or reordered entry."""
    from loopml.governance import parse_anchor, verify_chain

    expected = None if anchor is None else parse_anchor(anchor)
    client = state.client()
    report = verify_chain(client.backend.events, key=client.settings.audit_key, anchor=expected)
    if as_json:
        console.print_json(json.dumps(report.to_dict()))
    elif report.problem is None:
        how = "HMAC-SHA-256 with LOOPML_AUDIT_KEY" if report.keyed else "SHA-256, no key"
        head = f", head {report.head_seq}:{report.head_hash}" if report.entries else ""
        console.print(
            f"[green]intact[/]: {_entries(report.entries)} checked ({how}){head}"
            + (f"; anchor {expected.seq} matched" if expected else ""),
            highlight=False,
        )
    else:
        p = report.problem
        named = f"seq {p.seq}" + (f", event {p.event_id} ({p.kind})" if p.event_id else "")
        console.print(
            f"[bold red]{p.problem}[/]: entry {named}: {escape(p.detail)} "
            f"({_entries(report.entries)} before it "
            f"{'checks' if report.entries == 1 else 'check'} out.)",
            highlight=False,
        )
    if not report.intact:
        raise typer.Exit(1)


@app.command("rekey")
def rekey(
    old_key_file: Path | None = typer.Option(
        None,
        "--old-key-file",
        help="A file holding the key the log is under now (default: none, plain SHA-256).",
    ),
) -> None:
    """Put the log under LOOPML_AUDIT_KEY: check every entry under the old key (or none), hash
    it again under the new one, in one transaction, and record it (audit.rechained)."""
    from loopml.core.settings import current_user
    from loopml.governance import rechain

    client = state.client()
    if not client.settings.audit_key:
        raise InvalidArgumentError(
            "loopml audit rekey puts the log under LOOPML_AUDIT_KEY: set it to the new key in "
            "this process's environment (and in every process that writes the store)."
        )
    old_key = None
    if old_key_file is not None:
        try:
            old_key = old_key_file.read_text(encoding="utf-8").strip() or None
        except OSError as exc:
            raise InvalidArgumentError(
                f"--old-key-file {old_key_file} cannot be read ({exc.strerror or exc})."
            ) from None
    count = rechain(client.backend.events, old_key=old_key, actor=current_user(client.settings))
    console.print(
        f"Re-chained {_entries(count)} under LOOPML_AUDIT_KEY (from "
        f"{'the old key' if old_key else 'plain SHA-256'}); `loopml audit verify` checks them "
        "with the key from now on."
    )


@app.command("head")
def head(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Print the last entry as SEQ:HASH, to record outside the database (an anchor)."""
    entry = state.client().backend.events.head()
    if as_json:
        console.print_json(json.dumps(None if entry is None else entry.to_dict()))
        return
    if entry is None:
        console.print("The audit log is empty.")
        return
    typer.echo(f"{entry.seq}:{entry.hash}")


@app.command("show")
def show(
    after: int | None = typer.Option(
        None, "--after", min=0, help="Entries after this seq (default: the newest --limit)."
    ),
    limit: int = typer.Option(50, "--limit", "-n", min=1, help="At most this many."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show chain entries by seq: who, what, when, from which client and address."""
    events = state.client().backend.events
    if after is None:  # the newest entries by default
        last = events.head()
        after = max(0, (last.seq if last else 0) - limit)
    entries = events.entries(after=after, limit=limit)
    if as_json:
        console.print_json(json.dumps([e.to_dict() for e in entries]))
        return
    if not entries:
        console.print("No entries.")
        return
    table = Table()
    for column in ("seq", "when", "kind", "subject", "actor", "client", "address", "hash"):
        table.add_column(column, overflow="fold")
    for e in entries:
        ev = e.event
        table.add_row(
            str(e.seq),
            when(ev.at),
            ev.kind,
            ev.subject,
            ev.actor,
            ev.client or "-",
            ev.address or "-",
            e.hash[:12],
        )
    console.print(table)


def _entries(count: int) -> str:
    return f"{count:,} entr{'y' if count == 1 else 'ies'}"
