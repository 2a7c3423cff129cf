"""``loopml serve`` (the model server) and ``loopml predict`` (batch scoring of a file)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import orjson
import typer
from rich.console import Console

from loopml.serving.config import (
    CONFIG_ENV,
    DEFAULT_BODY_TIMEOUT_S,
    DEFAULT_FALLBACK,
    DEFAULT_HEADER_TIMEOUT_S,
    DEFAULT_HOST,
    DEFAULT_KEEP_ALIVE_S,
    DEFAULT_MAX_BATCH,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_HEADER_BYTES,
    DEFAULT_MAX_WAIT_MS,
    DEFAULT_POLL_INTERVAL_S,
    DEFAULT_PORT,
    DEFAULT_RUNTIME,
    RUNTIMES,
    resolve_auth,
)

if TYPE_CHECKING:
    from loopml.registry.loaded import RuntimeChoice

console = Console(stderr=True)


def _runtime(value: str) -> RuntimeChoice:
    """``--runtime``, checked."""
    if value not in RUNTIMES:
        raise typer.BadParameter(
            f"{value!r} is not a runtime; use one of {', '.join(RUNTIMES)}.",
            param_hint="--runtime",
        )
    return value  # narrowed to a RuntimeChoice by the check above


def serve_command(
    model: str | None = typer.Argument(
        None, help="The champion: name@alias (followed) or name@version (or --deployment)."
    ),
    deployment: str | None = typer.Option(
        None,
        "--deployment",
        help="Serve a deployment record instead of MODEL and the route options, and follow "
        "its changes live (checked every --poll seconds).",
    ),
    canary: str | None = typer.Option(
        None, "--canary", help="A canary and its share: name@challenger:10."
    ),
    shadow: list[str] | None = typer.Option(
        None, "--shadow", help="A shadow model: name@9 (repeat for several)."
    ),
    fallback: str = typer.Option(
        DEFAULT_FALLBACK,
        "--fallback",
        help="previous (the alias's former version), a ref, value:JSON (a constant answer), "
        "python:module:function (a heuristic of the rows), or none.",
    ),
    host: str = typer.Option(DEFAULT_HOST, "--host"),
    auth: str | None = typer.Option(
        None,
        "--auth",
        help="token (requests need `Authorization: Bearer <token>`, see `loopml tokens`) or "
        "none. Default: none on a loopback host, token on any other (where none is refused).",
    ),
    port: int = typer.Option(DEFAULT_PORT, "--port"),
    workers: int = typer.Option(1, "--workers", help="Server processes."),
    timeout_ms: float | None = typer.Option(None, "--timeout-ms", help="Model call deadline."),
    max_batch: int = typer.Option(
        DEFAULT_MAX_BATCH, "--max-batch", help="Rows per model call (1: no batching)."
    ),
    max_wait_ms: float = typer.Option(
        DEFAULT_MAX_WAIT_MS, "--max-wait-ms", help="Wait for a batch to fill."
    ),
    poll: float = typer.Option(
        DEFAULT_POLL_INTERVAL_S, "--poll", help="Seconds between alias checks (0: never)."
    ),
    no_log: bool = typer.Option(False, "--no-log", help="Do not log predictions."),
    runtime: str = typer.Option(
        DEFAULT_RUNTIME,
        "--runtime",
        help="auto (a version's checked ONNX export when it has one, else its own library), "
        "native, or onnx.",
    ),
    guardrails: Path | None = typer.Option(
        None, "--guardrails", help="Input/output rules (YAML): reject, clip or fall back."
    ),
    header_timeout: float = typer.Option(
        DEFAULT_HEADER_TIMEOUT_S,
        "--header-timeout",
        help="Seconds to receive a request's headers (408 after).",
    ),
    body_timeout: float = typer.Option(
        DEFAULT_BODY_TIMEOUT_S,
        "--body-timeout",
        help="Seconds to receive a request's body (408 after).",
    ),
    keep_alive: float = typer.Option(
        DEFAULT_KEEP_ALIVE_S,
        "--keep-alive",
        help="Seconds an idle kept-alive connection stays open.",
    ),
    max_header_bytes: int = typer.Option(
        DEFAULT_MAX_HEADER_BYTES,
        "--max-header-bytes",
        help="Largest request line and headers (431 beyond).",
    ),
    max_connections: int = typer.Option(
        DEFAULT_MAX_CONNECTIONS,
        "--max-connections",
        help="Open connections per worker (0: the file descriptor limit less 64); the "
        "longest-waiting idle or half-sent one is closed to make room.",
    ),
) -> None:
    """Serve a model, or a deployment record it follows live, over HTTP (Open Inference
    Protocol, /predict, /metrics)."""
    import uvicorn

    _runtime(runtime)
    _model_or_deployment(model, deployment, canary, shadow, fallback, guardrails, runtime)
    auth_mode = resolve_auth(auth, host)

    from loopml.api.limits import ConnectionLimits, uvicorn_options
    from loopml.api.server import check_options, count_active_tokens

    limits = ConnectionLimits(
        header_timeout_s=header_timeout,
        body_timeout_s=body_timeout,
        keep_alive_s=keep_alive,
        max_header_bytes=max_header_bytes,
        max_connections=max_connections,
    )

    config = {
        "model": model,
        "deployment": deployment,
        "canary": canary,
        "shadow": shadow or None,
        "fallback": None if fallback.lower() == "none" else fallback,
        "timeout_ms": timeout_ms,
        "max_batch": max_batch,
        "max_wait_ms": max_wait_ms,
        "poll_interval_s": poll,
        "log": not no_log,
        "runtime": runtime,
        "guardrails": None if guardrails is None else str(guardrails.resolve()),
        "limits": limits.to_options(),
        "auth": auth_mode,
    }
    routes = check_options(config)  # every ref, runtime and rule, before any worker starts
    os.environ[CONFIG_ENV] = orjson.dumps(config).decode()
    following = f", following deployment {deployment}" if deployment else ""
    console.print(f"Serving on http://{host}:{port} ({workers} worker(s){following}):")
    for role, ref, kind in routes:
        console.print(f"  {role}: {ref}" + ("" if kind == "-" else f", {kind} runtime"))
    if auth_mode == "token":
        active = count_active_tokens()
        console.print(
            f"  auth: API tokens ({active} active; health and /metrics open)"
            + ("" if active else ": make one with `loopml tokens create --user NAME --role viewer`")
        )
    uvicorn.run(
        "loopml.api.server:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        **uvicorn_options(limits),
    )


def _model_or_deployment(
    model: str | None,
    deployment: str | None,
    canary: str | None,
    shadow: list[str] | None,
    fallback: str,
    guardrails: Path | None,
    runtime: str,
) -> None:
    """Exactly one of MODEL and --deployment; a deployment's routes come from its record."""
    if (model is None) == (deployment is None):
        raise typer.BadParameter(
            "give a model ref (`loopml serve credit-default@champion`) or a deployment "
            "(`loopml serve --deployment credit`), not " + ("both." if model else "neither."),
            param_hint="MODEL / --deployment",
        )
    given = [
        option
        for option, value in (
            ("--canary", canary),
            ("--shadow", shadow),
            ("--guardrails", guardrails),
            ("--fallback", None if fallback == DEFAULT_FALLBACK else fallback),
            ("--runtime", None if runtime == DEFAULT_RUNTIME else runtime),
        )
        if value
    ]
    if deployment is not None and given:
        raise typer.BadParameter(
            f"the deployment {deployment!r} names its own routes, fallback, guardrails and "
            f"runtime; drop {', '.join(given)} and change the record instead (`loopml deploy "
            f"set {deployment} ...`): the server follows it live.",
            param_hint="--deployment",
        )


def predict_command(
    model: str = typer.Argument(..., help="name@alias or name@version"),
    source: Path = typer.Argument(..., help="Input rows: a Parquet or CSV file."),
    out: Path = typer.Option(..., "--out", "-o", help="Output Parquet file."),
    batch_size: int = typer.Option(50_000, "--batch-size", help="Rows per chunk."),
    no_log: bool = typer.Option(False, "--no-log", help="Do not log predictions."),
    runtime: str = typer.Option(
        "native",
        "--runtime",
        help="native (the model's library), onnx (its checked export), or auto (the export "
        "when there is one, as `loopml serve`).",
    ),
    timestamp_column: str | None = typer.Option(
        None,
        "--timestamp-column",
        help="A column of each row's event time (ISO 8601, naive = UTC, or epoch ms), "
        "logged as the row's event time.",
    ),
    id_column: str | None = typer.Option(
        None,
        "--id-column",
        help="A column of each row's own id (unique in the file), logged with the row; "
        "labels can join on it later.",
    ),
    executor: str = typer.Option(
        "inprocess",
        "--executor",
        help="Where the chunks are scored: inprocess (here, one after the other), process "
        "(a local process pool) or ray (a local Ray, or LOOPML_RAY_ADDRESS's cluster).",
    ),
    max_workers: int | None = typer.Option(
        None, "--max-workers", help="Processes (process) or CPUs of a local Ray (ray)."
    ),
) -> None:
    """Score a file in chunks (with a progress bar), logging like the server."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from loopml.cli.state import state
    from loopml.compute import get_executor
    from loopml.registry.service import resolve_runtime
    from loopml.serving.batch import score_file

    client = state.client()
    version = client.models.get(model)
    chosen = resolve_runtime(version, _runtime(runtime))
    try:
        pool = get_executor(executor, max_workers=max_workers, settings=client.settings)
    except ImportError as exc:  # Ray asked for and not installed: say how, before scoring
        raise typer.BadParameter(str(exc), param_hint="--executor") from None
    with (
        pool,
        Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as bar,
    ):
        where = "" if pool.name == "inprocess" else f" on {pool.name} x{pool.parallelism}"
        task = bar.add_task(
            f"Scoring {source.name} with {version.ref} ({chosen}){where}", total=None
        )

        def advance(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        rows = score_file(
            client.models,
            version.ref,
            source,
            out,
            batch_size=batch_size,
            log=not no_log,
            on_progress=advance,
            runtime=chosen,
            timestamp_column=timestamp_column,
            id_column=id_column,
            executor=pool,
        )
    console.print(f"Wrote {rows:,} predictions of {version.ref} ({chosen} runtime) to {out}")
