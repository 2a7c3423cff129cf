"""``loopml sweep``: run a hyperparameter sweep of an objective (``module:function``) and show
a sweep's trials and its best one."""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from loopml.cli.render import number
from loopml.cli.state import state
from loopml.core.errors import InvalidArgumentError

if TYPE_CHECKING:
    from loopml.pipelines import SweepResult, TrialRecord

app = typer.Typer(help="Hyperparameter sweeps with Optuna: run, show.", no_args_is_help=True)
console = Console(soft_wrap=True)
STATE_STYLE = {"COMPLETE": "green", "PRUNED": "yellow", "FAIL": "red"}


def load_objective(target: str) -> Callable[[Any], Any]:
    """The function ``module:function`` or ``path/to/file.py:function`` names.

    A file's module is sent to workers by value (cloudpickle), so they need not import it.

    Raises:
        InvalidArgumentError: A malformed target, a module that cannot be imported, or a
            name that is missing or not a function.
    """
    module_name, sep, attr = target.rpartition(":")
    if not sep or not module_name or not attr:
        raise InvalidArgumentError(
            f"The objective {target!r} must be given as module:function (e.g. "
            "train:objective, or path/to/train.py:objective)."
        )
    try:
        if module_name.endswith(".py"):
            module = _load_file(Path(module_name))
        else:
            if "" not in sys.path:
                sys.path.insert(0, "")  # the working folder, as `python -m` does
            module = importlib.import_module(module_name)
    except InvalidArgumentError:
        raise
    except Exception as exc:  # ImportError, or the module's own error on import
        raise InvalidArgumentError(
            f"Cannot import {module_name!r} for the objective {target!r} "
            f"({type(exc).__name__}: {exc}). Run from the folder that holds it, or give "
            "its file: path/to/train.py:objective."
        ) from None
    objective = getattr(module, attr, None)
    if not callable(objective):
        found = "has no attribute" if objective is None else "holds something not callable at"
        raise InvalidArgumentError(
            f"{module_name!r} {found} {attr!r}; the objective must be a function "
            "objective(trial) -> float defined in it."
        )
    return objective  # type: ignore[no-any-return]


def _load_file(path: Path) -> Any:
    import cloudpickle

    if not path.is_file():
        raise InvalidArgumentError(f"There is no file {str(path)!r} to load the objective from.")
    name = f"loopml_sweep_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise InvalidArgumentError(f"{str(path)!r} is not a Python file.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    cloudpickle.register_pickle_by_value(module)
    return module


def _quiet_optuna() -> None:
    """Keep Optuna's per-study INFO lines off the terminal (the command prints each trial)."""
    try:
        import optuna
    except ImportError:
        return  # sweep() raises the error with the pip line
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def _params(params: Any) -> str:
    return ", ".join(
        f"{k}={number(v) if isinstance(v, float) else v}" for k, v in sorted(params.items())
    )


def _trial_line(trial: TrialRecord) -> str:
    style = STATE_STYLE[trial.state]
    value = "" if trial.value is None else f" {number(trial.value)}"
    extra = f"  [red]{escape(trial.error)}[/]" if trial.error else ""
    return (
        f"trial {trial.number:>3}  [{style}]{trial.state:<8}[/]{value}  "
        f"[dim]{escape(_params(trial.params))}[/]{extra}"
    )


@app.command("run")
def run_command(
    objective: str = typer.Argument(
        ..., help="The objective: module:function or path/to/file.py:function."
    ),
    trials: int = typer.Option(..., "--trials", "-n", min=1, help="How many trials to start."),
    executor: str = typer.Option(
        "inprocess", "--executor", "-x", help="inprocess, process or ray."
    ),
    direction: str = typer.Option("maximize", "--direction", help="maximize or minimize."),
    experiment: str = typer.Option(None, "--experiment", "-e", help="Experiment of the sweep."),
    name: str = typer.Option(None, "--name", help="Name of the sweep's run."),
    parallelism: int = typer.Option(None, "--parallelism", "-p", min=1, help="Trials at once."),
    timeout: float = typer.Option(None, "--timeout", help="Start no trial after this many s."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Run a sweep: each trial a child run; prints each trial as it ends, then the best."""
    from loopml.client.fluent import activated
    from loopml.pipelines import sweep

    _quiet_optuna()
    function = load_objective(objective)
    client = state.client()
    result = sweep(
        function,
        n_trials=trials,
        executor=executor,
        direction=direction,
        experiment=experiment,
        name=name,
        parallelism=parallelism,
        timeout=timeout,
        settings=client.settings,
        activate=activated,
        on_trial=None if as_json else lambda t: console.print(_trial_line(t), highlight=False),
    )
    if as_json:
        console.print_json(json.dumps(result.to_dict()))
        return
    _summary(result)


@app.command("show")
def show_command(
    run_id: str = typer.Argument(..., help="The sweep's run id (or a unique prefix)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Show a sweep: its trials (state, value, params, run) and the best one."""
    from loopml.pipelines import read_sweep

    client = state.client()
    result = read_sweep(client.service, client.service.resolve_run_id(run_id))
    if as_json:
        console.print_json(json.dumps(result.to_dict()))
        return
    table = Table(title=f"sweep {result.run_id} ({result.direction})")
    for column, justify in (("trial", "right"), ("state", "left"), ("value", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    table.add_column("steps", justify="right")
    table.add_column("params")
    table.add_column("run id", style="dim", no_wrap=True)
    for trial in result.trials:
        table.add_row(
            str(trial.number),
            f"[{STATE_STYLE[trial.state]}]{trial.state}[/]",
            "" if trial.value is None else number(trial.value),
            str(trial.steps),
            escape(_params(trial.params)),
            trial.run_id or "",
        )
    console.print(table)
    _summary(result)


def _summary(result: SweepResult) -> None:
    counts = ", ".join(f"{n} {s.lower()}" for s, n in result.counts().items())
    console.print(f"{len(result.trials)} trials: {counts}.", highlight=False)
    if result.best_number < 0:
        console.print("[red]No trial completed.[/]")
        return
    best = result.best_trial
    console.print(
        f"best: trial {best.number}, value {number(result.best_value)} "
        f"({escape(_params(best.params))}), run {best.run_id}",
        highlight=False,
    )
    console.print(
        f"[dim]sweep run {result.run_id}; study {result.study_name} in {result.storage}[/]",
        highlight=False,
    )
