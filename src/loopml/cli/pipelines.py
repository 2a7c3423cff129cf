"""``loopml pipeline``: run a pipeline (with its progress per step), list pipeline runs, show
one with its steps, cache keys, hits, seconds and outputs."""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from loopml.cli.render import duration, status, when
from loopml.cli.state import state
from loopml.core.errors import InvalidArgumentError, NotFoundError, did_you_mean

if TYPE_CHECKING:
    from loopml.core.entities import Run
    from loopml.pipelines import Pipeline, PipelineRun, StepResult

app = typer.Typer(help="Pipelines: run one, list their runs, show a run.", no_args_is_help=True)
console = Console()

#: Tags read here (written by loopml.pipelines.cache and driver_steps).
_PIPELINE, _STEP = "loopml.pipeline", "loopml.step"


@app.command("run")
def run_command(
    target: str = typer.Argument(
        ..., help="The pipeline: module:function (importable from here) or path.py:function."
    ),
    executor: str = typer.Option(
        "inprocess",
        "--executor",
        help="Where steps run: inprocess (here, one after the other), process (a local "
        "process pool: independent steps in parallel) or ray (a local Ray, or "
        "LOOPML_RAY_ADDRESS's cluster).",
    ),
    force: bool = typer.Option(False, "--force", help="Run every step, cached or not."),
    param: list[str] = typer.Option(
        None,
        "--param",
        "-p",
        help="A pipeline parameter, name=value (repeatable). The value is read as JSON when "
        "it is JSON (5, 0.1, true, [1, 2]), else as text.",
    ),
    max_workers: int | None = typer.Option(
        None, "--max-workers", help="Processes (process) or CPUs of a local Ray (ray)."
    ),
    experiment: str | None = typer.Option(
        None, "--experiment", "-e", help="Experiment of the run (default: the pipeline's name)."
    ),
) -> None:
    """Run a pipeline, showing each step as it goes (hit or run, its key, its seconds)."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from loopml.pipelines.runner import run_pipeline

    pipeline = load_pipeline(target)
    params = pipeline.bind(parse_params(param or []))
    settings = state.client().settings
    with Progress(
        SpinnerColumn(finished_text=" "),
        TextColumn("{task.description}"),
        TextColumn("{task.fields[what]}"),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        tasks: dict[str, Any] = {}

        def on_step(name: str, event: str, result: StepResult | None) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(escape(name), total=1, what="")
            task = tasks[name]
            if event == "running":
                bar.update(task, what="[yellow]running[/]")
            elif event == "retrying":
                bar.update(task, what="[yellow]retrying[/]")
            elif result is not None:
                bar.update(task, completed=1, what=_step_line(result))
                bar.stop_task(task)

        result = run_pipeline(
            pipeline,
            params,
            executor=executor,
            force=force,
            max_workers=max_workers,
            experiment=experiment,
            settings=settings,
            on_step=on_step,
        )
    _summary(result)


def _step_line(result: StepResult) -> str:
    if result.status == "FAILED":
        return f"[red]failed[/] {escape(result.error or '')}"
    hit = "[cyan]cache hit[/]" if result.cache_hit else "[green]ran[/]"
    return f"{hit}  key {result.cache_key[:12]}  {result.seconds:.2f}s"


def _summary(result: PipelineRun) -> None:
    hits = result.cache_hits
    console.print(
        f"Pipeline [bold]{escape(result.pipeline)}[/] {status(result.status.value)} in "
        f"{result.seconds:.2f}s on {result.executor}: {len(result.steps)} steps, {hits} "
        f"from the cache.  run [dim]{result.run_id}[/]"
        + (f"  (resumed {result.resumed_from})" if result.resumed_from else "")
    )
    if result.output_refs is not None:
        console.print(f"outputs: {escape(_describe(state.client(), result.output_refs))}")


def load_pipeline(target: str) -> Pipeline:
    """The pipeline ``module:function`` or ``path.py:function`` names.

    The module is imported from the working folder (as ``python -m`` does), a file by its
    path; either way its functions travel to workers by value (cloudpickle), so workers do
    not need to import it.

    Raises:
        InvalidArgumentError: A malformed target, a module that fails to import, or an
            attribute that is not a ``@loopml.pipeline``.
        NotFoundError: No such file, or no such attribute (with the closest pipeline).
    """
    import cloudpickle

    from loopml.pipelines import Pipeline

    source, _, attr = target.rpartition(":")
    if not source or not attr:
        raise InvalidArgumentError(
            f"The pipeline {target!r} must be module:function or path.py:function, e.g. "
            "'flows.train:train' or 'flows/train.py:train'."
        )
    module = _import_file(Path(source)) if source.endswith(".py") else _import_module(source)
    if not module.__name__.startswith("loopml."):
        cloudpickle.register_pickle_by_value(module)
    found = getattr(module, attr, None)
    if found is None:
        pipelines = [k for k, v in vars(module).items() if isinstance(v, Pipeline)]
        raise NotFoundError(
            f"{source} has no {attr!r}; its pipelines are {', '.join(pipelines) or 'none'}."
            f"{did_you_mean(attr, pipelines)}"
        )
    if not isinstance(found, Pipeline):
        raise InvalidArgumentError(
            f"{target} is a {type(found).__name__}, not a pipeline: decorate the function "
            "with @loopml.pipeline."
        )
    return found


def _import_file(path: Path) -> Any:
    if not path.is_file():
        raise NotFoundError(f"No file {path} (relative paths start at {Path.cwd()}).")
    name = f"loopml_pipeline_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise InvalidArgumentError(f"{path} cannot be imported as a Python module.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)  # its own imports of modules beside it
    spec.loader.exec_module(module)
    return module


def _import_module(name: str) -> Any:
    here = str(Path.cwd())
    if here not in sys.path:
        sys.path.insert(0, here)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        raise InvalidArgumentError(
            f"Cannot import the module {name!r} ({exc}). Run the command from the folder "
            "that holds it, or give a path: path/to/file.py:function."
        ) from None


def parse_params(items: list[str]) -> dict[str, Any]:
    """``name=value`` pairs as a dict; each value JSON when it parses, else text.

    Raises:
        InvalidArgumentError: An item without ``=`` or a name given twice.
    """
    params: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise InvalidArgumentError(
                f"--param {item!r} must be name=value, e.g. --param n_estimators=200."
            )
        if name in params:
            raise InvalidArgumentError(f"--param {name} is given twice; give it once.")
        try:
            params[name] = json.loads(text)
        except ValueError:
            params[name] = text
    return params


@app.command("list")
def list_command(
    pipeline: str | None = typer.Option(None, "--pipeline", help="Only this pipeline's runs."),
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="At most this many runs."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List pipeline runs, newest first."""
    client = state.client()
    where = f"tags.`{_PIPELINE}` is not null"
    if pipeline is not None:
        where = f"tags.`{_PIPELINE}` = '{pipeline.replace(chr(39), '')}'"
    runs = client.search_runs(filter=where, limit=limit, output="runs")
    if as_json:
        console.print_json(json.dumps([r.to_dict() for r in runs]))
        return
    if not runs:
        console.print("No pipeline runs" + (f" of {pipeline!r}." if pipeline else "."))
        return
    table = Table()
    for column in ("run id", "pipeline", "status", "started", "duration", "cache hits"):
        table.add_column(column, no_wrap=column == "run id")
    table.add_column("executor")
    for run in runs:
        table.add_row(
            run.run_id,
            escape(run.tags.get(_PIPELINE, "")),
            status(run.status.value),
            when(run.start_time),
            duration(run.duration_ms),
            run.tags.get("loopml.pipeline.cache_hits", "-"),
            run.tags.get("loopml.pipeline.executor", "-"),
        )
    console.print(table)


@app.command("show")
def show_command(
    run_id: str = typer.Argument(..., help="A pipeline run id, or a unique prefix of it."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Show a pipeline run: its steps (hit or ran, key, seconds, run), outputs and lineage."""
    client = state.client()
    run = client.get_run(client.service.resolve_run_id(run_id))
    if _PIPELINE not in run.tags:
        raise InvalidArgumentError(
            f"Run {run.run_id} is not a pipeline run (it has no {_PIPELINE} tag); list them "
            "with `loopml pipeline list`."
        )
    steps = client.search_runs(
        filter=f"attributes.parent_run_id = '{run.run_id}'",
        order_by=["attributes.start_time asc"],
        output="runs",
    )
    outputs = _outputs_of(client, run)
    if as_json:
        data = {
            "run": run.to_dict(),
            "steps": [s.to_dict() for s in steps],
            "outputs": outputs,
        }
        console.print_json(json.dumps(data))
        return
    console.print(
        f"[bold]{escape(run.tags[_PIPELINE])}[/]  {status(run.status.value)}  [dim]{run.run_id}[/]"
    )
    console.print(
        f"started {when(run.start_time)}  duration {duration(run.duration_ms)}  executor "
        f"{run.tags.get('loopml.pipeline.executor', '-')}  cache hits "
        f"{run.tags.get('loopml.pipeline.cache_hits', '-')}"
        + (
            f"  resumed {run.tags['loopml.pipeline.resumed_from']}"
            if "loopml.pipeline.resumed_from" in run.tags
            else ""
        )
    )
    if run.params:
        console.print("params: " + escape(", ".join(f"{k}={v}" for k, v in run.params.items())))
    if run.error:
        console.print(f"[red]error:[/] {escape(run.error.splitlines()[0])}")
    rows = [_step_row(step) for step in steps]
    lineage = any(row[-1] != "-" for row in rows)
    table = Table()
    for column in ("step", "status", "cache", "key", "seconds", "run", "outputs"):
        table.add_column(column, no_wrap=column in ("key", "run"))
    if lineage:
        table.add_column("lineage")
    for row in rows:
        table.add_row(*(row if lineage else row[:-1]))
    console.print(table)
    if outputs is not None:
        console.print(f"outputs: {escape(_describe(client, outputs))}")


def _step_row(step: Run) -> list[str]:
    tags = step.tags
    hit = tags.get("loopml.step.cache_hit") == "true"
    seconds = step.metrics.get("seconds")
    outputs = "-"
    if "loopml.step.outputs" in tags:
        stored = json.loads(tags["loopml.step.outputs"])
        outputs = ", ".join(f"{o['type']} {o['digest'][:12]}" for o in stored)
    lineage = ", ".join(
        f"{word} {tags[key]}"
        for word, key in (("read", "loopml.step.read"), ("wrote", "loopml.step.wrote"))
        if key in tags
    )
    error = step.error.strip().splitlines()[-1] if step.error else ""
    return [
        escape(tags.get(_STEP, step.name)),
        status(step.status.value),
        ("hit" if hit else "ran") if step.status.value == "FINISHED" else "-",
        tags.get("loopml.step.cache_key", "")[:12],
        "-" if seconds is None else f"{seconds:.2f}",
        step.run_id[:12],
        escape(outputs if not error else f"{outputs} {error}".strip(" -")),
        escape(lineage or "-"),
    ]


def _outputs_of(client: Any, run: Run) -> Any:
    from loopml.pipelines.runner import OUTPUTS_FILE

    try:
        return json.loads(client.read_artifact(run.run_id, OUTPUTS_FILE))
    except NotFoundError:
        return None


def _describe(client: Any, resolved: Any) -> str:
    """What a pipeline returned, in one line: JSON values as they are, others by type and
    digest (not loaded)."""
    from loopml.pipelines.returns import describe_returns
    from loopml.pipelines.values import StoredValue, load_value

    def show(stored: StoredValue) -> str:
        if stored.kind == "json" and stored.size <= 200:
            return json.dumps(load_value(client.backend.artifacts, stored))
        return f"<{stored.type} {stored.digest[:12]}>"

    return describe_returns(resolved, show)
