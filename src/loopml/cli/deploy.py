"""``loopml deploy``: create, set, show, history, list and delete deployment records, which
``loopml serve --deployment NAME`` follows live."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from loopml.cli.render import when
from loopml.core.entities.deployments import KEEP, Keep
from loopml.serving.config import DEFAULT_FALLBACK, DEFAULT_RUNTIME, parse_canary

if TYPE_CHECKING:
    from loopml.core.entities import Deployment, Event
    from loopml.registry import ModelRegistry
    from loopml.serving.deployments import DeploymentService

app = typer.Typer(
    help="Deployments: what model servers serve (champion, canary, shadows, fallback, "
    "guardrails), followed live by `loopml serve --deployment NAME`.",
    no_args_is_help=True,
)
console = Console()

_CHAMPION = typer.Option(None, "--champion", help="name@alias (followed) or name@version.")
_CANARY = typer.Option(None, "--canary", help="A canary and its share: name@challenger:10.")
_SHADOW = typer.Option(None, "--shadow", help="A shadow model: name@7 (repeat for several).")
_FALLBACK_HELP = (
    "previous (the champion alias's former version), a ref, value:JSON, "
    "python:module:function, or none."
)
_GUARDRAILS = typer.Option(
    None, "--guardrails", help="A YAML file of rules (as `loopml serve --guardrails`); stored."
)
_RUNTIME_HELP = "auto (a version's checked ONNX export when it has one), native or onnx."
_REASON = typer.Option("", "--reason", "-r", help="Why (recorded on the event).")


def _deployments() -> DeploymentService:
    from loopml.cli.state import state

    return state.client().deployments


def _fallback(value: str) -> str | None:
    return None if value.lower() == "none" else value


@app.command("create")
def create(
    name: str = typer.Argument(..., help="The deployment's name."),
    champion: str = typer.Option(..., "--champion", help="name@alias or name@version."),
    canary: str | None = _CANARY,
    shadow: list[str] | None = _SHADOW,
    fallback: str = typer.Option(DEFAULT_FALLBACK, "--fallback", help=_FALLBACK_HELP),
    guardrails: Path | None = _GUARDRAILS,
    runtime: str = typer.Option(DEFAULT_RUNTIME, "--runtime", help=_RUNTIME_HELP),
    reason: str = _REASON,
) -> None:
    """Create a deployment (every ref must exist; a canary alias not set yet is accepted at
    share 0)."""
    ref, share = parse_canary(canary) if canary else (None, 0.0)
    record = _deployments().create(
        name,
        champion=champion,
        canary=ref,
        canary_share=share,
        shadows=shadow or (),
        fallback=_fallback(fallback),
        guardrails=guardrails,
        runtime=runtime,
        reason=reason,
    )
    console.print(f"Created deployment {record.name}, version {record.version}:")
    _print_routes(record)


@app.command("set")
def set_command(
    name: str = typer.Argument(..., help="The deployment."),
    champion: str | None = _CHAMPION,
    canary: str | None = _CANARY,
    canary_share: float | None = typer.Option(
        None, "--canary-share", help="Resize the canary: its percent of the traffic."
    ),
    no_canary: bool = typer.Option(False, "--no-canary", help="Stop the canary."),
    shadow: list[str] | None = _SHADOW,
    no_shadows: bool = typer.Option(False, "--no-shadows", help="Remove every shadow."),
    fallback: str | None = typer.Option(None, "--fallback", help=_FALLBACK_HELP),
    guardrails: Path | None = _GUARDRAILS,
    no_guardrails: bool = typer.Option(False, "--no-guardrails", help="Drop the guardrails."),
    runtime: str | None = typer.Option(None, "--runtime", help=_RUNTIME_HELP),
    expected_version: int | None = typer.Option(
        None,
        "--expected-version",
        help="Refuse the change unless the deployment is at this version (the one you read).",
    ),
    reason: str = _REASON,
) -> None:
    """Change the options given (the others keep their value) as the next version; a
    server following the deployment applies it without a restart."""
    for flag, on, other, value in (
        ("--no-canary", no_canary, "--canary/--canary-share", canary or canary_share is not None),
        ("--no-shadows", no_shadows, "--shadow", shadow),
        ("--no-guardrails", no_guardrails, "--guardrails", guardrails),
    ):
        if on and value:
            raise typer.BadParameter(f"give {flag} or {other}, not both.", param_hint=flag)
    new_canary: str | Keep | None = KEEP
    share: float | Keep = KEEP if canary_share is None else canary_share
    if no_canary:
        new_canary = None
    elif canary is not None:
        new_canary, given = parse_canary(canary)
        if canary_share is not None and canary_share != given:
            raise typer.BadParameter(
                f"--canary gives the share {given:g} and --canary-share {canary_share:g}; "
                "give it once.",
                param_hint="--canary-share",
            )
        share = given
    deployments = _deployments()
    known = expected_version if expected_version is not None else deployments.get(name).version
    record = deployments.set(
        name,
        champion=KEEP if champion is None else champion,
        canary=new_canary,
        canary_share=share,
        shadows=() if no_shadows else shadow if shadow else KEEP,
        fallback=KEEP if fallback is None else _fallback(fallback),
        guardrails=None if no_guardrails else KEEP if guardrails is None else guardrails,
        runtime=KEEP if runtime is None else runtime,
        expected_version=expected_version,
        reason=reason,
    )
    if record.version == known:
        console.print(f"Deployment {record.name} already serves that (version {record.version}).")
    else:
        console.print(f"Deployment {record.name} is now version {record.version}:")
    _print_routes(record)


@app.command("show")
def show(
    name: str = typer.Argument(..., help="The deployment."),
    as_json: bool = typer.Option(False, "--json", help="Print the record as JSON."),
) -> None:
    """Show a deployment: its routes (and the versions their aliases point at now)."""
    deployments = _deployments()
    record = deployments.get(name)
    if as_json:
        console.print_json(json.dumps(record.to_dict()))
        return
    console.print(
        f"[bold]{escape(record.name)}[/]  version {record.version}  updated "
        f"{when(record.updated_at)} by {escape(record.updated_by)}  (created "
        f"{when(record.created_at)} by {escape(record.created_by)})"
    )
    _print_routes(record, registry=deployments.registry)


@app.command("history")
def history(
    name: str = typer.Argument(..., help="The deployment."),
    as_json: bool = typer.Option(False, "--json", help="Print the events as JSON."),
) -> None:
    """Every change of a deployment, oldest first: version, when, who, what, why."""
    events = _deployments().history(name)
    if as_json:
        console.print_json(json.dumps([e.to_dict() for e in events]))
        return
    table = Table()
    for col in ("version", "when", "change", "actor", "what changed", "reason"):
        table.add_column(col, overflow="fold")
    for event in events:
        table.add_row(
            str(event.data.get("version")),
            when(event.at),
            event.kind.removeprefix("deployment."),
            event.actor,
            escape(_changes(event)),
            escape(event.reason),
        )
    console.print(table)


@app.command("list")
def list_command(
    as_json: bool = typer.Option(False, "--json", help="Print the records as JSON."),
) -> None:
    """List deployments with their routes."""
    records = _deployments().list_deployments()
    if as_json:
        console.print_json(json.dumps([r.to_dict() for r in records]))
        return
    if not records:
        console.print(
            "No deployments yet. Create one with `loopml deploy create NAME --champion "
            "MODEL@champion`."
        )
        return
    table = Table()
    for col in ("deployment", "version", "champion", "canary", "shadows", "fallback", "updated"):
        table.add_column(col, overflow="fold")
    for r in records:
        table.add_row(
            r.name,
            str(r.version),
            r.champion,
            "" if r.canary is None else f"{r.canary.ref} {r.canary.share:g}%",
            ", ".join(r.shadows),
            r.fallback or "none",
            f"{when(r.updated_at)} by {r.updated_by}",
        )
    console.print(table)


@app.command("delete")
def delete(
    name: str = typer.Argument(..., help="The deployment."),
    reason: str = _REASON,
) -> None:
    """Delete a deployment (its history stays; servers following it keep their routes)."""
    record = _deployments().delete(name, reason=reason)
    console.print(f"Deleted deployment {record.name} (it was at version {record.version}).")


def _print_routes(record: Deployment, *, registry: ModelRegistry | None = None) -> None:
    """The record's routes, one per line (with ``registry``, what each alias points at)."""

    def ref(text: str) -> str:
        if registry is None or "@" not in text:
            return text
        from loopml.core.errors import LoopmlError

        try:
            found = registry.get(text).ref
        except LoopmlError:
            return f"{text} (not set)"
        return text if found == text else f"{text} -> {found}"

    console.print(f"  champion: {ref(record.champion)}")
    if record.canary is not None:
        console.print(f"  canary ({record.canary.share:g}%): {ref(record.canary.ref)}")
    for shadow in record.shadows:
        console.print(f"  shadow: {ref(shadow)}")
    fallback = record.fallback or "none"
    console.print(f"  fallback: {ref(fallback) if '@' in fallback else fallback}")
    console.print(f"  runtime: {record.runtime}")
    if record.guardrails:
        rules = record.guardrails
        console.print(
            f"  guardrails: {len(rules.get('inputs') or [])} input rule(s), "
            f"{len(rules.get('outputs') or [])} output rule(s)"
        )


def _changes(event: Event) -> str:
    """What a change did, field by field: ``canary: none -> m@challenger (0%)``."""
    before: dict[str, Any] = event.data.get("before") or {}
    after: dict[str, Any] = event.data.get("after") or {}
    if not before:
        return "; ".join(f"{k}: {_value(k, v)}" for k, v in after.items() if v not in (None, []))
    if not after:
        return "deleted"
    return "; ".join(
        f"{k}: {_value(k, before.get(k))} -> {_value(k, after.get(k))}"
        for k in event.data.get("changed") or []
    )


def _value(field: str, value: Any) -> str:
    if value is None or value == []:
        return "none"
    if field == "canary":
        return f"{value['ref']} ({float(value['share']):g}%)"
    if field == "shadows":
        return ", ".join(value)
    if field == "guardrails":
        inputs, outputs = len(value.get("inputs") or []), len(value.get("outputs") or [])
        return f"{inputs} input, {outputs} output rule(s)"
    return str(value)
