""":class:`InferenceService`: the model server without the web: routing between champion and
canary, shadow traffic, fallbacks, deadlines, hot swap, micro-batching and the prediction log.

The HTTP face is :mod:`loopml.api.inference`; this class is what it calls, and what the
benchmarks call in-process to measure the server's own overhead.

One request:

1. route: ``canary`` for ``percent`` % of the traffic (sticky by request key), else
   ``champion``;
2. check the input against the routed model's signature (an error names the column and is
   the caller's fault: 422);
3. predict through that model's micro-batcher, within the deadline;
4. when the model raises or misses the deadline: answer from the fallback (the version the
   champion alias held before, another ref, or nothing: then the error is the server's, 503,
   unless the model refused the rows' values, a ``ValueError`` or an arithmetic error, which
   is the caller's: 422). Within a micro-batch, a failing batch is rerun request by request,
   so one request's rows never fail another's;
5. log every row (inputs, output, version, route, latency, time) to the prediction log, off
   the request path;
6. after answering, hand the same rows to the shadow model (its answer is only logged).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pandas as pd

from loopml.core.entities import ModelVersion
from loopml.core.errors import (
    GuardrailRejectedError,
    InvalidArgumentError,
    ModelUnavailableError,
    RowsRejectedError,
)
from loopml.registry import ModelRegistry
from loopml.registry import aliases as alias_log
from loopml.registry.loaded import RuntimeChoice
from loopml.registry.refs import parse_model_ref
from loopml.registry.service import resolve_runtime
from loopml.serving.batcher import BatchOutput, MicroBatcher
from loopml.serving.fallbacks import (
    DeclaredFallback,
    Heuristic,
    declared_fallback,
    is_declared,
)
from loopml.serving.guardrails import Guardrails
from loopml.serving.large import LOG_CHUNK, OFFLOAD_ROWS, log_records, off_loop, row_count
from loopml.serving.metrics import ServingMetrics
from loopml.serving.routing import CANARY, CHAMPION, FALLBACK, SHADOW, Router
from loopml.serving.slot import ModelSlot, Served, Watcher
from loopml.store.backend import Backend

_log = logging.getLogger("loopml.serving")


#: Exceptions of a model's library that blame the values it was given, not the model (a
#: numeric RuntimeWarning is one where warnings are made errors).
_ROW_ERRORS = (ValueError, ArithmeticError, RuntimeWarning)


@dataclass(frozen=True)
class ServeConfig:
    """How to serve a model.

    Attributes:
        model: The champion ref (``credit-default@champion``).
        canary: A canary ref and its share in percent, if any.
        shadow: A shadow ref, if any (sees every request after the answer; logged only).
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
            (:func:`gc.freeze`), so its full collections stop rescanning them: under 32
            concurrent clients this cut the p99 latency threefold. For a process that only
            serves (``loopml serve`` sets it); objects alive at a freeze are never
            reclaimed by the cyclic collector.
        runtime: ``auto`` (each version's checked ONNX export when it has one, see
            ``loopml models export``, and onnxruntime is installed: several times faster on
            single rows; else the model's own library), ``native`` or ``onnx`` (the export,
            required).
    """

    model: str
    canary: tuple[str, float] | None = None
    shadow: str | None = None
    fallback: str | Heuristic | None = "previous"
    timeout_ms: float | None = None
    max_batch: int = 32
    max_wait_ms: float = 2.0
    poll_interval_s: float = 5.0
    spool_dir: Path | None = None
    logs_url: str | None = None
    threads: int = 4
    guardrails: Mapping[str, Any] | str | Path | None = None
    runtime: RuntimeChoice = "auto"
    compact_interval_s: float = 60.0
    freeze_heap: bool = False


@dataclass(frozen=True)
class PredictionResult:
    """The answer to one request.

    Attributes:
        ids: One prediction id per row (32 hex digits; the log's key, for joining labels).
        predictions: One prediction per row (JSON-ready).
        proba: Class probabilities per row (``{label: p}``), or None.
        model: The model name.
        version: The version that answered.
        route: ``champion``, ``canary`` or ``fallback``.
        latency_ms: Time spent in the service.
        reason: Why the fallback answered, if it did.
    """

    ids: tuple[str, ...]
    predictions: list[Any]
    proba: list[dict[str, float]] | None
    model: str
    version: int
    route: str
    latency_ms: float
    reason: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


def _plain(values: np.ndarray) -> list[Any]:
    return [v.item() if isinstance(v, np.generic) else v for v in values.tolist()]


class InferenceService:
    """Serve one model (with its canary, shadow and fallback) from a backend.

    Args:
        backend: The stores the registry is read from.
        config: What to serve.
        seed: Seed of the canary's random choice for requests without a key.
    """

    def __init__(self, backend: Backend, config: ServeConfig, *, seed: int | None = None) -> None:
        self.config = config
        self.registry = ModelRegistry(backend)
        self.metrics = ServingMetrics()
        self.name = parse_model_ref(config.model).name
        self._pool = ThreadPoolExecutor(max_workers=config.threads, thread_name_prefix="loopml")
        self.router = Router(config.canary[1] if config.canary else 0.0, seed=seed)
        self.slots: dict[str, ModelSlot] = {
            CHAMPION: ModelSlot(
                self.registry,
                config.model,
                role=CHAMPION,
                runtime=config.runtime,
                on_swap=self._swapped,
            )
        }
        if config.canary is not None:
            self.slots[CANARY] = ModelSlot(
                self.registry,
                config.canary[0],
                role=CANARY,
                runtime=config.runtime,
                on_swap=self._swapped,
            )
        if config.shadow is not None:
            self.slots[SHADOW] = ModelSlot(self.registry, config.shadow, role=SHADOW)
        self._declared: DeclaredFallback | None = None
        if config.fallback is not None and is_declared(config.fallback):
            classes = self.slots[CHAMPION].current.classes
            self._declared = declared_fallback(config.fallback, name=self.name, classes=classes)
        fallback = fallback_ref(self.registry, config)
        if fallback is not None:
            self.slots[FALLBACK] = ModelSlot(self.registry, fallback, role=FALLBACK)
        self._batchers: dict[int, tuple[Served, MicroBatcher]] = {}
        self._watcher = Watcher(list(self.slots.values()), config.poll_interval_s)
        self._log = self._open_log(config)
        self.guardrails = guardrails_for(
            self.registry, config, self.slots[CHAMPION].current.model.version
        )
        self._shadow_tasks: set[asyncio.Future[None]] = set()  # and large logs
        self._stopping = threading.Event()
        self._compactor: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    @staticmethod
    def _open_log(config: ServeConfig) -> Any:
        if config.spool_dir is None:
            return None
        from loopml.store.logs import PredictionLog

        return PredictionLog(Path(config.spool_dir))

    def start(self) -> None:
        """Start watching aliases for moves, and compacting the log every
        ``compact_interval_s``."""
        if self.config.freeze_heap:
            _freeze_heap()
        self._watcher.start()
        interval = self.config.compact_interval_s
        if self._log is not None and self.config.logs_url is not None:  # adopts orphans first
            self._compactor = threading.Thread(
                target=self._compact_every,
                args=(interval,),
                name="loopml-log-compactor",
                daemon=True,
            )
            self._compactor.start()

    def _compact_every(self, interval: float) -> None:
        while True:
            try:
                self.compact_log()
            except Exception as exc:  # compaction is retried next time; serving goes on
                _log.warning("Could not compact the prediction log: %s", exc)
            if interval <= 0 or self._stopping.wait(interval):
                return

    def compact_log(self) -> int:
        """Seal the current spool segment and move every closed one into the log store, with
        the folders of dead processes next to it; return the rows moved."""
        if self._log is None or self.config.logs_url is None or self.config.spool_dir is None:
            return 0
        from loopml.store.logs.orphans import compact_with_orphans

        self._log.rotate()
        return compact_with_orphans(Path(self.config.spool_dir), self.config.logs_url)

    async def stop(self) -> None:
        """Finish shadow work, stop watching, flush and compact the log."""
        await asyncio.sleep(0)  # the log records of the last answers are built
        if self._shadow_tasks:
            await asyncio.gather(*self._shadow_tasks, return_exceptions=True)
        for _served, batcher in self._batchers.values():
            await batcher.close()
        self._stopping.set()
        if self._compactor is not None:
            self._compactor.join(timeout=30)
        self._watcher.stop()
        self._pool.shutdown(wait=True)
        self.close_log()

    def close_log(self) -> None:
        """Flush the prediction log and compact it into the log store."""
        if self._log is None:
            return
        self._log.close()
        if self.config.logs_url is not None and self.config.spool_dir is not None:
            from loopml.store.logs.compaction import compact
            from loopml.store.logs.orphans import remove_if_done

            compact(Path(self.config.spool_dir), self.config.logs_url)
            remove_if_done(Path(self.config.spool_dir))

    def _swapped(self, old: Served | None, new: Served) -> None:
        self.metrics.swaps.labels(role=CHAMPION).inc()
        _log.info("Now serving %s (was %s)", new.ref, old.ref if old else None)
        if self.config.freeze_heap:
            _freeze_heap()

    # -- predict ---------------------------------------------------------------------------

    def ready(self) -> bool:
        """Whether the champion is loaded."""
        return CHAMPION in self.slots

    def _batcher(self, served: Served) -> MicroBatcher:
        entry = self._batchers.get(id(served))
        if entry is not None and entry[0] is served:
            return entry[1]
        # A version new here (start-up, or a swap): drop the batchers of versions no slot
        # serves any more, so swapped-out models can be freed (requests still in flight
        # finish on the batcher they hold; its task ends when idle).
        live = {id(slot.current) for slot in self.slots.values()}
        for key in [k for k in self._batchers if k not in live]:
            del self._batchers[key]
        batcher = MicroBatcher(
            served.run,
            max_batch=self.config.max_batch,
            max_wait_ms=self.config.max_wait_ms,
            executor=self._pool,
            on_batch=self.metrics.batch_rows.observe,
        )
        self._batchers[id(served)] = (served, batcher)
        return batcher

    async def _call(self, served: Served, frame: pd.DataFrame) -> BatchOutput:
        call = self._batcher(served).submit(frame)
        if self.config.timeout_ms is None:
            return await call
        return await asyncio.wait_for(call, self.config.timeout_ms / 1000)

    async def predict(self, data: Any, *, key: str | None = None) -> PredictionResult:
        """Answer one request; see the module docstring for the steps.

        Raises:
            InvalidArgumentError: The input breaks the signature (names the column).
            ModelUnavailableError: The model failed and there is no fallback.
            RowsRejectedError: The model (and the fallback) refused these rows' values.
        """
        started = time.perf_counter()
        route = self.router.route(key)
        served = self.slots[route].current
        big = row_count(data) >= OFFLOAD_ROWS  # see serving/large.py
        try:
            frame = await off_loop(big, self._pool, partial(served.model.prepare, data))
        except InvalidArgumentError:
            self.metrics.errors.labels(kind="invalid").inc()
            raise
        reason: str | None = None
        failure: Exception | None = None
        if self.guardrails is not None:
            try:
                verdict = await off_loop(
                    big, self._pool, partial(self.guardrails.check_inputs, frame)
                )
            except GuardrailRejectedError:
                self.metrics.errors.labels(kind="guardrail").inc()
                raise
            frame, reason = verdict.frame, verdict.fallback
        if reason is None:
            try:
                out = await self._call(served, frame)
            except TimeoutError:
                reason = f"{served.ref} missed its {self.config.timeout_ms:g} ms deadline"
                self.metrics.errors.labels(kind="timeout").inc()
            except Exception as exc:  # the model's library failed on these rows
                reason = f"{served.ref} failed: {type(exc).__name__}"  # the text stays here
                _log.warning("%s failed, falling back: %s: %s", served.ref, type(exc).__name__, exc)
                failure = exc
                self.metrics.errors.labels(kind="model").inc()
        if reason is None and self.guardrails is not None:
            out, reason = self.guardrails.check_outputs(out)
        answered: Served | DeclaredFallback = served
        if reason is not None:
            answered, route, out = await self._fall_back(frame, reason, failure)
        latency = (time.perf_counter() - started) * 1000
        make = partial(self._result, answered, route=route, out=out, rows=len(frame))
        result = await off_loop(big, self._pool, partial(make, latency=latency, reason=reason))
        self.metrics.answered(route, result.version, len(frame), latency / 1000)
        loop = asyncio.get_running_loop()
        if self._log is not None and big:  # in a thread, never dropped: awaited by stop()
            job = loop.run_in_executor(self._pool, self._record, result, frame, key, True)
            self._shadow_tasks.add(job)
            job.add_done_callback(self._shadow_tasks.discard)
        elif self._log is not None:  # built after the answer is sent (~40 us), queued
            loop.call_soon(self._record, result, frame, key)
        if SHADOW in self.slots:
            task = asyncio.get_running_loop().create_task(self._shadow(frame, key))
            self._shadow_tasks.add(task)
            task.add_done_callback(self._shadow_tasks.discard)
        return result

    async def _fall_back(
        self, frame: pd.DataFrame, reason: str, failure: Exception | None
    ) -> tuple[Served | DeclaredFallback, str, BatchOutput]:
        slot = self.slots.get(FALLBACK)
        served: Served | DeclaredFallback
        if self._declared is not None:
            served = self._declared
        elif slot is not None:
            served = slot.current
        else:
            self._give_up(f"{reason}, and no fallback is configured", failure)
        loop = asyncio.get_running_loop()
        try:
            prepared = (
                frame if isinstance(served, DeclaredFallback) else served.model.prepare(frame)
            )
            out = await loop.run_in_executor(self._pool, served.run, prepared)
        except Exception as exc:
            failed = f"{reason}; the fallback {served.ref} failed too: {type(exc).__name__}: {exc}"
            self._give_up(failed, failure if isinstance(exc, _ROW_ERRORS) else exc)
        if reason.startswith("guardrail"):
            kind = "guardrail"
        elif "deadline" in reason:
            kind = "timeout"
        else:
            kind = "error"
        self.metrics.fallbacks.labels(reason=kind).inc()
        return served, FALLBACK, out

    def _give_up(self, message: str, failure: Exception | None) -> NoReturn:
        """No answer: the caller's fault (422) when the model refused the rows' values,
        else the server's (503: the HTTP app answers it without this detail)."""
        if failure is not None and f"{failure}" not in message:
            message = f"{message} ({type(failure).__name__}: {failure})"
        if isinstance(failure, _ROW_ERRORS):
            self.metrics.errors.labels(kind="rows").inc()
            raise RowsRejectedError(
                f"{message}. The model cannot score these rows: check their values (e.g. "
                "numbers far outside the range the model was trained on)."
            ) from failure
        self.metrics.errors.labels(kind="unavailable").inc()
        raise ModelUnavailableError(f"{message}.") from failure

    def _result(
        self,
        served: Served | DeclaredFallback,
        *,
        route: str,
        out: BatchOutput,
        rows: int,
        latency: float,
        reason: str | None,
    ) -> PredictionResult:
        classes = served.classes
        proba = None
        if out.proba is not None and classes:
            labels = [str(c) for c in classes]
            proba = [dict(zip(labels, map(float, row), strict=True)) for row in out.proba]
        return PredictionResult(
            ids=tuple(uuid.uuid4().hex for _ in range(rows)),
            predictions=_plain(out.predictions),
            proba=proba,
            model=served.name,
            version=served.version,
            route=route,
            latency_ms=latency,
            reason=reason,
        )

    async def _shadow(self, frame: pd.DataFrame, key: str | None) -> None:
        served = self.slots[SHADOW].current
        started = time.perf_counter()
        try:
            prepared = served.model.prepare(frame)
            out = await asyncio.get_running_loop().run_in_executor(self._pool, served.run, prepared)
        except Exception as exc:  # a failing shadow must never affect anything live
            self.metrics.errors.labels(kind="shadow").inc()
            _log.warning("Shadow %s failed: %s", served.ref, exc)
            return
        latency = (time.perf_counter() - started) * 1000
        result = self._result(
            served, route=SHADOW, out=out, rows=len(frame), latency=latency, reason=None
        )
        self.metrics.answered(SHADOW, result.version, len(frame), latency / 1000)
        if self._log is not None:
            self._record(result, frame, key)

    def _record(
        self, result: PredictionResult, frame: pd.DataFrame, key: str | None, wait: bool = False
    ) -> None:
        if self._log is None:
            return
        for start in range(0, len(result.ids), LOG_CHUNK):
            self._log.append_many(log_records(result, frame, key, start), wait=wait)
        stats = self._log.stats()
        self.metrics.log_dropped.set(stats.get("dropped", 0))
        self.metrics.log_pending.set(stats.get("pending", 0))

    # -- description -----------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """The served model for ``/v2/models/{name}``: name, versions, inputs, outputs."""
        champion = self.slots[CHAMPION].current.model
        datatypes = {"int64": "INT64", "double": "FP64", "float": "FP32", "bool": "BOOL"}
        return {
            "name": self.name,
            "versions": sorted({str(s.current.model.version.version) for s in self.slots.values()}),
            "platform": f"loopml-{champion.manifest.flavor}",
            "inputs": [
                {"name": c.name, "datatype": datatypes.get(c.dtype, "BYTES"), "shape": [-1]}
                for c in champion.signature.inputs
            ],
            "outputs": [
                {
                    "name": "predict",
                    "datatype": datatypes.get(champion.signature.output.dtype, "BYTES"),
                    "shape": [-1],
                }
            ],
            "routes": {role: slot.current.ref for role, slot in self.slots.items()},
            "runtimes": {role: slot.current.model.runtime for role, slot in self.slots.items()},
            **({"fallback": self._declared.ref} if self._declared is not None else {}),
        }


def fallback_ref(registry: ModelRegistry, config: ServeConfig) -> str | None:
    """The ref of a registered fallback: ``previous`` resolved through the champion alias's
    history (None when the alias never held another version), or the ref given; None for no
    fallback or a declared one."""
    if config.fallback is None or is_declared(config.fallback):
        return None
    if config.fallback != "previous":
        return str(config.fallback)
    ref = parse_model_ref(config.model)
    if ref.alias is None:
        return None
    moves = registry.alias_history(ref.name, ref.alias)
    _current, before = alias_log.rollback_target(moves)
    return None if before is None else f"{ref.name}@{before}"


def guardrails_for(
    registry: ModelRegistry, config: ServeConfig, champion: ModelVersion
) -> Guardrails | None:
    """The deployment's guardrails, with the champion's training profile (for ``ood``)."""
    if config.guardrails is None:
        return None
    profile = None
    if champion.training_data is not None:
        profile = registry.datasets.get(champion.training_data).profile
    classes = tuple(champion.signature.output.classes)
    return Guardrails(config.guardrails, profile=profile, classes=classes)


def check_deployment(registry: ModelRegistry, config: ServeConfig) -> list[tuple[str, str, str]]:
    """Check what ``config`` would serve from metadata alone, loading no model: every ref
    resolves, each runtime is available, a declared fallback builds, the guardrails parse.
    ``loopml serve`` runs it before starting workers, so that a mistake is one clear error
    instead of workers failing (and being restarted) one after another.

    Returns:
        ``(role, version ref or declaration, runtime)`` per route, champion first.

    Raises:
        LoopmlError: The first problem found (an unknown ref, a missing ONNX export, ...).
    """
    champion = registry.get(config.model)
    routes = [(CHAMPION, champion, config.runtime)]
    if config.canary is not None:
        routes.append((CANARY, registry.get(config.canary[0]), config.runtime))
    if config.shadow is not None:
        routes.append((SHADOW, registry.get(config.shadow), "native"))
    found: list[tuple[str, str, str]] = [
        (role, v.ref, resolve_runtime(v, runtime)) for role, v, runtime in routes
    ]
    if config.fallback is not None and is_declared(config.fallback):
        classes = tuple(champion.signature.output.classes)
        declared = declared_fallback(config.fallback, name=champion.name, classes=classes)
        found.append((FALLBACK, declared.ref, "-"))
    else:
        ref = fallback_ref(registry, config)
        if ref is not None:
            found.append((FALLBACK, registry.get(ref).ref, "native"))
    guardrails_for(registry, config, champion)
    return found


def _freeze_heap() -> None:
    """Collect garbage once, then exempt every surviving object from later collections."""
    gc.collect()
    gc.freeze()


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
