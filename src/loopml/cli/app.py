"""The Typer application, global options and the one place errors become exit codes."""

from __future__ import annotations

import logging
import sys
import warnings
from typing import Any, TextIO

import typer
from rich.console import Console
from rich.markup import escape

from loopml import __version__
from loopml.cli import (
    agent,
    audit,
    data,
    deploy,
    doctor,
    evaluation,
    events,
    experiments,
    labels,
    logs,
    loop,
    model_explain,
    models,
    monitor,
    monitor_compare,
    pipelines,
    runs,
    server,
    serving,
    sweeps,
    tokens,
    ui,
)
from loopml.cli.state import state
from loopml.core.errors import InvalidArgumentError, LoopmlError, LoopmlWarning, NotFoundError
from loopml.core.origin import Origin, client_name, set_process_origin

app = typer.Typer(
    name="loopml",
    help="loopml: track, version, evaluate, serve and monitor tabular ML models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("init")(doctor.init)
app.command("doctor")(doctor.doctor)
app.add_typer(experiments.app, name="experiments")
app.add_typer(runs.app, name="runs")
app.add_typer(data.app, name="data")
app.add_typer(models.app, name="models")
models.app.command("explain")(model_explain.explain)
app.command("evaluate")(evaluation.evaluate_command)
app.command("gate")(evaluation.gate_command)
app.command("serve")(serving.serve_command)
app.command("server")(server.server_command)
app.command("ui")(ui.ui_command)
app.command("predict")(serving.predict_command)
app.add_typer(deploy.app, name="deploy")
app.add_typer(evaluation.app, name="evaluations")
app.add_typer(events.app, name="events")
app.add_typer(labels.app, name="labels")
app.add_typer(logs.app, name="logs")
monitor.app.command("compare")(monitor_compare.compare_command)
app.add_typer(monitor.app, name="monitor")
app.command("agent")(agent.agent_command)
app.add_typer(loop.app, name="loop")
app.add_typer(sweeps.app, name="sweep")
app.add_typer(pipelines.app, name="pipeline")
app.add_typer(tokens.app, name="tokens")
app.add_typer(audit.app, name="audit")

#: Exit codes: 1 an error from loopml, 2 bad usage or arguments, 3 not found (a run, a
#: model... or the store itself: a read outside any project creates nothing).
EXIT_ERROR, EXIT_USAGE, EXIT_NOT_FOUND = 1, 2, 3


def _version(value: bool) -> None:
    if value:
        typer.echo(f"loopml {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    state.debug = debug


def _click_errors(name: str) -> tuple[type[BaseException], ...]:
    """The exception class ``name`` of Click and of the Click copy Typer may bundle (Typer
    0.29 raises its own ``typer._click`` classes, which are not Click's)."""
    import click

    modules = {click.exceptions, sys.modules[typer.BadParameter.__module__]}
    return tuple({getattr(module, name) for module in modules if hasattr(module, name)})


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (also used by the ``loopml`` console script).

    loopml's warnings (:class:`~loopml.core.errors.LoopmlWarning`) are printed on stderr as
    ``warning: ...`` lines, and the registry's notes (which version a bare model name resolved
    to) as ``note: ...`` lines, each once per command. After the command's output (or its
    error), stderr says which store it used when that is not ``.loopml/`` of the working
    folder (see :mod:`loopml.cli.state`).
    """
    err = Console(stderr=True, soft_wrap=True)
    state.reset()
    notes = _Notes(err)
    registry_log = logging.getLogger("loopml.registry")
    level = registry_log.level
    registry_log.addHandler(notes)
    registry_log.setLevel(logging.INFO)
    origin = set_process_origin(Origin(client=client_name("cli")))  # the audit log's client
    try:
        code = _with_warnings(argv, err)
    finally:
        set_process_origin(origin)
        registry_log.removeHandler(notes)
        registry_log.setLevel(level)
    note = state.store_note()
    if note is not None:
        err.print(f"[dim]{escape(note)}[/]", highlight=False)
    return code


class _Notes(logging.Handler):
    """Prints INFO records (each message once) as ``note:`` lines."""

    def __init__(self, console: Console) -> None:
        super().__init__(logging.INFO)
        self.console = console
        self.seen: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if text not in self.seen:
            self.seen.add(text)
            self.console.print(f"[dim]note:[/] {escape(text)}", highlight=False)


def _with_warnings(argv: list[str] | None, err: Console) -> int:
    show = warnings.showwarning

    def show_warning(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> Any:
        if issubclass(category, LoopmlWarning):
            err.print(f"[bold yellow]warning:[/] {escape(str(message))}", highlight=False)
            return None
        return show(message, category, filename, lineno, file, line)

    with warnings.catch_warnings():
        warnings.simplefilter("default", LoopmlWarning)  # once per message and command
        warnings.showwarning = show_warning
        return _run(argv, err)


def _run(argv: list[str] | None, err: Console) -> int:
    try:
        # Without standalone mode, Click returns typer.Exit's code instead of raising it.
        result = app(args=argv, prog_name="loopml", standalone_mode=False)
        if isinstance(result, int) and not isinstance(result, bool):
            return result
    except _click_errors("Exit") as exc:
        return int(exc.exit_code)  # type: ignore[attr-defined]
    except _click_errors("ClickException") as exc:
        exc.show()  # type: ignore[attr-defined]
        return EXIT_USAGE
    except _click_errors("Abort"):
        err.print("Aborted.")
        return EXIT_ERROR
    except LoopmlError as exc:
        if state.debug:
            err.print_exception()
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        if isinstance(exc, NotFoundError):
            return EXIT_NOT_FOUND
        return EXIT_USAGE if isinstance(exc, InvalidArgumentError) else EXIT_ERROR
    except KeyboardInterrupt:
        err.print("Interrupted.")
        return 130
    except Exception as exc:
        if state.debug:
            err.print_exception()
        err.print(
            f"[bold red]internal error:[/] {type(exc).__name__}: {escape(str(exc))}\n"
            "Rerun with --debug for the traceback, and please report it.",
            highlight=False,
        )
        return EXIT_ERROR
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
