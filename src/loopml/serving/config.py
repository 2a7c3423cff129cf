"""What to serve and how: :class:`ServeConfig` and its defaults, defined once.

``loopml serve``'s options (:mod:`loopml.cli.serving`), the worker processes that rebuild the
config from them (:mod:`loopml.api.server`) and Python callers all take their defaults from
here. Standard library only, so the CLI can read the defaults without loading the server.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml.core.errors import InvalidArgumentError

if TYPE_CHECKING:
    from loopml.registry.loaded import RuntimeChoice
    from loopml.serving.fallbacks import Heuristic

#: The fallback when none is named: the version the champion's alias held before.
DEFAULT_FALLBACK = "previous"
#: Most rows per model call (1: no micro-batching).
DEFAULT_MAX_BATCH = 32
#: Longest a request waits for others to batch with (ms).
DEFAULT_MAX_WAIT_MS = 2.0
#: Seconds between checks of the aliases for moves (0: never).
DEFAULT_POLL_INTERVAL_S = 5.0
#: Worker threads running the models.
DEFAULT_THREADS = 4
#: ``auto``, ``native`` or ``onnx`` (see :class:`ServeConfig`).
DEFAULT_RUNTIME: RuntimeChoice = "auto"
#: Values of ``runtime`` (see :func:`loopml.registry.service.resolve_runtime`).
RUNTIMES: tuple[RuntimeChoice, ...] = ("auto", "native", "onnx")
#: Seconds between moves of the prediction log into the log store while serving.
DEFAULT_COMPACT_INTERVAL_S = 60.0
#: Where ``loopml serve`` listens by default.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
#: The environment variable carrying ``loopml serve``'s options to its worker processes.
CONFIG_ENV = "LOOPML_SERVE_CONFIG"

# Connection limits (see :class:`loopml.api.limits.ConnectionLimits`).
#: Seconds from a connection (or the next request's first byte) to the end of its headers.
DEFAULT_HEADER_TIMEOUT_S = 10.0
#: Seconds from the end of the headers to the end of the body.
DEFAULT_BODY_TIMEOUT_S = 30.0
#: Seconds an idle kept-alive connection stays open.
DEFAULT_KEEP_ALIVE_S = 5.0
#: Largest request line plus headers, in bytes.
DEFAULT_MAX_HEADER_BYTES = 64 * 1024
#: Most open connections per worker (0: from the file descriptor limit).
DEFAULT_MAX_CONNECTIONS = 0


@dataclass(frozen=True)
class ServeConfig:
    """How to serve a model.

    Attributes:
        model: The champion ref (``credit-default@champion``); empty when ``deployment``
            names the routes.
        canary: A canary ref and its share in percent, if any. At 0 % the ref may name an
            alias that does not exist yet (the canary route starts once it does).
        shadow: A shadow ref, or several, if any (each sees every request after the answer;
            logged only).
        fallback: ``previous`` (the version the champion's alias held before), a ref, a
            constant (``value:0``), a heuristic (``python:module:function``, or the function
            itself; see :mod:`loopml.serving.fallbacks`), or None.
        timeout_ms: Deadline of a model call (None: no deadline).
        max_batch: Most rows per model call (1: no micro-batching).
        max_wait_ms: Longest a request waits for others to batch with.
        poll_interval_s: How often aliases are checked for moves (0: never).
        spool_dir: Folder of the prediction log's spool (None: no logging).
        logs_url: Where the log is compacted to, as Parquet (None: leave it in the spool).
        threads: Worker threads running the models.
        guardrails: Input and output rules (a mapping or a YAML path; see
            :mod:`loopml.serving.guardrails`), or None.
        compact_interval_s: How often the log is moved into the log store while serving, so
            monitoring sees recent predictions (0: only at shutdown).
        freeze_heap: Move everything alive after start-up and after each hot swap (the
            loaded models, libraries) out of the cyclic garbage collector's sight
            (:func:`gc.freeze`), so its full collections stop rescanning them (its effect on
            the p99 latency under load: docs/benchmarks.md, serving ablations). For a process
            that only serves (``loopml serve`` sets it); objects alive at a freeze are never
            reclaimed by the cyclic collector.
        runtime: ``auto`` (each version's checked ONNX export when it has one, see
            ``loopml models export``, and onnxruntime is installed: faster on single rows,
            see docs/benchmarks.md; else the model's own library), ``native`` or ``onnx`` (the
            export, required).
        deployment: The name of a deployment record to serve instead of ``model`` and the
            route fields (``loopml serve --deployment NAME``): the routes, fallback,
            guardrails and runtime are the record's, read at start and checked every
            ``poll_interval_s``; a changed record is applied without a restart (see
            :mod:`loopml.serving.follower`).
    """

    model: str = ""
    canary: tuple[str, float] | None = None
    shadow: str | tuple[str, ...] | None = None
    fallback: str | Heuristic | None = DEFAULT_FALLBACK
    timeout_ms: float | None = None
    max_batch: int = DEFAULT_MAX_BATCH
    max_wait_ms: float = DEFAULT_MAX_WAIT_MS
    poll_interval_s: float = DEFAULT_POLL_INTERVAL_S
    spool_dir: Path | None = None
    logs_url: str | None = None
    threads: int = DEFAULT_THREADS
    guardrails: Mapping[str, Any] | str | Path | None = None
    runtime: RuntimeChoice = DEFAULT_RUNTIME
    compact_interval_s: float = DEFAULT_COMPACT_INTERVAL_S
    freeze_heap: bool = False
    deployment: str | None = None

    @property
    def shadows(self) -> tuple[str, ...]:
        """The shadow refs, in order (empty for none)."""
        if self.shadow is None:
            return ()
        return (self.shadow,) if isinstance(self.shadow, str) else tuple(self.shadow)


def parse_canary(text: str) -> tuple[str, float]:
    """Parse ``name@alias:10`` into the ref and its percent."""
    ref, sep, weight = text.rpartition(":")
    if not sep or not ref:
        raise InvalidArgumentError(
            f"A canary is 'ref:percent' (e.g. 'credit-default@challenger:10'). Got {text!r}."
        )
    try:
        percent = float(weight)
    except ValueError:
        raise InvalidArgumentError(
            f"The canary weight in {text!r} must be a number of percent (e.g. ':10')."
        ) from None
    return ref, percent


def check_runtime(value: object, *, field: str = "runtime") -> RuntimeChoice:
    """Return ``value`` if it is one of :data:`RUNTIMES`, else raise naming ``field``."""
    if not isinstance(value, str) or value not in RUNTIMES:
        raise InvalidArgumentError(
            f"The {field!r} must be one of {', '.join(RUNTIMES)}. Got {value!r} instead; "
            "'auto' serves a version's checked ONNX export when it has one."
        )
    return value


#: Values of ``loopml serve --auth``: no authentication, or API tokens from the store.
AUTH_MODES = ("none", "token")


def is_loopback(host: str) -> bool:
    """Whether ``host`` (what the server binds) is reachable from this machine only:
    ``localhost`` or a loopback address (127.0.0.0/8, ::1)."""
    text = host.strip().strip("[]").lower()
    if text == "localhost":
        return True
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:  # a host name: it may resolve anywhere
        return False


def resolve_auth(auth: str | None, host: str) -> str:
    """The authentication of a model server bound to ``host``: ``auth`` when given, else
    ``none`` on a loopback host (as before tokens existed) and ``token`` on any other.

    Raises:
        InvalidArgumentError: ``auth`` is not a mode, or is ``none`` on a host other machines
            can reach (anyone there could predict and post labels).
    """
    if auth is None:
        return "none" if is_loopback(host) else "token"
    mode = auth.strip().lower()
    if mode not in AUTH_MODES:
        raise InvalidArgumentError(
            f"--auth must be one of {', '.join(AUTH_MODES)}. Got {auth!r} instead."
        )
    if mode == "none" and not is_loopback(host):
        raise InvalidArgumentError(
            f"--auth none is refused on --host {host}: other machines could reach the server "
            "and predict or post labels without a token. Use --auth token (make tokens with "
            "`loopml tokens create`), or bind 127.0.0.1 and let a proxy on this host "
            "authenticate."
        )
    return mode
