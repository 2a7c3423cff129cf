"""``loopml models``: list, show, versions, alias, approve, reject, rollback, lineage, export,
card."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from loopml.cli.render import size, when
from loopml.core.entities import AliasMove, ModelVersion

if TYPE_CHECKING:
    from loopml.registry import ModelRegistry

app = typer.Typer(
    help="Model registry: versions, aliases, approvals, rollback, lineage.", no_args_is_help=True
)
console = Console()


def _registry() -> ModelRegistry:
    from loopml.cli.state import state

    return state.client().models


_APPROVAL_STYLE = {"approved": "green", "rejected": "red", "pending": "yellow"}


def _approval(v: ModelVersion) -> str:
    status = v.approval.value
    return f"[{_APPROVAL_STYLE[status]}]{status}[/]"


@app.command("list")
def list_models() -> None:
    """List registered models with their latest version and aliases."""
    models = _registry().list_models()
    if not models:
        console.print(
            "No models yet. Register one with `run.log_model(model, 'name', ...)` or "
            "`loopml.models.register(...)`."
        )
        return
    table = Table()
    for col in ("model", "versions", "latest", "aliases", "first registered"):
        table.add_column(col)
    for m in models:
        aliases = ", ".join(f"{a}@{v}" for a, v in sorted(m.aliases.items()))
        table.add_row(m.name, str(m.versions), f"@{m.latest_version}", aliases, when(m.created_at))
    console.print(table)


@app.command("versions")
def versions(name: str = typer.Argument(..., help="Registered model name.")) -> None:
    """List every version of a model."""
    registry = _registry()
    found = registry.versions(name)
    aliases: dict[int, list[str]] = {}
    for alias, number in registry.aliases(name).items():
        aliases.setdefault(number, []).append(alias)
    table = Table()
    for col in ("version", "flavor", "task", "approval", "aliases", "train data", "run", "created"):
        table.add_column(col)
    for v in found:
        table.add_row(
            f"@{v.version}",
            v.flavor,
            v.signature.output.task.value,
            _approval(v),
            ", ".join(sorted(aliases.get(v.version, []))),
            v.training_data or "",
            (v.run_id or "")[:12],
            f"{when(v.created_at)} by {v.created_by}",
        )
    console.print(table)


@app.command("show")
def show(
    ref: str = typer.Argument(..., help="name@3, name@champion, name@latest or name"),
    as_json: bool = typer.Option(False, "--json", help="Print the version and manifest as JSON."),
) -> None:
    """Show a version: lineage, review, signature, package."""
    registry = _registry()
    v = registry.get(ref)
    manifest = registry.manifest(v)
    if as_json:
        console.print_json(json.dumps({"version": v.to_dict(), "manifest": manifest.to_dict()}))
        return
    aliases = [a for a, n in registry.aliases(v.name).items() if n == v.version]
    console.print(
        f"[bold]{v.ref}[/]  {v.flavor}  {v.signature.output.task.value}  {size(v.size_bytes)}  "
        f"registered {when(v.created_at)} by {v.created_by}"
        + (f"  aliases: {', '.join(aliases)}" if aliases else "")
    )
    review = _approval(v)
    if v.reviewer:
        review += f" by {v.reviewer} {when(v.reviewed_at or 0)}"
        if v.review_comment:
            review += f": {v.review_comment}"
    console.print(f"review: {review}")
    console.print(
        f"run {v.run_id or '-'}  train {v.training_data or '-'}  "
        f"validation {v.validation_data or '-'}  commit {(v.code_commit or '-')[:12]}"
    )
    if v.description:
        console.print(v.description)
    libraries = ", ".join(f"{k} {val}" for k, val in manifest.libraries.items())
    console.print(
        f"package: manifest {v.manifest_digest[:12]}, {len(manifest.files)} file(s), "
        f"Python {manifest.python_version}, loopml {manifest.loopml_version}"
        + (f", {libraries}" if libraries else "")
    )
    for export in v.exports:
        check = export.check
        console.print(
            f"export {export.format}: {export.manifest_digest[:12]}, checked on "
            f"{check.get('rows')} rows of {check.get('holdout')}, max abs diff "
            f"{check.get('max_abs_diff', 0):.2g} (tolerance {check.get('tolerance')})"
        )
    table = Table(title="signature")
    for col in ("input", "type", "role", "nullable", "categories"):
        table.add_column(col)
    for c in v.signature.inputs:
        cats = "" if c.categories is None else ", ".join(c.categories[:6])
        if c.categories is not None and (len(c.categories) > 6 or c.other_bucket):
            cats += ", ..."
        table.add_row(c.name, c.dtype, c.role.value, "yes" if c.nullable else "no", cats)
    console.print(table)
    out = v.signature.output
    classes = f", classes {list(out.classes)}" if out.classes else ""
    console.print(f"output: {out.dtype}{classes}" + (", predict_proba" if out.has_proba else ""))


def _print_move(move: AliasMove) -> None:
    before = "-" if move.from_version is None else f"@{move.from_version}"
    after = "removed" if move.to_version is None else f"@{move.to_version}"
    kind = "rolled back" if move.rollback else "moved"
    console.print(
        f"{move.name}@{move.alias} {kind}: {before} -> {after} by {move.actor}"
        + (f" ({move.reason})" if move.reason else "")
    )


@app.command("alias")
def alias(
    name: str = typer.Argument(..., help="Registered model name."),
    alias_name: str | None = typer.Argument(
        None, metavar="ALIAS", help="champion, challenger, ..."
    ),
    version: int | None = typer.Argument(None, help="The version the alias should point at."),
    reason: str = typer.Option("", "--reason", "-r", help="Why (kept in the audit log)."),
    remove: bool = typer.Option(False, "--remove", help="Remove the alias."),
) -> None:
    """Point an alias at a version, remove it, or (without ALIAS) show aliases and history."""
    registry = _registry()
    if alias_name is None:
        current = registry.aliases(name)
        if not current:
            console.print(f"{name} has no aliases. Set one: `loopml models alias {name} ALIAS N`.")
        for a, number in current.items():
            console.print(f"[bold]{name}@{a}[/] -> @{number}")
        table = Table(title="history")
        for col in ("when", "alias", "from", "to", "by", "reason"):
            table.add_column(col)
        for move in registry.alias_history(name):
            table.add_row(
                when(move.at),
                move.alias + (" (rollback)" if move.rollback else ""),
                "" if move.from_version is None else f"@{move.from_version}",
                "removed" if move.to_version is None else f"@{move.to_version}",
                move.actor,
                move.reason,
            )
        console.print(table)
        return
    if remove:
        _print_move(registry.remove_alias(name, alias_name, reason=reason))
        return
    if version is None:
        raise typer.BadParameter(
            f"give the version to point {name}@{alias_name} at (e.g. `loopml models alias "
            f"{name} {alias_name} 3`), or --remove."
        )
    _print_move(registry.set_alias(name, alias_name, version, reason=reason))


def _waiting_loops(registry: ModelRegistry, ref: str, what: str) -> None:
    """Say which loop runs waited for this review (``loopml agent`` acts on it); through a
    server (the registry is remote, no store here) the agent's host says it instead."""
    backend = getattr(registry, "backend", None)
    if backend is None:
        return
    for run in backend.loops.list_runs(statuses=("awaiting_approval",)):
        if run.state.get("challenger") == ref:
            console.print(
                f"Loop run {run.run_id[:12]} of policy {run.policy} was waiting for this "
                f"review: its agent {what} at its next tick."
            )


@app.command("approve")
def approve(
    ref: str = typer.Argument(..., help="name@3"),
    comment: str = typer.Option("", "--comment", "-m", help="Why (needed after a rejection)."),
) -> None:
    """Approve a version (required before it can become champion)."""
    registry = _registry()
    v = registry.approve(ref, comment=comment)
    console.print(f"{v.ref} approved by {v.reviewer}")
    _waiting_loops(registry, v.ref, "promotes the version")


@app.command("reject")
def reject(
    ref: str = typer.Argument(..., help="name@3"),
    comment: str = typer.Option(..., "--comment", "-m", help="Why it is rejected."),
) -> None:
    """Reject a version, saying why."""
    registry = _registry()
    v = registry.reject(ref, comment=comment)
    console.print(f"{v.ref} rejected by {v.reviewer}: {v.review_comment}")
    _waiting_loops(registry, v.ref, "takes the version off its deployment")


@app.command("rollback")
def rollback(
    name: str = typer.Argument(..., help="Registered model name."),
    reason: str = typer.Option(..., "--reason", "-r", help="Why (kept in the audit log)."),
    alias_name: str = typer.Option("champion", "--alias", help="The alias to roll back."),
) -> None:
    """Move champion back to the version it held before (again: further back)."""
    _print_move(_registry().rollback(name, reason=reason, alias=alias_name))


@app.command("lineage")
def lineage(
    ref: str | None = typer.Argument(None, help="name@3 or name@champion"),
    dataset: str | None = typer.Option(
        None, "--dataset", help="Reverse: the models trained or validated on this dataset."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Show version -> run -> datasets -> commit, or (--dataset) the models from a dataset."""
    registry = _registry()
    if dataset is not None:
        found = registry.models_from_dataset(dataset)
        if as_json:
            rows = [{"model": v.ref, "role": role} for v, role in found]
            console.print_json(json.dumps(rows))
            return
        if not found:
            console.print(f"No model version was trained or validated on {dataset}.")
        for v, role in found:
            console.print(f"{v.ref}  ({role}, {_approval(v)})")
        return
    if ref is None:
        raise typer.BadParameter("give a model ref (name@3) or --dataset NAME@N.")
    line = registry.lineage(ref)
    if as_json:
        console.print_json(json.dumps(line.to_dict()))
        return
    v = line.version
    label = v.ref + (f" ({', '.join(line.aliases)})" if line.aliases else "")
    tree = Tree(f"[bold]{label}[/] {v.flavor}, {_approval(v)}")
    if line.run is None:
        run_node = tree.add("run: none" if v.run_id is None else f"run {v.run_id} (purged)")
    else:
        run_node = tree.add(f"run {line.run.run_id[:12]} {line.run.name} ({line.run.status})")
    for ds, role in line.datasets:
        node = run_node.add(f"{role}: {ds.ref} ({ds.rows:,} rows, sha256 {ds.content_hash[:12]})")
        for parent in ds.parents:
            node.add(f"from {parent}")
    run_node.add(f"commit {line.commit or 'unknown'}")
    console.print(tree)


@app.command("export")
def export(
    ref: str = typer.Argument(..., help="name@3 (a scikit-learn model)"),
    holdout: str | None = typer.Option(
        None, "--holdout", help="Dataset ref of held-out rows (default: the validation data)."
    ),
    tolerance: float = typer.Option(1e-5, "--tolerance", help="Allowed prediction difference."),
    rows: int = typer.Option(2000, "--rows", help="Held-out rows to check."),
) -> None:
    """Export to ONNX, accepted only if it predicts like the original on held-out rows."""
    with console.status(f"Converting {ref} to ONNX and checking it ..."):
        v = _registry().export_onnx(ref, holdout=holdout, tolerance=tolerance, rows=rows)
    export_ = v.export("onnx")
    assert export_ is not None
    check = export_.check
    console.print(
        f"Exported {v.ref} to ONNX ({export_.manifest_digest[:12]}): matches the original on "
        f"{check['rows']} rows of {check['holdout']} (max abs diff {check['max_abs_diff']:.2g}, "
        f"tolerance {check['tolerance']}). `loopml serve` serves it from now on (--runtime "
        "auto); in Python, load it with runtime='onnx'."
    )


@app.command("card")
def card(
    ref: str = typer.Argument(..., help="name@3, name@champion, name@latest or name"),
    format: str = typer.Option("md", "--format", help="md (Markdown) or html (one offline page)."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write the card to this file instead of printing it."
    ),
) -> None:
    """Write a version's model card: intended use, data, evaluation, slices, fairness, gate
    results, limitations, lineage, approvals and explanations, from the store."""
    from loopml.client.models import card as compose
    from loopml.governance.cards import check_card_format

    text = compose(ref, format=check_card_format(format))
    if output is None:
        typer.echo(text, nl=False)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    console.print(f"Wrote the model card of {ref} ({format}) to {output}.", highlight=False)
