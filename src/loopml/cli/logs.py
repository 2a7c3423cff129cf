"""``loopml logs``: the prediction log's spool (``status``) and its compaction (``compact``)."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    help="The prediction log: spool folders of the model servers and their compaction.",
    no_args_is_help=True,
)
console = Console()


@app.command("status")
def status() -> None:
    """Show each spool folder: live (a running server holds it) or orphaned, its segments
    and bytes not yet in the log store."""
    from loopml.core.settings import resolve_settings
    from loopml.store.logs.orphans import describe, spool_folders

    settings = resolve_settings()
    root = settings.home / "spool"
    folders = [describe(f) for f in spool_folders(root)]
    console.print(f"spool: {root}\nlog store: {settings.logs_url}")
    if not folders:
        console.print("No spool folder: every logged prediction is in the log store.")
        return
    table = Table()
    for col in ("folder", "owner", "open segments", "sealed segments", "bytes"):
        table.add_column(col)
    for f in folders:
        owner = "live" if f.live else "orphaned"
        table.add_row(
            f.path.name, owner, str(f.open_segments), str(f.sealed_segments), f"{f.bytes:,}"
        )
    console.print(table)
    orphans = sum(not f.live for f in folders)
    if orphans:
        console.print(
            f"{orphans} orphaned folder(s) (no live process holds them: their server died, or "
            "closed without a log store): `loopml logs compact` moves their predictions into "
            "the log store (any server start does too)."
        )


@app.command("compact")
def compact() -> None:
    """Move the spool into the log store: every orphaned folder (of a dead server) whole,
    and the sealed segments of live ones; folders of running servers are otherwise left to
    them."""
    from loopml.core.settings import resolve_settings
    from loopml.store.logs.orphans import adopt_orphans, compact_sealed

    settings = resolve_settings()
    root = settings.home / "spool"
    report, adopted = adopt_orphans(root, settings.logs_url)
    sealed = compact_sealed(root, settings.logs_url)
    rows, segments = report.rows + sealed.rows, report.segments + sealed.segments
    console.print(
        f"Compacted {rows:,} prediction(s) from {segments} segment(s) into "
        f"{settings.logs_url} ({len(adopted)} orphaned folder(s) adopted)."
    )
    skipped = report.skipped_lines + sealed.skipped_lines
    if skipped:
        console.print(
            f"Skipped {skipped} torn line(s): the last write of a server that was killed."
        )
