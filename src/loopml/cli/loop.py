"""``loopml loop``: what the agent did: the policies and their runs (``list``), a policy's
timeline of decisions with their reasons and evidence (``history``), one run (``status``)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from loopml.cli.render import duration, when

if TYPE_CHECKING:
    from loopml.automation import LoopService

app = typer.Typer(
    help="The closed loop: policies, loop runs and the timeline of their decisions.",
    no_args_is_help=True,
)
console = Console(highlight=False)

_STATUS_STYLE = {
    "running": "yellow",
    "awaiting_approval": "magenta",
    "promoted": "green",
    "rolled_back": "red",
    "rejected": "red",
    "failed": "bold red",
    "skipped": "dim",
}
_TITLE_STYLE = {"PROMOTED": "bold green", "ROLLED BACK": "bold red", "FAILED": "bold red"}


def _service() -> LoopService:
    from loopml.automation import LoopService
    from loopml.cli.state import state

    return LoopService(state.client().backend)


def _trigger(trigger: dict[str, object]) -> str:
    kind, value = next(iter(trigger.items()))
    if isinstance(value, dict):
        value = value.get("rule", "any")
    return f"{kind} {value}"


def _status(value: str) -> str:
    return f"[{_STATUS_STYLE.get(value, 'white')}]{value}[/]"


@app.command("list")
def list_runs(
    policy: str | None = typer.Option(None, "--policy", help="Only this policy's runs."),
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="The newest N runs."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List the policies agents run and their newest loop runs."""
    service = _service()
    policies = service.policies()
    runs = service.runs(policy=policy, limit=limit)
    if as_json:
        console.print_json(
            json.dumps(
                {"policies": [p.to_dict() for p in policies], "runs": [r.to_dict() for r in runs]}
            )
        )
        return
    if not policies:
        console.print("No policy has run yet. Start one with `loopml agent --policy FILE`.")
        return
    table = Table(title="policies")
    for col in ("policy", "model", "deployment", "triggers", "first run"):
        table.add_column(col)
    for p in policies:
        triggers = ", ".join(_trigger(t) for t in p.spec.get("triggers") or [])
        table.add_row(
            p.name,
            str(p.spec.get("model")),
            str(p.spec.get("deployment")),
            triggers,
            when(p.first_seen_at),
        )
    console.print(table)
    if not runs:
        console.print("No loop run yet: no trigger has fired since the policy first ran.")
        return
    table = Table(title="loop runs (newest first)")
    for col in ("run", "policy", "trigger", "status", "step", "challenger", "started", "updated"):
        table.add_column(col, overflow="fold")
    for r in runs:
        table.add_row(
            r.run_id[:12],
            r.policy,
            r.trigger_key,
            _status(r.status),
            r.step,
            str(r.state.get("challenger") or "-"),
            when(r.created_at),
            when(r.updated_at),
        )
    console.print(table)


@app.command("history")
def history(
    name: str = typer.Argument(..., help="The policy's name."),
    run: str | None = typer.Option(None, "--run", help="Only this run (id or prefix)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Tell a policy's timeline: every decision, its reason and its evidence."""
    entries = _service().history(name, run=run)
    if as_json:
        console.print_json(json.dumps([e.to_dict() for e in entries]))
        return
    if not entries:
        console.print(f"Policy {name!r} has made no decision yet.")
        return
    current = None
    for entry in entries:
        if entry.run_id != current:
            current = entry.run_id
            console.print(f"\n[bold]loop run {entry.run_id[:12]}[/]")
        style = _TITLE_STYLE.get(entry.title, "bold")
        console.print(
            f"  [dim]{when(entry.at)}[/]  [{style}]{escape(entry.title)}[/]  {escape(entry.reason)}"
        )
        for line in entry.evidence:
            console.print(f"      [dim]·[/] {escape(line)}")


@app.command("status")
def status(
    run: str = typer.Argument(..., help="The loop run's id (or a prefix of 4+ digits)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show one loop run: where it is, what it waits for, and each stored step."""
    found, steps = _service().status(run)
    if as_json:
        console.print_json(
            json.dumps({"run": found.to_dict(), "steps": [s.to_dict() for s in steps]})
        )
        return
    console.print(f"[bold]loop run {found.run_id}[/] of policy {found.policy}")
    console.print(f"  trigger     {escape(found.trigger_key)}")
    console.print(f"  status      {_status(found.status)} at step {found.step}")
    for key in ("data", "challenger", "champion", "evaluation"):
        if found.state.get(key):
            console.print(f"  {key:<11} {escape(str(found.state[key]))}")
    evidence = found.state.get("evidence") or {}
    if evidence:
        checked = when(evidence.get("checked_at"))
        console.print(f"  evidence    {escape(str(evidence.get('reason')))} ({checked})")
    for key in ("waiting", "last_error", "failure"):
        if found.state.get(key):
            console.print(f"  {key:<11} {escape(str(found.state[key]))}")
    if found.lease_holder:
        console.print(f"  lease       {found.lease_holder} until {when(found.lease_expires_at)}")
    table = Table(title="steps")
    for col in ("#", "step", "outcome", "agent", "started", "took"):
        table.add_column(col)
    for s in steps:
        table.add_row(
            str(s.seq),
            s.step,
            s.outcome,
            s.holder,
            when(s.started_at),
            duration(s.ended_at - s.started_at),
        )
    console.print(table)
