"""``loopml models explain``: a version's global feature importance, computed and recorded on
the version (a progress bar while the permutations are scored), then the top features."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from loopml.cli.models import console
from loopml.core.entities import ModelExplanation


def explain(
    ref: str = typer.Argument(..., help="name@3 (or an alias)"),
    data: str | None = typer.Option(
        None, "--data", help="Dataset ref of labelled rows (default: the validation data)."
    ),
    target: str | None = typer.Option(
        None, "--target", help="The label column (default: the dataset's target)."
    ),
    method: list[str] = typer.Option(
        [], "--method", help="permutation and/or shap (default: both where they apply)."
    ),
    rows: int = typer.Option(2000, "--rows", help="Rows sampled (seeded), at most."),
    repeats: int = typer.Option(5, "--repeats", help="Shuffles per column."),
    seed: int = typer.Option(0, "--seed", help="Seeds the sample and the shuffles."),
    top: int = typer.Option(10, "--top", help="Features printed per method."),
) -> None:
    """Compute a version's feature importance (permutation; SHAP for tree and linear
    models) on labelled rows and record it on the version."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from loopml.cli.state import state

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(f"Shuffling the columns of {escape(ref)}", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        found = state.client().models.explain(
            ref,
            data=data,
            target=target,
            methods=method or None,
            rows=rows,
            repeats=repeats,
            seed=seed,
            progress=progress,
        )
    for explanation in found:
        console.print(_title(explanation))
        console.print(_table(explanation, top))


def _title(found: ModelExplanation) -> str:
    details = found.details
    if found.method == "permutation":
        what = f"drop of {details.get('scoring')} (baseline {details.get('baseline_score', 0):.4g})"
    else:
        what = f"mean |SHAP| of the {details.get('output')} ({details.get('explainer')})"
    return escape(
        f"{found.model}: {found.method} importance on {found.rows} rows of "
        f"{found.dataset or 'the rows passed'}: {what}"
    )


def _table(found: ModelExplanation, top: int) -> Table:
    table = Table()
    for column in ("feature", "importance", "±"):
        table.add_column(column, justify="left" if column == "feature" else "right")
    for feature in found.top(top):
        table.add_row(escape(feature.feature), f"{feature.importance:.4g}", f"{feature.spread:.2g}")
    return table
